package enroll

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/enrollkit/enrollkit/mdm"
)

// The Service is package mdm's Prechecker and Observer: pass it as both in
// mdm.Config to tie check-ins to enrollments.
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
//     accepted, one from another device refused. A device id that belongs
//     to another live enrollment is never taken over: such an Authenticate
//     is refused, and so is one that would move a live mdm record (a
//     Rebind) to an enrollment that does not already own the device.
//   - Every later request is tied to the enrollment its credentials belong
//     to (the bearer token if one is sent, else the certificate), must name
//     the device recorded there, in state CheckedIn or Enrolled, and for
//     account-driven enrollment carry its access token.
//   - A Mac's device channel sends no bearer token (its user channel does):
//     for an account-driven enrollment, a request over the device channel
//     of a Mac (Authenticate's ProductName, or the ProductName mdm stored
//     at Authenticate) is accepted without the token when it presents the
//     identity certificate recorded for the enrollment (RecordCertificate,
//     which the SCEP endpoint calls), and refused when none is recorded.
//     A user channel's CheckOut ends only that channel, not the enrollment.
//   - Every request must name its device in the form of the enrollment the
//     Service issued: an EnrollmentID for a User Enrollment, a UDID for a
//     device enrollment (a corporate device under CorporateDeviceEnrollment
//     in the profile-based flow).
//
// Devices that were not enrolled through this Service are refused. A
// certificate issued for another enrollment, a revoked, expired or unknown
// enrollment, another device or the wrong identity form gives a 403
// *mdm.RejectError; a missing or wrong bearer token a 401. Every error
// matches ErrDeviceMismatch or a *TransitionError as well. Nothing is stored
// for a refused request.
//
// Precheck writes in one case, as mdm.Prechecker allows: an Authenticate it
// approves is recorded (the move to CheckedIn, with the device id) before
// package mdm stores its record. The Store's one-live-enrollment-per-device
// guarantee settles two enrollments racing for one device id there, so the
// loser is refused before mdm writes anything for it. If mdm then fails to
// store the record, the enrollment stays CheckedIn with the device id, and
// the device's repeated Authenticate is accepted. In mdm.Prechecks the
// Service goes last, after the host's own checks.
func (s *Service) Precheck(ctx context.Context, r *mdm.Request) error {
	c := deviceCredentials(r.HTTP, r.Enrollment, r.Fingerprint, macDeviceChannel(r.Enrollment, r.Message, r.Device))
	if _, ok := r.Message.(*mdm.Authenticate); ok {
		return s.precheckAuthenticate(ctx, s.deviceMeta(r.HTTP), r, c)
	}
	e, err := s.deviceEnrollment(ctx, c)
	if err != nil {
		return err
	}
	if err := checkForm(e, r.Enrollment); err != nil {
		return err
	}
	switch e.State {
	case StateCheckedIn, StateEnrolled:
		return nil
	case StateUnenrolling:
		if !expiredAt(e, s.now()) {
			return nil // the device may still fetch its RemoveProfile and check out
		}
	}
	// When the device's own credentials name an enrollment that has
	// ended, it is told so, and it unenrolls (iOS 17, macOS 14 and later).
	return &mdm.RejectError{Status: http.StatusForbidden, Err: &TransitionError{From: e.State, Event: deviceEvent(r)},
		Unenroll: e.State.Terminal() || e.State == StateUnenrolling}
}

// credentials is what a device request presents: the device id it claims,
// its certificate's fingerprint (hex) and its bearer token, if any, and
// whether it comes over a Mac's device channel, which sends no bearer token.
type credentials struct {
	device, fp, bearer string
	hasBearer          bool
	macDevice          bool
}

// deviceCredentials returns what request r, from the device that names
// itself e and presents the certificate with fingerprint fp, carries.
func deviceCredentials(r *http.Request, e mdm.Channel, fp mdm.Fingerprint, macDevice bool) credentials {
	bearer, ok := bearerToken(r)
	return credentials{device: deviceKey(e), fp: fp.String(), bearer: bearer, hasBearer: ok, macDevice: macDevice}
}

// withoutBearer reports whether an account-driven enrollment e may be
// reached without its bearer token: only over a Mac's device channel (the
// macOS device channel never sends it; its user channel does) and only with
// the identity certificate recorded for e, which then alone ties the
// request to e.
func (c credentials) withoutBearer(e *Enrollment) bool {
	return !c.hasBearer && c.macDevice && e.CertificateHash != "" && sameHash(e.CertificateHash, c.fp)
}

// macDeviceChannel reports whether a request over channel ch comes from a
// Mac's device channel: its Authenticate or, after Authenticate, the device
// record mdm stored names a Mac (mdm.PlatformOf).
func macDeviceChannel(ch mdm.Channel, msg mdm.Message, device *mdm.EnrollmentRecord) bool {
	if ch.Type.IsUserChannel() {
		return false
	}
	if a, ok := msg.(*mdm.Authenticate); ok {
		return mdm.PlatformOf(a.ProductName, a.Model, a.ModelName) == mdm.PlatformMacOS
	}
	if device == nil {
		return false
	}
	if device.Platform != mdm.PlatformUnknown {
		return device.Platform == mdm.PlatformMacOS
	}
	return mdm.PlatformOf(device.ProductName, device.Model, device.ModelName) == mdm.PlatformMacOS
}

// deviceEnrollment returns the enrollment a request after Authenticate
// belongs to: the one its bearer token (if it sends one) or else its
// certificate was issued for, which must have recorded the device the
// request names. Looking the enrollment up by what the device proves, not
// by the device id it claims, means a device id can never resolve to an
// enrollment other than the one whose credentials are presented, however
// many enrollments (finished ones included) carry that id. Errors are
// *mdm.RejectErrors matching ErrDeviceMismatch.
func (s *Service) deviceEnrollment(ctx context.Context, c credentials) (*Enrollment, error) {
	var e *Enrollment
	var err error
	if c.hasBearer {
		e, err = s.findByToken(ctx, IndexAccessToken, c.bearer)
	} else {
		e, err = s.store.Find(ctx, IndexCertificate, c.fp)
	}
	switch {
	case errors.Is(err, ErrNotFound) && c.hasBearer:
		return nil, unauthorized(fmt.Errorf("enroll: unknown access token: %w", ErrDeviceMismatch))
	case errors.Is(err, ErrNotFound):
		// Without a token the device may be an account-driven one whose
		// certificate was not recorded: ask it for its token. The device
		// id only chooses the answer here, never the enrollment.
		if d, err := s.store.Find(ctx, IndexDevice, c.device); err == nil && d.Flow == FlowAccountDriven {
			return nil, unauthorized(fmt.Errorf("enroll: missing access token: %w", ErrDeviceMismatch))
		}
		return nil, forbidden(fmt.Errorf("enroll: no enrollment for device %q: %w", c.device, ErrDeviceMismatch))
	case err != nil:
		return nil, err
	case e.Flow == FlowAccountDriven && !c.hasBearer && !c.withoutBearer(e):
		return nil, unauthorized(fmt.Errorf("enroll: missing access token: %w", ErrDeviceMismatch))
	case e.CertificateHash != "" && !sameHash(e.CertificateHash, c.fp):
		return nil, forbidden(fmt.Errorf("enroll: certificate and access token belong to different enrollments: %w", ErrDeviceMismatch))
	case e.DeviceID != c.device:
		return nil, forbidden(fmt.Errorf("enroll: device %q is not the device of the enrollment its credentials were issued for: %w", c.device, ErrDeviceMismatch))
	}
	return e, nil
}

// checkForm refuses a request whose identity form does not match the
// enrollment the Service issued: the server, not the device, decides
// whether an enrollment is a User Enrollment (keyed by EnrollmentID, under
// the User Enrollment command policy) or a device enrollment (keyed by
// UDID).
func checkForm(e *Enrollment, id mdm.Channel) error {
	if ue := e.userEnrollment(); ue != id.Type.IsUserEnrollment() {
		want := "an EnrollmentID (User Enrollment)"
		if !ue {
			want = "a UDID (device enrollment)"
		}
		return forbidden(fmt.Errorf("enroll: %s check-in for an enrollment issued for %s: %w", id.Type, want, ErrDeviceMismatch))
	}
	return nil
}

// userEnrollment reports whether e's device was given a User Enrollment
// (profile or account-driven) rather than a device-enrollment profile, as
// buildProfile decides.
func (e *Enrollment) userEnrollment() bool {
	return e.Ownership != OwnershipCorporate || e.Flow != FlowProfile
}

func (s *Service) precheckAuthenticate(ctx context.Context, m Meta, r *mdm.Request, c credentials) error {
	byCert, err := s.store.Find(ctx, IndexCertificate, c.fp)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	var byToken *Enrollment
	if c.hasBearer {
		byToken, err = s.findByToken(ctx, IndexAccessToken, c.bearer)
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
	if err := checkForm(e, r.Enrollment); err != nil {
		return err
	}
	if err := s.checkClaim(ctx, e, r, c.device); err != nil {
		return err
	}
	_, err = s.applyFrom(ctx, m, e, EventCheckIn, func(st *step) error {
		x := st.e
		if x.Flow == FlowAccountDriven && !c.withoutBearer(x) && (!c.hasBearer || !sameHash(x.AccessTokenHash, hashToken(c.bearer))) {
			return unauthorized(fmt.Errorf("enroll: account-driven Authenticate without its access token: %w", ErrDeviceMismatch))
		}
		if x.CertificateHash != "" && !sameHash(x.CertificateHash, c.fp) {
			return forbidden(fmt.Errorf("enroll: certificate was issued for another enrollment: %w", ErrDeviceMismatch))
		}
		if x.DeviceID != "" && x.DeviceID != c.device {
			return forbidden(fmt.Errorf("enroll: enrollment already checked in from another device: %w", ErrDeviceMismatch))
		}
		if x.State == StateCheckedIn {
			return nil // the device repeats Authenticate: accept, record nothing new
		}
		x.DeviceID = c.device
		st.commit(EventCheckIn)
		return nil
	})
	var te *TransitionError
	switch {
	case errors.As(err, &te):
		return forbidden(err)
	case errors.Is(err, ErrDeviceInUse):
		// Another enrollment claimed the device since checkClaim looked
		// (the Store's guarantee settles the race).
		return forbidden(fmt.Errorf("enroll: device %q: %w: %w", c.device, err, ErrDeviceMismatch))
	case err != nil:
		return err
	}
	s.log.InfoContext(ctx, "enroll: device checked in", "enrollment", e.ID)
	return nil
}

// checkClaim refuses an Authenticate by enrollment e for a device id e has
// not recorded when the id belongs to another live enrollment, or when
// mdm's record for it is live and bound to another certificate
// (r.Rebind): a certificate or token issued for one enrollment never takes
// over the channel of another. A re-Authenticate of e's own device may
// rebind. The Store refuses a second live enrollment for a device id as
// well, so two enrollments racing for one id cannot both pass.
func (s *Service) checkClaim(ctx context.Context, e *Enrollment, r *mdm.Request, device string) error {
	if e.DeviceID == device {
		return nil
	}
	if r.Rebind {
		return forbidden(fmt.Errorf("enroll: Authenticate would take over the live record of device %q: %w", device, ErrDeviceMismatch))
	}
	holder, err := s.store.Find(ctx, IndexDevice, device)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case holder.ID != e.ID && !holder.State.Terminal():
		return forbidden(fmt.Errorf("enroll: device %q: %w: %w", device, ErrDeviceInUse, ErrDeviceMismatch))
	}
	return nil
}

// Observe implements mdm.Observer: after mdm stored a TokenUpdate it moves a
// checked-in enrollment to Enrolled, after a CheckOut to Removed. The
// enrollment is the one the request's credentials belong to, as in
// Precheck. Repeated events change nothing, as the Observer contract
// requires.
func (s *Service) Observe(ctx context.Context, ev *mdm.Event) error {
	var want Event
	var from []State
	switch ev.Kind {
	case mdm.EventTokenUpdate:
		want, from = EventTokenUpdate, []State{StateCheckedIn}
	case mdm.EventCheckOut:
		want, from = EventCheckOut, []State{StateCheckedIn, StateEnrolled, StateUnenrolling}
	default:
		return nil
	}
	if ev.Kind == mdm.EventCheckOut && ev.Enrollment.Type.IsUserChannel() {
		// A Mac's user channel checking out ends that user's channel, not
		// the device's enrollment: the device channel's CheckOut does.
		return nil
	}
	e, err := s.deviceEnrollment(ctx, deviceCredentials(ev.Request, ev.Enrollment, ev.Fingerprint, macDeviceChannel(ev.Enrollment, ev.Message, ev.Device)))
	var re *mdm.RejectError
	if errors.As(err, &re) {
		// Not one of ours; Precheck refused anything it should have.
		s.log.WarnContext(ctx, "enroll: device event for no enrollment", "event", want, "err", err)
		return nil
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
func deviceKey(e mdm.Channel) string {
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

// deviceMeta describes a device request for the audit trail.
func (s *Service) deviceMeta(r *http.Request) Meta {
	if r == nil {
		return Meta{Actor: "device"}
	}
	return RequestMeta(r, "device", s.cfg.ClientIP)
}

func forbidden(err error) error {
	return &mdm.RejectError{Status: http.StatusForbidden, Err: err}
}

func unauthorized(err error) error {
	return &mdm.RejectError{Status: http.StatusUnauthorized, Err: err}
}
