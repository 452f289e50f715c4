package enroll

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// step is one attempt at a transition: the working copy of the enrollment,
// the time, and the event to commit with its extra audit fields.
type step struct {
	e     *Enrollment
	now   time.Time
	event Event
	audit AuditEvent
}

// commit asks apply to store the working copy with event ev.
func (st *step) commit(ev Event) { st.event = ev }

// apply runs one step on enrollment id under optimistic concurrency:
//
//  1. read the enrollment; if it is past its expiry, expire it (committed)
//     and fail with a *TransitionError from StateExpired;
//  2. unless its state allows primary (or is one of also), fail with a
//     *TransitionError;
//  3. call fn on a copy; if fn committed an event, store the copy with the
//     transition and its audit event, retrying from 1 on a version conflict;
//  4. return the enrollment (as stored, or as read when nothing was
//     committed) and fn's error.
//
// fn may run several times: it must change nothing but st, and must not
// call the host (an Authenticator, an IdentityProvider, the profile
// Signer); a step that needs the host uses runOnce.
func (s *Service) apply(ctx context.Context, m Meta, id string, primary Event, fn func(*step) error, also ...State) (*Enrollment, error) {
	if err := checkInput("enrollment ID", id); err != nil {
		return nil, err
	}
	return s.applyRead(ctx, m, id, nil, primary, fn, also...)
}

// applyFrom is apply on enrollment read, which the caller has just read from
// the store: the first attempt works on it instead of reading it again, and
// only a version conflict makes apply read the enrollment afresh. read is
// not modified.
func (s *Service) applyFrom(ctx context.Context, m Meta, read *Enrollment, primary Event, fn func(*step) error, also ...State) (*Enrollment, error) {
	return s.applyRead(ctx, m, read.ID, read, primary, fn, also...)
}

// applyRead is apply's loop; read, if not nil, stands in for the first
// read of enrollment id.
func (s *Service) applyRead(ctx context.Context, m Meta, id string, read *Enrollment, primary Event, fn func(*step) error, also ...State) (*Enrollment, error) {
	for attempt := 0; ; attempt++ {
		if attempt >= maxRetries {
			return nil, fmt.Errorf("enroll: %s: giving up after %d version conflicts: %w", primary, attempt, ErrVersionConflict)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e := read
		read = nil // a retry reads the enrollment again
		if e == nil {
			var err error
			if e, err = s.store.Get(ctx, id); err != nil {
				return nil, err
			}
		}
		now := s.now()
		if expiredAt(e, now) {
			st := &step{e: e.Clone(), now: now}
			st.audit.Detail = "expired on access"
			err := s.store2(ctx, m, st, EventExpire)
			if errors.Is(err, ErrVersionConflict) {
				continue
			}
			if err != nil {
				return nil, err
			}
			return st.e, &TransitionError{From: st.e.State, Event: primary}
		}
		if _, err := Next(e.State, primary); err != nil && !slices.Contains(also, e.State) {
			return e, err
		}
		st := &step{e: e.Clone(), now: now}
		ferr := fn(st)
		if st.event == "" {
			return e, ferr
		}
		err := s.store2(ctx, m, st, st.event)
		if errors.Is(err, ErrVersionConflict) {
			s.log.DebugContext(ctx, "enroll: version conflict, retrying", "enrollment", id, "event", st.event)
			continue
		}
		if err != nil {
			return nil, err
		}
		return st.e, ferr
	}
}

// run is apply for a public step: an error is wrapped with op, the step's
// name, and comes without an enrollment.
func (s *Service) run(ctx context.Context, m Meta, op, id string, primary Event, fn func(*step) error, also ...State) (*Enrollment, error) {
	e, err := s.apply(ctx, m, id, primary, fn, also...)
	if err != nil {
		return nil, fmt.Errorf("enroll: %s: %w", op, err)
	}
	return e, nil
}

// runOnce is run for a step that needs the host: its host I/O runs once
// per call, outside the compare-and-swap loop, however often the state
// change is retried.
//
//  1. check runs on the enrollment as read (read, if not nil, or else
//     enrollment id from the store), after apply's expiry and transition
//     checks, and stores nothing: a request it refuses costs no host call;
//  2. host runs once on that enrollment, which it must not modify, and does
//     the host I/O, keeping its results in the caller's variables;
//  3. check and then fn run as apply's step, from the same read; a
//     version conflict reads the enrollment again and runs check and fn
//     again, never host. A change of the enrollment in the meantime that
//     invalidates host's results must make check or fn fail with a typed
//     error (the transition table already refuses an enrollment that was
//     revoked, expired or moved on).
//
// check may be nil; it may change st.e, which is discarded in 1.
func (s *Service) runOnce(ctx context.Context, m Meta, op, id string, read *Enrollment, primary Event,
	check func(*step) error, host func(*Enrollment) error, fn func(*step) error) (*Enrollment, error) {
	if read == nil {
		if err := checkInput("enrollment ID", id); err != nil {
			return nil, err
		}
	}
	vet := func(st *step) error {
		if check == nil {
			return nil
		}
		return check(st)
	}
	e, err := s.applyRead(ctx, m, id, read, primary, vet)
	if err == nil {
		err = host(e)
	}
	if err == nil {
		e, err = s.applyRead(ctx, m, id, e, primary, func(st *step) error {
			if err := vet(st); err != nil {
				return err
			}
			return fn(st)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("enroll: %s: %w", op, err)
	}
	return e, nil
}

// store2 applies transition ev to st.e and stores it with its audit event.
func (s *Service) store2(ctx context.Context, m Meta, st *step, ev Event) error {
	from := st.e.State
	to, err := Next(from, ev)
	if err != nil {
		return err
	}
	a := st.audit
	filled := s.auditEvent(m, st.e, defaultActor(ev, st.e), ev, from, to, st.now)
	filled.TermsVersion, filled.TermsDigest, filled.Detail = a.TermsVersion, a.TermsDigest, a.Detail
	expected := st.e.Version
	st.e.State = to
	st.e.UpdatedAt = st.now
	if !to.expirable() {
		st.e.ExpiresAt = time.Time{}
	}
	if err := s.store.Update(ctx, st.e, expected, filled); err != nil {
		return err
	}
	s.transitioned(ctx, filled)
	return nil
}

// transitioned tells Config.OnTransition about a stored transition.
func (s *Service) transitioned(ctx context.Context, ev AuditEvent) {
	if s.cfg.OnTransition != nil {
		s.cfg.OnTransition(ctx, ev)
	}
}

// expiredAt reports whether e is unfinished and past its expiry at now.
func expiredAt(e *Enrollment, now time.Time) bool {
	return e.State.expirable() && !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt)
}

// defaultActor names who causes ev when Meta.Actor is empty.
func defaultActor(ev Event, e *Enrollment) string {
	switch ev {
	case EventInvite, EventRevoke, EventBindCertificate, EventRedeemChallenge:
		return "host"
	case EventExpire:
		return "system"
	case EventCheckIn, EventTokenUpdate, EventCheckOut, EventFetchProfile:
		return "device"
	}
	return "user:" + e.UserID
}

// auditEvent fills an AuditEvent from the request's Meta.
func (s *Service) auditEvent(m Meta, e *Enrollment, actor string, ev Event, from, to State, now time.Time) AuditEvent {
	if m.Actor != "" {
		actor = m.Actor
	}
	return AuditEvent{
		EnrollmentID: e.ID,
		Time:         now,
		Event:        ev,
		From:         from,
		To:           to,
		Actor:        clip(actor),
		ClientIP:     clip(m.ClientIP),
		UserAgent:    clip(m.UserAgent),
	}
}

// clip bounds a request-supplied string kept in the audit trail.
func clip(s string) string {
	if len(s) > maxInputLen {
		return s[:maxInputLen]
	}
	return s
}
