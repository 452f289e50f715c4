package mdm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults of the zero fields of RepushConfig and Retention.
const (
	// DefaultRepushDelay is the wait between the first and the second
	// re-push of a command whose response was lost; it doubles with every
	// further re-push.
	DefaultRepushDelay = time.Minute
	// DefaultRepushMaxDelay caps the wait between re-pushes.
	DefaultRepushMaxDelay = time.Hour
	// DefaultResultRetention is how long a completed command and its result
	// are kept.
	DefaultResultRetention = 30 * 24 * time.Hour
	// DefaultCheckedOutRetention is how long the record of a checked-out
	// enrollment is kept.
	DefaultCheckedOutRetention = 90 * 24 * time.Hour
)

// SweepBatch is the most rows one store call of Service.Sweep expires,
// claims or deletes, so that no call holds a database's write lock for
// long; Sweep calls again until nothing is left.
const SweepBatch = 500

// RepushConfig says how often Service.Sweep pushes a device again whose
// response to a command was lost. A command handed out stays leased to that
// request for Config.Lease (one minute); when the lease ends without an
// answer, the next Sweep pushes the device, so that it asks again and gets
// the command once more. If the device still does not answer, it is pushed
// again Delay after that re-push, then after twice Delay, four times, and so
// on up to MaxDelay, for as long as the command is pending and has not
// expired (Command.ExpiresAt) — or until the push token is dead. The zero
// value is the documented defaults.
type RepushConfig struct {
	// Delay is the wait between the first and the second re-push. Zero:
	// DefaultRepushDelay.
	Delay time.Duration
	// MaxDelay caps the wait. Zero: DefaultRepushMaxDelay.
	MaxDelay time.Duration
}

// Wait returns the wait after the n-th re-push (n ≥ 1) of one command: the
// value Sweep passes to Store.ClaimLapsedLeases.
func (c RepushConfig) Wait(n int) time.Duration {
	d, maxD := c.Delay, c.MaxDelay
	if d <= 0 {
		d = DefaultRepushDelay
	}
	if maxD <= 0 {
		maxD = DefaultRepushMaxDelay
	}
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	return min(d, maxD)
}

// Retention says how long Service.Sweep keeps what the MDM Store
// accumulates. Pending commands are never deleted while their enrollment
// is not checked out, nor the records of enrollments that are not checked
// out, whatever their age. The zero value is the documented defaults; a
// negative duration keeps that kind of data for ever. (The enrollments'
// own data and audit trails are kept longer, by enroll.Retention.)
type Retention struct {
	// Results is how long a completed command (acknowledged, failed or
	// expired) is kept, with its result, after the result arrived. Zero:
	// DefaultResultRetention (30 days).
	Results time.Duration
	// CheckedOut is how long the record of a checked-out enrollment is
	// kept after the CheckOut, with its certificate binding and whatever
	// commands and results it still has. Zero: DefaultCheckedOutRetention
	// (90 days).
	CheckedOut time.Duration
}

// Cutoffs returns what r lets Prune delete at now.
func (r Retention) Cutoffs(now time.Time) Cutoffs {
	cut := func(d, def time.Duration) time.Time {
		switch {
		case d < 0:
			return time.Time{}
		case d == 0:
			d = def
		}
		return now.Add(-d)
	}
	return Cutoffs{Results: cut(r.Results, DefaultResultRetention), CheckedOut: cut(r.CheckedOut, DefaultCheckedOutRetention)}
}

// SweepResult counts what one Service.Sweep did.
type SweepResult struct {
	// Expired is how many commands expired.
	Expired int
	// Repushed is how many enrollments were pushed again because the
	// response to a command was lost (those without a live push token are
	// not counted).
	Repushed int
	// Pruned is how many items the Store's Prune deleted.
	Pruned int
}

// Sweep does the command queue's housekeeping. Nothing else does it: the
// host calls Sweep every 30 seconds or so (server.Server.Sweep and the
// example server do), on one replica or on several. In this order, it
//
//   - records the result StatusExpired for every pending command whose
//     Command.ExpiresAt passed (such a command is never delivered after
//     that time, swept or not);
//   - pushes, with the back-off of Config.Repush, every device holding a
//     command whose lease ended without an answer (its response was lost),
//     so that it asks again at once instead of at its next poll; without a
//     Pusher this step is skipped;
//   - deletes what Config.Retention no longer keeps.
//
// Every store call touches at most SweepBatch rows. A failing step does not
// stop the others; the errors are joined in the result.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var (
		out  SweepResult
		errs []error
	)
	now := s.opts.Now()
	n, err := batches(ctx, func() (int, error) { return s.store.ExpireCommands(ctx, now, SweepBatch) })
	out.Expired = n
	if err != nil {
		errs = append(errs, fmt.Errorf("expire commands: %w", err))
	}
	if s.opts.Pusher != nil {
		n, err := s.repush(ctx, now)
		out.Repushed = n
		if err != nil {
			errs = append(errs, err)
		}
	}
	n, err = batches(ctx, func() (int, error) { return s.store.Prune(ctx, s.opts.Retention.Cutoffs(now), SweepBatch) })
	out.Pruned = n
	if err != nil {
		errs = append(errs, fmt.Errorf("prune: %w", err))
	}
	if out != (SweepResult{}) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "mdm: sweep", slog.Int("expired", out.Expired),
			slog.Int("repushed", out.Repushed), slog.Int("pruned", out.Pruned))
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("mdm: sweep: %w", err)
	}
	return out, nil
}

// batches calls step until it returns fewer than SweepBatch, an error, or
// the context ends, and returns the sum of what it returned.
func batches(ctx context.Context, step func() (int, error)) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := step()
		total += n
		if err != nil || n < SweepBatch {
			return total, err
		}
	}
}

// repush claims the commands whose lease lapsed and pushes their
// enrollments, one Push per batch, and returns how many pushes it sent
// (whether or not the push service accepted each); enrollments without a
// live push token are claimed but not pushed.
func (s *Service) repush(ctx context.Context, now time.Time) (int, error) {
	total := 0
	var errs []error
	_, err := batches(ctx, func() (int, error) {
		ids, err := s.store.ClaimLapsedLeases(ctx, now, SweepBatch, s.opts.Repush.Wait)
		if err != nil {
			return 0, err
		}
		seen := make(map[EnrollmentID]bool, len(ids))
		uniq := ids[:0:0]
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				uniq = append(uniq, id)
			}
		}
		if len(uniq) > 0 {
			res, err := s.Push(ctx, uniq...)
			if err != nil {
				errs = append(errs, err)
			}
			total += len(res)
			s.log.LogAttrs(ctx, slog.LevelDebug, "mdm: re-pushed after lapsed leases", slog.Int("enrollments", len(uniq)), slog.Int("pushed", len(res)))
		}
		return len(ids), nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("claim lapsed leases: %w", err))
	}
	return total, errors.Join(errs...)
}
