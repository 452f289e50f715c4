package enroll

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/passcode"
	"github.com/enrollkit/enrollkit/profile"
)

// Defaults for zero Config fields.
const (
	// DefaultInvitationTTL is how long an invitation (and its passcode)
	// stays valid.
	DefaultInvitationTTL = 72 * time.Hour
	// DefaultDownloadTTL is how long a profile download link stays valid:
	// the 8 minutes a device keeps a downloaded profile before deleting it.
	DefaultDownloadTTL = 8 * time.Minute
	// DefaultCompletionTTL is how long a device has, from the issue of its
	// profile link or access token, to check in and finish enrolling.
	DefaultCompletionTTL = 24 * time.Hour
	// DefaultPasscodeAttempts is how many wrong passcodes lock an
	// enrollment.
	DefaultPasscodeAttempts = 5
	// DefaultUnenrollDeadline is how long a revoked, enrolled device has to
	// confirm its unenrollment with CheckOut before the enrollment counts
	// as removed anyway.
	DefaultUnenrollDeadline = 7 * 24 * time.Hour
)

// maxInputLen bounds every string argument that comes from a request.
const maxInputLen = 1024

// maxRetries bounds how often a step is retried after a version conflict.
const maxRetries = 64

// CorporatePolicy says what happens when a user declares a device
// corporate-owned.
type CorporatePolicy int

// Corporate ownership policies.
const (
	// CorporateRefuse refuses corporate-owned devices with
	// ErrCorporateRefused. It is the default: User Enrollment is for
	// personal devices, and company devices belong in Automated Device
	// Enrollment.
	CorporateRefuse CorporatePolicy = iota
	// CorporateDeviceEnrollment lets a corporate-owned device continue and
	// gives it a device-enrollment profile (with AccessRights and without
	// ManagedAppleID) instead of a User Enrollment profile.
	CorporateDeviceEnrollment
)

// Terms are the terms of use a user accepts in the portal.
type Terms struct {
	// Version names the terms, for example "2026-01".
	Version string
	// Text is the text shown to the user.
	Text string
}

// Digest returns the hex SHA-256 of the terms text, as recorded at consent.
func (t Terms) Digest() string { return termsDigest(t.Text) }

// termsDigest returns the hex SHA-256 of text.
func termsDigest(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// Consent is what the user accepted: the terms version and the digest of the
// text shown (see Terms.Digest).
type Consent struct {
	// Version is the version of the terms shown.
	Version string
	// Digest is the hex SHA-256 of the terms text shown.
	Digest string
}

// Meta describes the request behind a step, for the audit trail.
type Meta struct {
	// ClientIP is the client's address as the host determined it.
	ClientIP string
	// UserAgent is the request's User-Agent header.
	UserAgent string
	// Actor says who acted. Empty means the default for the step: the
	// enrollment's user ID for portal steps, "device" for device steps,
	// "host" for host operations.
	Actor string
}

// RequestMeta describes r for the audit trail: actor, the client address
// clientIP returns (nil means the host part of r.RemoteAddr), and the
// User-Agent cut to 512 bytes. The portal, the device endpoints and the
// SCEP and ACME handlers all describe their requests with it.
func RequestMeta(r *http.Request, actor string, clientIP func(*http.Request) string) Meta {
	if clientIP == nil {
		clientIP = remoteHost
	}
	return Meta{Actor: actor, ClientIP: clientIP(r), UserAgent: truncate(r.UserAgent(), 512)}
}

// Config holds the Service's dependencies and settings. Fields marked
// required must be set; the others have the documented defaults.
type Config struct {
	// Authenticator checks corporate credentials. Required.
	Authenticator Authenticator
	// Directory maps users to Managed Apple Accounts. Required.
	Directory Directory
	// Notifier delivers invitations. Nil means none: CreateInvitation
	// returns the Invitation and the host delivers it.
	Notifier Notifier

	// PortalURL is the absolute URL the Portal is reachable at, such as
	// "https://enroll.example.com/portal/". The Portal builds its links,
	// redirects, the account-driven BaseURL and its cookie path from it, and
	// invitation links are PortalURL + "invitation/" + token unless
	// InvitationURL is set. Required unless InvitationURL is set and no
	// Portal serves the Service.
	PortalURL string
	// InvitationURL, if not nil, returns the invitation link for a token
	// instead of the Portal's, for a host that serves invitations itself.
	InvitationURL func(token string) string

	// Terms are the terms in force. If Version is set, AcceptTerms accepts
	// only this version and the digest of this text.
	Terms Terms

	// Corporate is the policy for corporate-owned devices; the zero value
	// refuses them.
	Corporate CorporatePolicy

	// PasscodeGenerator draws passcodes; its zero value makes 8-digit
	// codes. A passcode lives as long as its invitation (InvitationTTL).
	PasscodeGenerator passcode.Generator
	// PasscodeParams are the argon2id parameters passcodes are hashed
	// with; zero fields take package passcode's defaults.
	PasscodeParams passcode.Params
	// PasscodeAttempts is how many wrong passcodes lock an enrollment;
	// zero means DefaultPasscodeAttempts.
	PasscodeAttempts int

	// Throttle limits corporate password guesses at sign-in; its zero
	// value is the documented defaults.
	Throttle ThrottleConfig
	// Retention says how long Sweep keeps finished enrollments and their
	// audit trails; its zero value is the documented defaults.
	Retention Retention

	// InvitationTTL, DownloadTTL and CompletionTTL override the defaults
	// of the same names when positive.
	InvitationTTL time.Duration
	DownloadTTL   time.Duration
	CompletionTTL time.Duration

	// Unenroller asks a device to remove its enrollment when the host
	// revokes an enrolled device (package server wires the MDM service:
	// a RemoveProfile command for the enrollment profile, then a push).
	// The enrollment then waits in StateUnenrolling for the device's
	// CheckOut, at most UnenrollDeadline (zero means
	// DefaultUnenrollDeadline). nil means nobody is asked: revoking an
	// enrolled device ends the enrollment at once. Either way, a device
	// whose enrollment has ended is answered Apple's unrecognized-device
	// 403 from then on, on which current devices unenroll.
	Unenroller       Unenroller
	UnenrollDeadline time.Duration

	// Profile describes the enrollment profiles the Service builds.
	// Required: ServerURL and Topic.
	Profile ProfileConfig
	// Signer signs every profile served. Required.
	Signer *profile.Signer
	// SCEP configures the built-in identity: every profile gets a SCEP
	// payload with a single-use challenge bound to its enrollment, kept in
	// the Service's Store (see SCEPChallenges). SCEP.URL is required unless
	// Identity is set.
	SCEP SCEPConfig
	// ACME turns on hardware-bound, attested identities: with
	// ACME.DirectoryURL set, every profile gets an ACME payload instead of
	// SCEP (see ACMEConfig and ACMEChallenges); SCEP.URL is then required
	// only for ACME.SCEPFallback. The zero value leaves identities to
	// SCEP.
	ACME ACMEConfig
	// Identity, if not nil, supplies the profiles' identity payload
	// instead of the built-in SCEP or ACME challenges, for a host with its
	// own certificate authority. Setting Identity and SCEP.URL or
	// ACME.DirectoryURL is an error.
	Identity IdentityProvider

	// ClientIP returns the client address of a device request for the
	// audit trail of the mdm hooks (Precheck, Observe); nil means the host
	// part of the request's RemoteAddr. Set it when a proxy forwards the
	// address in a header.
	ClientIP func(r *http.Request) string

	// OnTransition, if not nil, is called after every transition the
	// Service stored (an invitation, each step, an expiry, a revocation),
	// with the audit event stored with it, for metrics and events. It is
	// called once per stored transition, after the Store accepted it, on
	// the goroutine of the step; it must not block and cannot fail the step.
	// The Store orders the transitions of one enrollment, but two steps
	// racing on one enrollment (on one or several Services) may call it in
	// either order: AuditEvent.Time and From/To tell the order. Nil: nobody
	// is told.
	OnTransition func(ctx context.Context, ev AuditEvent)

	// Now tells the time; nil means time.Now. The Service reads it for
	// every expiry decision and audit event.
	Now func() time.Time
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// Rand is the source of token randomness; nil means crypto/rand.
	Rand io.Reader
}

// Service runs the enrollment flow: one method per step, each applied to
// the Store as a transition of the state machine with an optimistic version
// check and an audit event. A Service is safe for concurrent use, and several
// Services (on several replicas) may share one Store.
type Service struct {
	store     Store
	cfg       Config
	now       func() time.Time
	log       *slog.Logger
	rand      io.Reader
	passcodes passcode.Policy
	throttle  *throttle
}

// New returns a Service storing enrollments in store. It fails if a
// required dependency is missing or a setting is invalid.
func New(store Store, cfg Config) (*Service, error) {
	switch {
	case store == nil:
		return nil, errors.New("enroll: New: nil Store")
	case cfg.Authenticator == nil:
		return nil, errors.New("enroll: New: Config.Authenticator is required")
	case cfg.Directory == nil:
		return nil, errors.New("enroll: New: Config.Directory is required")
	case cfg.Signer == nil:
		return nil, errors.New("enroll: New: Config.Signer is required")
	case cfg.Identity == nil && cfg.SCEP.URL == "" && cfg.ACME.DirectoryURL == "":
		return nil, errors.New("enroll: New: Config.SCEP.URL (or Config.ACME.DirectoryURL, or Config.Identity) is required")
	case cfg.PasscodeAttempts < 0:
		return nil, errors.New("enroll: New: Config.PasscodeAttempts is negative")
	case cfg.Identity != nil && (cfg.SCEP.URL != "" || cfg.ACME.DirectoryURL != ""):
		return nil, errors.New("enroll: New: Config.Identity and Config.SCEP or Config.ACME are both set; set one")
	case cfg.InvitationURL == nil && cfg.PortalURL == "":
		return nil, errors.New("enroll: New: Config.InvitationURL or Config.PortalURL is required")
	}
	if cfg.PortalURL != "" {
		if _, err := parsePortalURL(cfg.PortalURL); err != nil {
			return nil, fmt.Errorf("enroll: New: Config.%w", err)
		}
		if cfg.InvitationURL == nil {
			base := strings.TrimSuffix(cfg.PortalURL, "/")
			cfg.InvitationURL = func(token string) string { return base + "/invitation/" + token }
		}
	}
	if cfg.InvitationTTL <= 0 {
		cfg.InvitationTTL = DefaultInvitationTTL
	}
	if cfg.DownloadTTL <= 0 {
		cfg.DownloadTTL = DefaultDownloadTTL
	}
	if cfg.UnenrollDeadline <= 0 {
		cfg.UnenrollDeadline = DefaultUnenrollDeadline
	}
	if cfg.CompletionTTL <= 0 {
		cfg.CompletionTTL = DefaultCompletionTTL
	}
	if err := cfg.Profile.check(); err != nil {
		return nil, err
	}
	s := &Service{store: store, cfg: cfg, now: cfg.Now, log: cfg.Logger, rand: cfg.Rand}
	s.passcodes = passcode.Policy{Generator: cfg.PasscodeGenerator, Params: cfg.PasscodeParams, MaxAttempts: cfg.PasscodeAttempts}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.passcodes.MaxAttempts <= 0 {
		s.passcodes.MaxAttempts = DefaultPasscodeAttempts
	}
	s.passcodes.TTL = -1 // the enrollment's ExpiresAt governs
	var err error
	if s.throttle, err = newThrottle(store, cfg.Throttle, s.now, s.log); err != nil {
		return nil, err
	}
	sc, ac := cfg.SCEP, cfg.ACME
	if sc.Now == nil {
		sc.Now = s.now
	}
	if ac.Now == nil {
		ac.Now = s.now
	}
	switch {
	case cfg.Identity != nil:
	case ac.DirectoryURL != "":
		if s.cfg.Identity, err = NewACMEChallenges(store, ac, sc); err != nil {
			return nil, err
		}
	default:
		if s.cfg.Identity, err = NewSCEPChallenges(store, sc); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// parsePortalURL parses a portal URL: absolute http(s), without query or
// fragment.
func parsePortalURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("PortalURL %q is not an absolute http(s) URL without query", s)
	}
	return u, nil
}

// Store returns the Store the Service uses.
func (s *Service) Store() Store { return s.store }

// Terms returns the terms in force (Config.Terms).
func (s *Service) Terms() Terms { return s.cfg.Terms }

// DownloadLink is a freshly issued profile download link's secret.
type DownloadLink struct {
	// Token goes into the download URL; it is valid once, until ExpiresAt.
	Token string
	// ExpiresAt ends the link's validity.
	ExpiresAt time.Time
	// Enrollment is the enrollment after the step.
	Enrollment *Enrollment
}

// AccessToken is a freshly issued account-driven access token.
type AccessToken struct {
	// Token is handed to the device in the authentication-results URL; the
	// device sends it as a bearer token with every later request.
	Token string
	// Enrollment is the enrollment after the step.
	Enrollment *Enrollment
}

// SignedProfile is an enrollment profile ready to serve: the signed bytes of
// a profile.Profile the Service built for the enrollment.
type SignedProfile struct {
	// Data is the signed .mobileconfig (CMS SignedData, DER).
	Data []byte
	// ContentType is "application/x-apple-aspen-config".
	ContentType string
	// Enrollment is the enrollment after the step.
	Enrollment *Enrollment
}

// ProfileContentType is the media type of enrollment profiles.
const ProfileContentType = "application/x-apple-aspen-config"

// CreateInvitation starts an enrollment for user u: it looks up the user's
// Managed Apple Account, draws the invitation token and the passcode, stores the
// enrollment in StateInvited and hands the Invitation to the Notifier. The
// Invitation is returned too, secrets included; they are not stored.
func (s *Service) CreateInvitation(ctx context.Context, m Meta, u User) (*Invitation, error) {
	if err := checkInput("user ID", u.ID); err != nil {
		return nil, err
	}
	mid, err := s.cfg.Directory.ManagedAppleID(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("enroll: create invitation: %w", err)
	}
	if mid == "" {
		return nil, fmt.Errorf("enroll: create invitation: %w", ErrUnknownUser)
	}
	id, err := s.randomHex(16)
	if err != nil {
		return nil, err
	}
	token, err := s.newToken()
	if err != nil {
		return nil, err
	}
	now := s.now()
	code, pst, err := s.passcodes.Issue(now)
	if err != nil {
		return nil, fmt.Errorf("enroll: create invitation: %w", err)
	}
	exp := now.Add(s.cfg.InvitationTTL)
	pst.ExpiresAt = exp
	e := &Enrollment{
		ID:             id,
		State:          StateInvited,
		UserID:         u.ID,
		ManagedAppleID: mid,
		InvitationHash: hashToken(token),
		Passcode:       pst,
		CreatedAt:      now,
		UpdatedAt:      now,
		ExpiresAt:      exp,
	}
	ev := s.auditEvent(m, e, "host", EventInvite, "", StateInvited, now)
	if err := s.store.Create(ctx, e, ev); err != nil {
		return nil, fmt.Errorf("enroll: create invitation: %w", err)
	}
	s.transitioned(ctx, ev)
	link := s.cfg.InvitationURL(token)
	qr, err := QRCode(link, 0)
	if err != nil {
		return nil, err
	}
	inv := &Invitation{
		EnrollmentID:   id,
		User:           u,
		ManagedAppleID: mid,
		Token:          token,
		URL:            link,
		QRCode:         qr,
		Passcode:       passcode.Format(code),
		ExpiresAt:      exp,
	}
	if s.cfg.Notifier != nil {
		if err := s.cfg.Notifier.Notify(ctx, inv); err != nil {
			if _, rerr := s.Revoke(context.WithoutCancel(ctx), Meta{Actor: "host"}, id, "invitation could not be delivered"); rerr != nil {
				s.log.ErrorContext(ctx, "enroll: revoking undelivered invitation", "enrollment", id, "err", rerr)
			}
			return nil, fmt.Errorf("enroll: create invitation: notify: %w", err)
		}
	}
	s.log.InfoContext(ctx, "enroll: invitation created", "enrollment", id, "user", u.ID)
	return inv, nil
}

// OpenInvitation returns the enrollment an invitation token belongs to, so
// the portal can bind a session to it. It changes nothing, except that an
// enrollment past its expiry is marked expired (ErrExpired). A token of a
// revoked, locked or otherwise finished enrollment gives a *TransitionError.
func (s *Service) OpenInvitation(ctx context.Context, m Meta, token string) (*Enrollment, error) {
	e, err := s.findByToken(ctx, IndexInvitation, token)
	if err != nil {
		return nil, fmt.Errorf("enroll: open invitation: %w", err)
	}
	return s.run(ctx, m, "open invitation", e.ID, EventAuthenticate, func(st *step) error {
		if !sameHash(st.e.InvitationHash, hashToken(token)) {
			return ErrNotFound
		}
		return nil
	})
}

// LookupAccount returns the open enrollment of the user whose Managed Apple
// ID is userIdentifier, for account-driven enrollment: the well-known
// endpoint answers for it, and the portal runs its steps on it in the
// device's web view. An unknown user gives ErrUnknownUser; a known user
// without an enrollment that can still issue an access token gives
// ErrNotFound; an account-driven enrollment whose device checked in but did
// not finish (StateCheckedIn) can, so that the device can install again. It
// changes nothing but expiry.
func (s *Service) LookupAccount(ctx context.Context, userIdentifier string) (*Enrollment, error) {
	if err := checkInput("user identifier", userIdentifier); err != nil {
		return nil, err
	}
	uid, err := s.cfg.Directory.UserID(ctx, userIdentifier)
	if err != nil {
		return nil, fmt.Errorf("enroll: lookup account: %w", err)
	}
	if uid == "" {
		return nil, fmt.Errorf("enroll: lookup account: %w", ErrUnknownUser)
	}
	list, err := s.store.List(ctx, ListOptions{UserID: uid, States: []State{
		StateInvited, StateAuthenticated, StatePasscodeVerified, StateConsented, StateTokenIssued, StateCheckedIn,
	}})
	if err != nil {
		return nil, fmt.Errorf("enroll: lookup account: %w", err)
	}
	now := s.now()
	for i := len(list) - 1; i >= 0; i-- { // newest first
		e := list[i]
		if e.State == StateCheckedIn && e.Flow != FlowAccountDriven {
			continue // a profile-based device re-installs from its invitation
		}
		if e.ExpiresAt.IsZero() || now.Before(e.ExpiresAt) {
			return e, nil
		}
		if _, err := s.expire(ctx, e.ID); err != nil {
			return nil, fmt.Errorf("enroll: lookup account: %w", err)
		}
	}
	return nil, fmt.Errorf("enroll: lookup account: %w", ErrNotFound)
}

// Authenticate signs the invited user in with corporate credentials and
// records the device's ownership: Invited → Authenticated.
//
// In a later unfinished state (see [State.Restartable]) it signs the same
// user in again, for a browser or web view that lost the portal session or
// a device that installs again after an interruption: a self-transition
// that keeps all progress (the passcode state and its attempt counter, the
// information screen, consent, an issued download link or access token, a
// device that checked in) and is recorded in the audit trail. The ownership
// chosen at the first sign-in cannot change; a different o gives
// ErrInvalidInput. Locked and finished enrollments are refused with a
// *TransitionError.
//
// Credentials of anyone but the invited user give ErrBadCredentials, and
// so does an Authenticator's ErrUnknownUser or ErrNotFound: an unknown
// username and a wrong password look the same to the caller;
// corporate ownership under CorporateRefuse gives ErrCorporateRefused.
// Sign-ins are throttled (see ThrottleConfig): after too many failures,
// on the enrollment or from m.ClientIP, attempts are refused with a
// *ThrottleError (ErrThrottled) without checking the credentials. Errors
// change nothing but the throttle's counts.
func (s *Service) Authenticate(ctx context.Context, m Meta, id, username, password string, o Ownership) (*Enrollment, error) {
	if err := checkInput("username", username); err != nil {
		return nil, err
	}
	if len(password) == 0 || len(password) > maxInputLen {
		return nil, invalid("password must be 1 to %d bytes", maxInputLen)
	}
	if !o.Valid() {
		return nil, invalid("ownership %q is neither %q nor %q", o, OwnershipEmployee, OwnershipCorporate)
	}
	if o == OwnershipCorporate && s.cfg.Corporate != CorporateDeviceEnrollment {
		return nil, fmt.Errorf("enroll: authenticate: %w", ErrCorporateRefused)
	}
	attempt, err := s.throttle.admit(ctx, m, id)
	if err != nil {
		return nil, fmt.Errorf("enroll: authenticate: %w", err)
	}
	// The credentials are checked once, on the enrollment as first read;
	// a version conflict retries only the state change. The user they
	// belong to stays valid: an enrollment's user never changes, and one
	// that was revoked or expired meanwhile is refused by the transition
	// table.
	var u User
	checkCredentials := func(*Enrollment) error {
		var err error
		u, err = s.cfg.Authenticator.Authenticate(ctx, username, password)
		if err != nil {
			return credentialsError(err)
		}
		return nil
	}
	restart := false
	e, err := s.runOnce(ctx, m, "authenticate", id, nil, EventAuthenticate, nil, checkCredentials, func(st *step) error {
		restart = false
		if subtle.ConstantTimeCompare([]byte(u.ID), []byte(st.e.UserID)) != 1 {
			s.log.WarnContext(ctx, "enroll: sign-in by a user other than the invited one", "enrollment", st.e.ID)
			return ErrBadCredentials
		}
		if st.e.State != StateInvited {
			if o != st.e.Ownership {
				return invalid("ownership %q differs from %q chosen at the first sign-in", o, st.e.Ownership)
			}
			st.audit.Detail = "signed in again to continue"
			restart = true
		}
		st.e.Ownership = o
		st.commit(EventAuthenticate)
		return nil
	})
	s.throttle.settle(ctx, attempt, err)
	if err != nil {
		return nil, err
	}
	if restart {
		s.log.InfoContext(ctx, "enroll: user signed in again to continue", "enrollment", e.ID, "state", e.State)
	}
	return e, nil
}

// credentialsError maps an Authenticator's error to what the caller may
// learn from it. An Authenticator that tells an unknown username apart
// from a wrong password (ErrUnknownUser or ErrNotFound) would let anyone
// holding an invitation link probe which usernames exist; both become
// ErrBadCredentials, the answer to a wrong password. Other errors are
// failures of the Authenticator and pass through.
func credentialsError(err error) error {
	if errors.Is(err, ErrUnknownUser) || errors.Is(err, ErrNotFound) {
		return ErrBadCredentials
	}
	return err
}

// SubmitPasscode checks the passcode from the invitation: Authenticated →
// PasscodeVerified when it matches. A wrong passcode is counted (atomically,
// also across replicas) and gives a *PasscodeError; the attempt that reaches
// the limit locks the enrollment (Authenticated → Locked) and its error
// matches ErrLocked too.
func (s *Service) SubmitPasscode(ctx context.Context, m Meta, id, code string) (*Enrollment, error) {
	if len(code) > maxInputLen {
		return nil, invalid("passcode longer than %d bytes", maxInputLen)
	}
	e, err := s.run(ctx, m, "submit passcode", id, EventPasscodeAccepted, func(st *step) error {
		next, err := s.passcodes.Check(st.e.Passcode, code, st.now)
		var mm *passcode.MismatchError
		switch {
		case err == nil:
			st.e.Passcode = next
			st.commit(EventPasscodeAccepted)
			return nil
		case errors.As(err, &mm):
			st.e.Passcode = next
			if next.Locked {
				st.commit(EventLock)
				return &PasscodeError{AttemptsLeft: 0}
			}
			st.commit(EventPasscodeRejected)
			return &PasscodeError{AttemptsLeft: mm.Remaining}
		case errors.Is(err, passcode.ErrLocked):
			st.e.Passcode = next
			st.commit(EventLock)
			return &TransitionError{From: StateLocked, Event: EventPasscodeAccepted}
		case errors.Is(err, passcode.ErrExpired):
			st.commit(EventExpire)
			return &TransitionError{From: StateExpired, Event: EventPasscodeAccepted}
		}
		return err
	})
	s.logPasscode(ctx, m, id, err)
	return e, err
}

// AcknowledgeInfo records that the information screen was shown and
// acknowledged; the enrollment stays in StatePasscodeVerified.
func (s *Service) AcknowledgeInfo(ctx context.Context, m Meta, id string) (*Enrollment, error) {
	return s.run(ctx, m, "acknowledge info", id, EventInfoSeen, func(st *step) error {
		st.e.InfoSeenAt = st.now
		st.commit(EventInfoSeen)
		return nil
	})
}

// AcceptTerms records consent to the terms (version and hex SHA-256 digest
// of the text shown): PasscodeVerified → Consented. It fails with
// ErrInfoNotSeen before AcknowledgeInfo, and with ErrTermsMismatch when
// Config.Terms is set and c differs from it.
func (s *Service) AcceptTerms(ctx context.Context, m Meta, id string, c Consent) (*Enrollment, error) {
	if err := checkInput("terms version", c.Version); err != nil {
		return nil, err
	}
	if d, err := hex.DecodeString(c.Digest); err != nil || len(d) != sha256.Size {
		return nil, invalid("terms digest must be 64 hex characters")
	}
	if t := s.cfg.Terms; t.Version != "" {
		if c.Version != t.Version || !sameHash(strings.ToLower(c.Digest), t.Digest()) {
			return nil, fmt.Errorf("enroll: accept terms: %w", ErrTermsMismatch)
		}
	}
	return s.run(ctx, m, "accept terms", id, EventConsent, func(st *step) error {
		if st.e.InfoSeenAt.IsZero() {
			return ErrInfoNotSeen
		}
		st.e.TermsVersion = c.Version
		st.e.TermsDigest = strings.ToLower(c.Digest)
		st.e.ConsentedAt = st.now
		st.audit.TermsVersion = st.e.TermsVersion
		st.audit.TermsDigest = st.e.TermsDigest
		st.commit(EventConsent)
		return nil
	})
}

// IssueDownloadLink issues the single-use profile download link of the
// profile-based flow: Consented → ProfileIssued. Issuing again (in
// ProfileIssued) replaces the earlier link. The link is valid for
// Config.DownloadTTL (8 minutes by default); the device then has
// Config.CompletionTTL to check in.
//
// In CheckedIn (the device sent Authenticate but not TokenUpdate: it was
// interrupted and installs again) it moves the enrollment back to
// ProfileIssued and forgets the earlier identity: the challenge, the
// certificate and the device's EnrollmentID, which are refused from then
// on. An account-driven enrollment gets a *TransitionError: it re-installs
// with a new access token.
func (s *Service) IssueDownloadLink(ctx context.Context, m Meta, id string) (*DownloadLink, error) {
	token, err := s.newToken()
	if err != nil {
		return nil, err
	}
	var exp time.Time
	e, err := s.run(ctx, m, "issue download link", id, EventIssueProfile, func(st *step) error {
		if err := reinstall(st, FlowProfile, EventIssueProfile); err != nil {
			return err
		}
		exp = st.now.Add(s.cfg.DownloadTTL)
		st.e.Flow = FlowProfile
		st.e.DownloadHash = hashToken(token)
		st.e.DownloadExpiresAt = exp
		st.e.DownloadUsed = false
		st.e.ExpiresAt = st.now.Add(s.cfg.CompletionTTL)
		st.commit(EventIssueProfile)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &DownloadLink{Token: token, ExpiresAt: exp, Enrollment: e}, nil
}

// DownloadProfile serves the profile for a download link token, once: it
// builds the profile for the enrollment's user, signs it, and marks the link
// used. A used link gives ErrLinkUsed, a late one ErrLinkExpired, an unknown
// one ErrNotFound.
func (s *Service) DownloadProfile(ctx context.Context, m Meta, token string) (*SignedProfile, error) {
	p, err := s.serveProfile(ctx, m, "download profile", IndexDownload, EventDownloadProfile, token, func(st *step) error {
		switch {
		case st.e.DownloadUsed:
			return ErrLinkUsed
		case !st.now.Before(st.e.DownloadExpiresAt):
			return ErrLinkExpired
		}
		st.e.DownloadUsed = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "enroll: profile downloaded", "enrollment", p.Enrollment.ID)
	return p, nil
}

// IssueAccessToken ends the portal steps of account-driven enrollment:
// Consented → TokenIssued, returning the access token the device presents
// as a bearer token from then on. Issuing again (in TokenIssued) replaces
// the earlier token.
//
// In CheckedIn (the device sent Authenticate but not TokenUpdate: it was
// interrupted and installs again) it moves the enrollment back to
// TokenIssued and forgets the earlier identity: the access token, the
// challenge, the certificate and the device's EnrollmentID, which are
// refused from then on. A profile-based enrollment gets a
// *TransitionError: it re-installs with a new download link.
func (s *Service) IssueAccessToken(ctx context.Context, m Meta, id string) (*AccessToken, error) {
	token, err := s.newToken()
	if err != nil {
		return nil, err
	}
	e, err := s.run(ctx, m, "issue access token", id, EventIssueToken, func(st *step) error {
		if st.e.Ownership == OwnershipCorporate {
			// Discovery announced a BYOD server: a corporate device
			// belongs in Automated Device Enrollment.
			return ErrCorporateRefused
		}
		if err := reinstall(st, FlowAccountDriven, EventIssueToken); err != nil {
			return err
		}
		st.e.Flow = FlowAccountDriven
		st.e.AccessTokenHash = hashToken(token)
		st.e.ExpiresAt = st.now.Add(s.cfg.CompletionTTL)
		st.commit(EventIssueToken)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "enroll: access token issued", "enrollment", e.ID)
	return &AccessToken{Token: token, Enrollment: e}, nil
}

// FetchProfile serves the account-driven enrollment profile to a device
// presenting accessToken (EnrollmentMode BYOD with the user's
// AssignedManagedAppleID). An unknown token gives ErrNotFound; the token of
// a revoked enrollment a *TransitionError matching ErrRevoked.
func (s *Service) FetchProfile(ctx context.Context, m Meta, accessToken string) (*SignedProfile, error) {
	return s.serveProfile(ctx, m, "fetch profile", IndexAccessToken, EventFetchProfile, accessToken, nil)
}

// serveProfile builds and signs the profile of the enrollment whose secret
// for index i is token, as step ev. The token must still be the
// enrollment's (a newer one replaces it: ErrNotFound); check, if not nil,
// refuses with an error or marks the secret on st.e. The profile is built
// and signed once, after check passed on the enrollment as first read; a
// version conflict retries only the state change, and fails with
// ErrVersionConflict if the enrollment changed in what the profile was
// built from. op names the step in errors.
func (s *Service) serveProfile(ctx context.Context, m Meta, op string, i Index, ev Event, token string, check func(*step) error) (*SignedProfile, error) {
	read, err := s.findByToken(ctx, i, token)
	if err != nil {
		return nil, fmt.Errorf("enroll: %s: %w", op, err)
	}
	vet := func(st *step) error {
		if !sameHash(st.e.Key(i), hashToken(token)) {
			return ErrNotFound
		}
		if check != nil {
			return check(st)
		}
		return nil
	}
	var data []byte
	var built profileBasis
	var issued identityFields
	bctx := ctx
	if _, ok := ctx.Value(releaseKey{}).(deviceRelease); !ok {
		bctx = withRelease(ctx, releaseFromUserAgent(m.UserAgent))
	}
	build := func(e *Enrollment) error {
		// The new profile carries a fresh identity; what the
		// IdentityProvider records goes into the stored enrollment.
		x := e.Clone()
		forgetIdentity(x)
		var err error
		if data, err = s.buildProfile(bctx, x); err != nil {
			return err
		}
		built, issued = basisOf(e), identityOf(x)
		return nil
	}
	e, err := s.runOnce(ctx, m, op, read.ID, read, ev, vet, build, func(st *step) error {
		if basisOf(st.e) != built {
			return fmt.Errorf("%w: the enrollment changed while its profile was built", ErrVersionConflict)
		}
		// The certificate issued for an earlier profile no longer checks
		// in.
		if forgetIdentity(st.e) {
			st.audit.Detail = "a new profile replaces the identity of an earlier one"
		}
		issued.set(st.e)
		st.commit(ev)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &SignedProfile{Data: data, ContentType: ProfileContentType, Enrollment: e}, nil
}

// reinstall prepares step st, which issues a download link or an access
// token for flow with event ev, for an enrollment whose device checked in
// but did not finish: the enrollment must have been issued for the same
// flow (a *TransitionError otherwise), and the identity of the earlier
// installation is forgotten. In other states it does nothing.
func reinstall(st *step, flow Flow, ev Event) error {
	if st.e.State != StateCheckedIn {
		return nil
	}
	if st.e.Flow != flow {
		return &TransitionError{From: st.e.State, Event: ev}
	}
	forgetIdentity(st.e)
	st.audit.Detail = "installing again after an interrupted enrollment; the earlier identity is forgotten"
	return nil
}

// forgetIdentity clears the identity of the device's earlier installation
// from e: its identity challenge, certificate and EnrollmentID. It reports
// whether a certificate or device was forgotten.
func forgetIdentity(e *Enrollment) bool {
	had := e.CertificateHash != "" || e.DeviceID != ""
	e.ChallengeHash, e.ChallengeExpiresAt, e.ChallengeUsed = "", time.Time{}, false
	e.CertificateHash, e.DeviceID = "", ""
	return had
}

// Revoke revokes an enrollment in any state but the terminal ones (a locked
// enrollment can be revoked): its invitation, links and access token stop
// working and its device's check-ins are refused. reason goes into the audit
// trail.
func (s *Service) Revoke(ctx context.Context, m Meta, id, reason string) (*Enrollment, error) {
	if len(reason) > maxInputLen {
		return nil, invalid("reason longer than %d bytes", maxInputLen)
	}
	if m.Actor == "" {
		m.Actor = "host"
	}
	e, err := s.run(ctx, m, "revoke", id, EventRevoke, func(st *step) error {
		st.audit.Detail = reason
		st.e.ExpiresAt = time.Time{}
		if st.e.State == StateEnrolled {
			st.e.ExpiresAt = st.now.Add(s.cfg.UnenrollDeadline)
		}
		st.commit(EventRevoke)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if e.State == StateUnenrolling {
		if s.cfg.Unenroller == nil {
			// Nobody to ask: the enrollment ends now.
			return s.Revoke(ctx, m, id, reason)
		}
		// The host I/O runs once, after the state change: a device told
		// to unenroll is then always in StateUnenrolling.
		if err := s.cfg.Unenroller.Unenroll(ctx, mdm.EnrollmentID(e.DeviceID), s.profileIdentifier()); err != nil {
			s.log.WarnContext(ctx, "enroll: asking the device to unenroll failed", "enrollment", id, "err", err)
			return e, fmt.Errorf("enroll: revoke: asking the device to unenroll (revoking again ends the enrollment at once): %w", err)
		}
		s.log.InfoContext(ctx, "enroll: enrolled device asked to unenroll", "enrollment", id, "deadline", e.ExpiresAt)
		return e, nil
	}
	s.log.InfoContext(ctx, "enroll: enrollment revoked", "enrollment", id)
	return e, nil
}

// Get returns the enrollment with the given ID.
func (s *Service) Get(ctx context.Context, id string) (*Enrollment, error) {
	e, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("enroll: get: %w", err)
	}
	return e, nil
}

// List returns the enrollments o selects.
func (s *Service) List(ctx context.Context, o ListOptions) ([]*Enrollment, error) {
	l, err := s.store.List(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("enroll: list: %w", err)
	}
	return l, nil
}

// Audit returns the audit trail of an enrollment, oldest first.
func (s *Service) Audit(ctx context.Context, id string) ([]AuditEvent, error) {
	a, err := s.store.Audit(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("enroll: audit: %w", err)
	}
	return a, nil
}

// newToken returns a new secret token: 256 random bits, base64url.
func (s *Service) newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("enroll: reading randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// randomHex returns n random bytes, hex encoded.
func (s *Service) randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("enroll: reading randomness: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// hashToken returns the hex SHA-256 of a high-entropy token: the form
// tokens are stored and looked up in.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// sameHash compares two stored hashes in constant time; empty never matches.
func sameHash(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// checkInput validates a required request string.
func checkInput(what, v string) error {
	if v == "" || len(v) > maxInputLen {
		return invalid("%s must be 1 to %d bytes", what, maxInputLen)
	}
	return nil
}

// findByToken looks up an enrollment by the hash of a secret token.
func (s *Service) findByToken(ctx context.Context, i Index, token string) (*Enrollment, error) {
	if token == "" || len(token) > maxInputLen {
		return nil, ErrNotFound
	}
	return s.store.Find(ctx, i, hashToken(token))
}
