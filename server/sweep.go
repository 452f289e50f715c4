package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"
)

// DefaultSweepInterval is how often RunSweeps sweeps when given no
// interval: often enough that a device whose response was lost is pushed
// again within half a minute of its command's one-minute lease.
const DefaultSweepInterval = 30 * time.Second

// Sweep runs one round of the housekeeping nothing else does, on both
// Services: enroll's Sweep (expires unfinished enrollments, forgets old
// sign-in failures, deletes finished enrollments and their audit trails
// after enroll.Retention) and mdm's Sweep (expires commands past their
// ExpiresAt, pushes devices whose response to a command was lost, deletes
// results and checked-out records after mdm.Retention). Both run even when
// one fails; the errors are joined. Replicas sharing the stores may all
// sweep.
func (s *Server) Sweep(ctx context.Context) error {
	_, eerr := s.Enroll.Sweep(ctx)
	_, merr := s.MDM.Sweep(ctx)
	return errors.Join(eerr, merr)
}

// RunSweeps calls Sweep at once and then every interval (zero:
// DefaultSweepInterval) until ctx ends, and returns ctx's error. A failed
// round is logged to log (nil: discarded) at WARN and the next one runs as
// planned. The composition does not start it on its own: a host runs it
// beside the HTTP server, for example
//
//	go srv.RunSweeps(ctx, 0, logger)
func (s *Server) RunSweeps(ctx context.Context, interval time.Duration, log *slog.Logger) error {
	if interval <= 0 {
		interval = DefaultSweepInterval
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "server: sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
