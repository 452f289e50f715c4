package enroll

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/enrollkit/enrollkit/mdm"
)

// The Service is package mdm's Prechecker and Observer: pass it as both in
// mdm.Options to tie check-ins to enrollments.
var (
	_ mdm.Prechecker = (*Service)(nil)
	_ mdm.Observer   = (*Service)(nil)
)

// Precheck implements mdm.Prechecker. It accepts a device request only from
// the device an enrollment's profile or access token was issued to:
//
//   - Authenticate must present the identity certificate recorded for the
//     enrollment (RecordCertificate) or, for account-driven enrollment, the
//     enrollment's access token as a bearer token (and, if a certificate was
//     recorded, that certificate too). It moves the enrollment from
//     ProfileIssued or TokenIssued to CheckedIn and records the device's
//     EnrollmentID (or UDID); a repeated Authenticate from the same device is
//     accepted, one from another device refused.
//   - Every later request must come from the recorded device, in state
//     CheckedIn or Enrolled, and for account-driven enrollment carry its
//     access token.
//
// Devices that were not enrolled through this Service are refused. A
// certificate issued for another enrollment, a revoked, expired or unknown
// enrollment, or another device gives a 403 *mdm.RejectError; a missing or
// wrong bearer token a 401. Every error matches ErrDeviceMismatch or a
// *TransitionError as well.
func (s *Service) Precheck(ctx context.Context, r *mdm.Request) error {
	m := s.deviceMeta(r.HTTP)
	device := deviceKey(r.Enrollment)
	bearer, hasBearer := deviceBearer(r.HTTP)
	fp := hex.EncodeToString(r.Fingerprint[:])

	if _, ok := r.Message.(*mdm.Authenticate); ok {
		return s.precheckAuthenticate(ctx, m, device, fp, bearer, hasBearer)
	}

	e, err := s.store.Find(ctx, IndexDevice, device)
	if errors.Is(err, ErrNotFound) {
		return forbidden(fmt.Errorf("enroll: no enrollment for device %q: %w", device, ErrDeviceMismatch))
	}
	if err != nil {
		return err
	}
	if e.Flow == FlowAccountDriven && (!hasBearer || !sameHash(e.AccessTokenHash, hashToken(bearer))) {
		return unauthorized(fmt.Errorf("enroll: missing or wrong access token: %w", ErrDeviceMismatch))
	}
	switch e.State {
	case StateCheckedIn, StateEnrolled:
		return nil
	}
	return forbidden(&TransitionError{From: e.State, Event: deviceEvent(r)})
}

func (s *Service) precheckAuthenticate(ctx context.Context, m Meta, device, fp, bearer string, hasBearer bool) error {
	byCert, err := s.store.Find(ctx, IndexCertificate, fp)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	var byToken *Enrollment
	if hasBearer {
		byToken, err = s.findByToken(ctx, IndexAccessToken, bearer)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if byToken == nil {
			return unauthorized(fmt.Errorf("enroll: unknown access token: %w", ErrDeviceMismatch))
		}
	}
	e := byCert
	switch {
	case byCert != nil && byToken != nil && byCert.ID != byToken.ID:
		return forbidden(fmt.Errorf("enroll: certificate and access token belong to different enrollments: %w", ErrDeviceMismatch))
	case e == nil:
		e = byToken
	}
	if e == nil {
		return forbidden(fmt.Errorf("enroll: certificate was not issued for any enrollment: %w", ErrDeviceMismatch))
	}
	_, err = s.applyFrom(ctx, m, e, EventCheckIn, func(st *step) error {
		x := st.e
		if x.Flow == FlowAccountDriven && (!hasBearer || !sameHash(x.AccessTokenHash, hashToken(bearer))) {
			return unauthorized(fmt.Errorf("enroll: account-driven Authenticate without its access token: %w", ErrDeviceMismatch))
		}
		if x.CertificateHash != "" && !sameHash(x.CertificateHash, fp) {
			return forbidden(fmt.Errorf("enroll: certificate was issued for another enrollment: %w", ErrDeviceMismatch))
		}
		if x.DeviceID != "" && x.DeviceID != device {
			return forbidden(fmt.Errorf("enroll: enrollment already checked in from another device: %w", ErrDeviceMismatch))
		}
		if x.State == StateCheckedIn {
			return nil // the device repeats Authenticate: accept, record nothing new
		}
		x.DeviceID = device
		st.commit(EventCheckIn)
		return nil
	})
	var te *TransitionError
	if errors.As(err, &te) {
		return forbidden(err)
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "enroll: device checked in", "enrollment", e.ID)
	return nil
}

// Observe implements mdm.Observer: after mdm stored a TokenUpdate it moves a
// checked-in enrollment to Enrolled, after a CheckOut to Removed. Repeated
// events change nothing, as the Observer contract requires.
func (s *Service) Observe(ctx context.Context, ev *mdm.Event) error {
	var want Event
	var from []State
	switch ev.Kind {
	case mdm.EventTokenUpdate:
		want, from = EventTokenUpdate, []State{StateCheckedIn}
	case mdm.EventCheckOut:
		want, from = EventCheckOut, []State{StateCheckedIn, StateEnrolled}
	default:
		return nil
	}
	device := deviceKey(ev.Enrollment)
	e, err := s.store.Find(ctx, IndexDevice, device)
	if errors.Is(err, ErrNotFound) {
		return nil // not one of ours; Precheck refused anything it should have
	}
	if err != nil {
		return fmt.Errorf("enroll: observe %s: %w", ev.Kind, err)
	}
	_, err = s.applyFrom(ctx, s.deviceMeta(ev.Request), e, want, func(st *step) error {
		for _, f := range from {
			if st.e.State == f {
				st.commit(want)
			}
		}
		return nil
	}, StateRemoved)
	var te *TransitionError
	if errors.As(err, &te) {
		// Revoked or expired meanwhile: nothing to record, and failing would
		// only make the device retry.
		s.log.WarnContext(ctx, "enroll: device event for a finished enrollment", "enrollment", e.ID, "event", want, "state", te.From)
		return nil
	}
	if err != nil {
		return fmt.Errorf("enroll: observe %s: %w", ev.Kind, err)
	}
	return nil
}

// deviceKey is the identifier Enrollment.DeviceID records: the device
// channel's EnrollmentID or UDID (a user channel rides on its device's).
func deviceKey(e mdm.Enrollment) string {
	if e.ParentID != "" {
		return string(e.ParentID)
	}
	return string(e.ID)
}

// deviceEvent names the enrollment event a device request stands for, for
// errors.
func deviceEvent(r *mdm.Request) Event {
	switch r.Message.(type) {
	case *mdm.TokenUpdate:
		return EventTokenUpdate
	case *mdm.CheckOut:
		return EventCheckOut
	}
	return EventCheckIn
}

// deviceBearer returns the token of an "Authorization: Bearer …" header.
func deviceBearer(r *http.Request) (string, bool) {
	if r == nil {
		return "", false
	}
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// deviceMeta describes a device request for the audit trail.
func (s *Service) deviceMeta(r *http.Request) Meta {
	m := Meta{Actor: "device"}
	if r == nil {
		return m
	}
	m.UserAgent = r.UserAgent()
	if s.cfg.ClientIP != nil {
		m.ClientIP = s.cfg.ClientIP(r)
		return m
	}
	m.ClientIP = r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		m.ClientIP = host
	}
	return m
}

func forbidden(err error) error {
	return &mdm.RejectError{Status: http.StatusForbidden, Err: err}
}

func unauthorized(err error) error {
	return &mdm.RejectError{Status: http.StatusUnauthorized, Err: err}
}
