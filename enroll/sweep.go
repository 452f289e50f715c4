package enroll

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// expiringStates are the states Sweep looks at.
var expiringStates = func() []State {
	var out []State
	for _, s := range States() {
		if s.expirable() {
			out = append(out, s)
		}
	}
	return out
}()

// DefaultAuditRetention is how long a finished enrollment and its audit
// trail are kept after it finished: longer than anything package mdm keeps
// about the device (see mdm.Retention).
const DefaultAuditRetention = 365 * 24 * time.Hour

// PruneBatch is the most enrollments one Store.Prune call of Sweep deletes,
// so that no call holds a database's write lock for long; Sweep calls again
// until none is left.
const PruneBatch = 500

// Retention says how long Sweep keeps what the Store accumulates. Live
// enrollments (any state but Removed, Expired, Revoked and Locked) are never
// deleted, whatever their age. The zero value is the documented defaults.
type Retention struct {
	// Audit is how long a finished enrollment (Removed, Expired, Revoked,
	// Locked) is kept, with its audit trail, after its last change. Zero:
	// DefaultAuditRetention (one year). Negative: for ever.
	Audit time.Duration
}

// before returns the cutoff of r at now, or the zero time for none.
func (r Retention) before(now time.Time) time.Time {
	switch {
	case r.Audit < 0:
		return time.Time{}
	case r.Audit == 0:
		return now.Add(-DefaultAuditRetention)
	}
	return now.Add(-r.Audit)
}

// Sweep expires every unfinished enrollment past its expiry and returns how
// many it expired. Enrollments also expire lazily when a step touches them;
// Sweep lets the host clean up those nobody touches (call it every few
// minutes; server.Server.Sweep and the example server do); it also forgets
// sign-in failures older than the throttle's window, and deletes finished
// enrollments with their audit trails once Config.Retention no longer keeps
// them, PruneBatch at a time. It is safe to run on several replicas at
// once: each enrollment is expired once. An enrollment that cannot be
// expired does not stop the sweep; the errors are joined in the result.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.now()
	list, err := s.store.List(ctx, ListOptions{States: expiringStates, ExpiresBefore: now})
	if err != nil {
		return 0, fmt.Errorf("enroll: sweep: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range list {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		ok, err := s.expire(ctx, e.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			n++
		}
	}
	if n > 0 {
		s.log.InfoContext(ctx, "enroll: sweep expired enrollments", "count", n)
	}
	if err := s.throttle.prune(ctx); err != nil {
		errs = append(errs, err)
	}
	if before := s.cfg.Retention.before(now); !before.IsZero() {
		pruned := 0
		for ctx.Err() == nil {
			m, err := s.store.Prune(ctx, before, PruneBatch)
			pruned += m
			if err != nil {
				errs = append(errs, fmt.Errorf("prune: %w", err))
			}
			if err != nil || m < PruneBatch {
				break
			}
		}
		if pruned > 0 {
			s.log.InfoContext(ctx, "enroll: sweep deleted finished enrollments", "count", pruned)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("enroll: sweep: %w", err)
	}
	return n, nil
}

// expire marks enrollment id expired if it is unfinished and past its
// expiry, and reports whether this call did so.
func (s *Service) expire(ctx context.Context, id string) (bool, error) {
	for attempt := 0; attempt < maxRetries; attempt++ {
		e, err := s.store.Get(ctx, id)
		if err != nil {
			return false, err
		}
		now := s.now()
		if !expiredAt(e, now) {
			return false, nil
		}
		st := &step{e: e, now: now}
		st.audit.Detail = "expired by sweep"
		err = s.store2(ctx, Meta{}, st, EventExpire)
		if errors.Is(err, ErrVersionConflict) {
			continue
		}
		return err == nil, err
	}
	return false, fmt.Errorf("enroll: expire %s: %w", id, ErrVersionConflict)
}
