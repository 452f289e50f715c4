package mdm

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Config configures a Service. Roots and Prechecker are required; the zero
// value of every other field has a documented default.
type Config struct {
	// Roots are the CA certificates device identity certificates must chain
	// to (the SCEP or ACME CA of the enrollment profiles). Required.
	Roots []*x509.Certificate
	// Intermediates are extra intermediate CA certificates used to build
	// chains, besides those a device includes in its Mdm-Signature.
	Intermediates []*x509.Certificate

	// CertHeader names a header a TLS-terminating proxy puts the client
	// certificate in. "Client-Cert" is read as RFC 9440 (:base64-DER:);
	// other names accept base64 DER or (URL-escaped) PEM. Empty: no header is
	// trusted. Only set it when the proxy strips the header from clients.
	CertHeader string

	// Pusher wakes devices after Enqueue. Nil: no pushes.
	Pusher Pusher
	// Prechecker vets every request before the Service stores anything for
	// it (see Prechecker for what a Prechecker itself may write): package
	// enroll's Service, which ties each device to its enrollment. Required:
	// NoPrechecker names the choice to check nothing beyond the certificate.
	Prechecker Prechecker
	// Responder answers SetBootstrapToken, GetBootstrapToken,
	// DeclarativeManagement and GetToken. Nil: they get 404. Responders
	// gives each message type its own; Tokens answers GetToken.
	Responder Responder
	// Observer is told what was stored. Nil: nobody. Use Observers for
	// several. An Observer that is a Prechecker too (package enroll's
	// Service: its Precheck records what its Observe relies on) must also be
	// Prechecker or one of its Prechecks.
	Observer Observer
	// OnRequest, if not nil, is called once for every device request after
	// the Service answered it, with what it carried and how it was
	// answered (see RequestReport), for metrics. It runs on the request's
	// goroutine, must not block, and must not keep the report. Nil: nobody
	// is told. Push outcomes are the Pusher's results: wrap the Pusher to
	// count them.
	OnRequest func(ctx context.Context, rep *RequestReport)
	// Logger receives diagnostics. Nil: discard.
	Logger *slog.Logger

	// MaxCheckinBytes bounds check-in bodies. Zero: DefaultMaxCheckinBytes.
	// A request without a Content-Type is read up to MaxCommandBytes and
	// refused with 413 if it turns out to be a larger check-in.
	//
	// The limits bound what a request costs. One without a certificate that
	// chains to Roots is refused before its body is read; one whose
	// Mdm-Signature does not verify costs at most about twice its size; an
	// authenticated one may cost the plist decoder up to plistcheck's
	// MaxCostPerByte (48) times its size more.
	MaxCheckinBytes int64
	// MaxCommandBytes bounds command result bodies. Zero:
	// DefaultMaxCommandBytes.
	MaxCommandBytes int64
	// MaxSignatureBytes bounds the decoded Mdm-Signature. Zero:
	// DefaultMaxSignatureBytes.
	MaxSignatureBytes int
	// Lease is how long a delivered command stays reserved for the request
	// it was handed to before it may be delivered again. Zero: one minute.
	//
	// The device's answer ends the lease at once, whatever its status, so
	// the next request of a session (or the Idle poll that starts the next
	// one) is never held by it. Only a command that was handed out and never
	// answered — its response was lost, or another request of the same
	// enrollment is still being served — waits for the lease, and then goes
	// to the next poll, which Sweep brings about with a push (see
	// RepushConfig). Meanwhile no command behind it is delivered either:
	// commands go out in order, each to one request at a time.
	Lease time.Duration
	// Repush paces the re-pushes Sweep sends when a lease ends without an
	// answer (see RepushConfig).
	Repush RepushConfig
	// Retention says how long Sweep keeps completed commands and the
	// records of checked-out enrollments (see Retention).
	Retention Retention
	// Now returns the current time. Nil: time.Now.
	Now func() time.Time
}

// Service serves the MDM check-in and command protocol for enrolled
// devices, and queues commands for them. It is an http.Handler that serves
// both the check-in URL and the server URL. A Service is safe for concurrent
// use.
type Service struct {
	store    Store
	opts     Config
	log      *slog.Logger
	verifier *verifier
}

// NewService returns a Service keeping its state in store. It fails when
// store is nil, Roots is empty, Prechecker is nil, or the Observer is a
// Prechecker that Prechecker does not include.
func NewService(store Store, opts Config) (*Service, error) {
	if store == nil {
		return nil, errors.New("mdm: NewService: nil Store")
	}
	if len(opts.Roots) == 0 {
		return nil, errors.New("mdm: NewService: Config.Roots is required")
	}
	if opts.Prechecker == nil {
		return nil, errors.New("mdm: NewService: Config.Prechecker is required (package enroll's Service; mdm.NoPrechecker to check nothing but the certificate)")
	}
	for _, o := range prechecking(opts.Observer) {
		if !includes(opts.Prechecker, o) {
			return nil, fmt.Errorf("mdm: NewService: Observer %T is a Prechecker too and must be in Config.Prechecker: without its Precheck it ignores every device", o)
		}
	}
	if same(opts.Prechecker, NoPrechecker) {
		opts.Prechecker = nil // the handler's "no check" path
	}
	if opts.MaxCheckinBytes <= 0 {
		opts.MaxCheckinBytes = DefaultMaxCheckinBytes
	}
	if opts.MaxCommandBytes <= 0 {
		opts.MaxCommandBytes = DefaultMaxCommandBytes
	}
	if opts.MaxSignatureBytes <= 0 {
		opts.MaxSignatureBytes = DefaultMaxSignatureBytes
	}
	if opts.Lease <= 0 {
		opts.Lease = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Service{store: store, opts: opts, log: log}
	s.verifier = newVerifier(opts.Roots, opts.Intermediates, opts.Now)
	return s, nil
}

// Enqueue checks cmd against the enrollment policy of every id, queues it
// for all of them (all or nothing) and pushes each one. Errors: ErrNotFound
// (wrapped) for an unknown or checked-out enrollment, a *PolicyError for a
// command CheckPolicy refuses for one of them (its enrollment type,
// platform, channel or OS release), ErrCommandExists, ErrMalformed for an
// incomplete command or one whose ExpiresAt has passed; with any of
// these nothing is queued. Once the command is queued, Enqueue returns what
// Push returns: per device failures are in the results (nil without a
// Pusher), and any error matches ErrPushFailed — the command stays queued
// and the devices fetch it at their next poll.
//
// The records of ids are read together (Store.Enrollments), once: the
// push uses the records the policy was checked against.
func (s *Service) Enqueue(ctx context.Context, cmd *Command, ids ...EnrollmentID) ([]PushResult, error) {
	if cmd == nil || cmd.UUID == "" || cmd.RequestType == "" || len(cmd.Raw) == 0 {
		return nil, fmt.Errorf("mdm: enqueue: %w: incomplete command", ErrMalformed)
	}
	if !cmd.ExpiresAt.IsZero() && !cmd.ExpiresAt.After(s.opts.Now()) {
		return nil, fmt.Errorf("mdm: enqueue %s: %w: ExpiresAt %s has passed", cmd.RequestType, ErrMalformed, cmd.ExpiresAt.Format(time.RFC3339))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	recs, err := s.store.Enrollments(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("mdm: enqueue %s: %w", cmd.RequestType, err)
	}
	for _, id := range ids {
		rec, ok := recs[id]
		if !ok {
			return nil, fmt.Errorf("mdm: enqueue %s to %s: %w", cmd.RequestType, id, ErrNotFound)
		}
		if rec.CheckedOut {
			return nil, fmt.Errorf("mdm: enqueue %s to %s: %w (checked out)", cmd.RequestType, id, ErrNotFound)
		}
		if err := CheckPolicy(rec, cmd.RequestType); err != nil {
			return nil, err
		}
	}
	if cmd.EnqueuedAt.IsZero() {
		c := *cmd
		c.EnqueuedAt = s.opts.Now()
		cmd = &c
	}
	if err := s.store.Enqueue(ctx, cmd, ids); err != nil {
		return nil, fmt.Errorf("mdm: enqueue %s: %w", cmd.RequestType, err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "mdm: command queued",
		slog.String("command_uuid", cmd.UUID), slog.String("request_type", cmd.RequestType), slog.Int("enrollments", len(ids)))
	res, err := s.push(ctx, ids, recs)
	if err != nil && !errors.Is(err, ErrPushFailed) {
		err = fmt.Errorf("%w: %w", ErrPushFailed, err) // queued all the same
	}
	return res, err
}

// Push wakes the enrollments ids using the token from their latest
// TokenUpdate, and makes commands they answered NotNow deliverable again.
// Enrollments without a live token are skipped (no result). A result whose
// error matches ErrPushTokenDead marks that token dead, also when the Pusher
// fails as a whole; that failure is returned afterwards, wrapped with
// ErrPushFailed, together with the results. Without a Pusher, Push returns
// nil, nil.
func (s *Service) Push(ctx context.Context, ids ...EnrollmentID) ([]PushResult, error) {
	return s.push(ctx, ids, nil)
}

// push is Push with the records of ids already read (nil: read them
// here); Enqueue pushes with the records it checked, so that a command for
// many enrollments reads each record once.
func (s *Service) push(ctx context.Context, ids []EnrollmentID, recs map[EnrollmentID]*EnrollmentRecord) ([]PushResult, error) {
	if err := s.store.ResetNotNow(ctx, ids); err != nil {
		return nil, fmt.Errorf("mdm: push: %w", err)
	}
	if s.opts.Pusher == nil {
		return nil, nil
	}
	if recs == nil {
		var err error
		if recs, err = s.store.Enrollments(ctx, ids); err != nil {
			return nil, fmt.Errorf("mdm: push: %w", err)
		}
	}
	targets := make([]PushTarget, 0, len(ids))
	tokens := make(map[string][]byte, len(ids))
	for _, id := range ids {
		rec, ok := recs[id]
		if !ok {
			continue
		}
		if rec.CheckedOut || rec.TokenDead || len(rec.Token) == 0 || rec.PushMagic == "" {
			continue
		}
		targets = append(targets, PushTarget{EnrollmentID: string(id), Token: rec.Token, PushMagic: rec.PushMagic, Topic: rec.Topic})
		tokens[string(id)] = rec.Token
	}
	if len(targets) == 0 {
		return nil, nil
	}
	results, pushErr := s.opts.Pusher.Push(ctx, targets)
	// A Pusher returns a result per target even when the call fails as a
	// whole, so what it learned about dead tokens is kept either way.
	// Failures are logged by the Pusher, which knows their class; logging
	// them here again would only repeat it.
	err := s.markDead(ctx, results, tokens)
	if pushErr != nil {
		err = errors.Join(fmt.Errorf("%w: %w", ErrPushFailed, pushErr), err)
	}
	return results, err
}

// markDead records the tokens that results report dead. tokens maps each
// pushed enrollment to the token it was pushed with, so that a TokenUpdate
// that arrived meanwhile is not marked. It goes on after a failure and
// returns every failure joined. The caller's cancellation does not stop it:
// the push already happened, and its verdict is worth keeping.
func (s *Service) markDead(ctx context.Context, results []PushResult, tokens map[string][]byte) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, r := range results {
		if r.Err == nil || !errors.Is(r.Err, ErrPushTokenDead) {
			continue
		}
		tok, ok := tokens[r.EnrollmentID]
		if !ok {
			continue
		}
		if err := s.store.MarkTokenDead(ctx, EnrollmentID(r.EnrollmentID), tok); err != nil {
			errs = append(errs, fmt.Errorf("mdm: push: mark token of %s dead: %w", r.EnrollmentID, err))
		}
	}
	return errors.Join(errs...)
}

// Result returns the latest result enrollment id reported for command uuid,
// or ErrNotFound.
func (s *Service) Result(ctx context.Context, id EnrollmentID, uuid string) (*CommandResult, error) {
	return s.store.Result(ctx, id, uuid)
}

// Enrollment returns the stored record of id, or ErrNotFound.
func (s *Service) Enrollment(ctx context.Context, id EnrollmentID) (*EnrollmentRecord, error) {
	return s.store.Enrollment(ctx, id)
}

// Enrollments returns the stored records of ids by ID, read together; an
// ID without a record is absent.
func (s *Service) Enrollments(ctx context.Context, ids []EnrollmentID) (map[EnrollmentID]*EnrollmentRecord, error) {
	return s.store.Enrollments(ctx, ids)
}

// Unenroll asks the device on channel id to end its enrollment: it queues
// RemoveProfile for the enrollment profile profileIdentifier (a device
// removing its enrollment profile unenrolls and, with CheckOutWhenRemoved,
// sends CheckOut) and pushes the device. A failed push is not an error: the
// command waits for the device's next poll. It implements package enroll's
// Unenroller.
func (s *Service) Unenroll(ctx context.Context, id EnrollmentID, profileIdentifier string) error {
	if profileIdentifier == "" {
		return fmt.Errorf("mdm: unenroll %s: %w: empty profile identifier", id, ErrMalformed)
	}
	cmd, err := NewCommand(NewCommandUUID(), map[string]any{"RequestType": "RemoveProfile", "Identifier": profileIdentifier})
	if err != nil {
		return err
	}
	if _, err := s.Enqueue(ctx, cmd, id); err != nil && !errors.Is(err, ErrPushFailed) {
		return fmt.Errorf("mdm: unenroll: %w", err)
	}
	return nil
}

// QueueStats reports how many commands wait for devices and since when the
// oldest waits (see QueueStats), for a host's monitoring.
func (s *Service) QueueStats(ctx context.Context) (QueueStats, error) {
	st, err := s.store.QueueStats(ctx)
	if err != nil {
		return QueueStats{}, fmt.Errorf("mdm: queue stats: %w", err)
	}
	return st, nil
}
