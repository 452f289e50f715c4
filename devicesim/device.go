package devicesim

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
)

// Errors callers branch on. Errors returned by a Device match one of these
// with errors.Is when it applies, and carry details in the typed errors
// below.
var (
	// ErrNoIdentity means a signing operation had no certificate or key.
	ErrNoIdentity = errors.New("devicesim: no identity certificate")
	// ErrNotEnrolled is returned by operations that need an installed
	// enrollment profile, before Install succeeded or after Remove.
	ErrNotEnrolled = errors.New("devicesim: device is not enrolled")
	// ErrAlreadyEnrolled is returned by Install when the device already
	// carries an enrollment; iOS allows one MDM enrollment at a time.
	ErrAlreadyEnrolled = errors.New("devicesim: device is already enrolled")
	// ErrNoUserChannel is returned by PollUser on a device without a user
	// channel: an iPhone or iPad, or a Mac whose profile did not advertise
	// per-user connections.
	ErrNoUserChannel = errors.New("devicesim: device has no user channel")
	// ErrProfileInvalid is matched by every refusal of a downloaded profile
	// (bad signature, missing or wrong keys); see ProfileError.
	ErrProfileInvalid = errors.New("devicesim: profile refused")
	// ErrPortal is matched by PortalError: the portal showed an error page.
	ErrPortal = errors.New("devicesim: portal reported an error")
	// ErrPortalFlow means the portal served something the device could not
	// act on: no form and no download link, an unknown required field, or
	// more steps than Options.MaxPortalSteps.
	ErrPortalFlow = errors.New("devicesim: portal flow could not be followed")
	// ErrUnauthorized is matched by an HTTPError with status 401.
	ErrUnauthorized = errors.New("devicesim: server answered 401 Unauthorized")
	// ErrUnexpectedResponse is matched by every HTTPError.
	ErrUnexpectedResponse = errors.New("devicesim: unexpected HTTP response")
	// ErrNoBYODServer means the well-known document listed no server with
	// Version "mdm-byod".
	ErrNoBYODServer = errors.New("devicesim: no mdm-byod server in the well-known document")
	// ErrBadChallenge means a 401 carried no usable
	// WWW-Authenticate: Bearer method="apple-as-web" challenge.
	ErrBadChallenge = errors.New("devicesim: no apple-as-web bearer challenge")
	// ErrCAFingerprint means no certificate from GetCACert matches the
	// SCEP payload's CAFingerprint.
	ErrCAFingerprint = errors.New("devicesim: SCEP CA certificate does not match CAFingerprint")
	// ErrSCEP is matched by SCEPError: the SCEP server refused or failed
	// the certificate request.
	ErrSCEP = errors.New("devicesim: SCEP enrollment failed")
	// ErrUnrecognized is matched by the HTTPError of a 403 whose body is
	// Apple's ErrorUnrecognizedDevice: the server no longer manages the
	// device, which has unenrolled (without CheckOut), as iOS 17 does.
	ErrUnrecognized = errors.New("devicesim: server does not recognize the device; it unenrolled")
)

// HTTPError is a response with a status the device did not expect.
type HTTPError struct {
	// Op names what the device was doing ("checkin Authenticate",
	// "well-known", …).
	Op string
	// StatusCode is the HTTP status received.
	StatusCode int
	// Body is the start of the response body (at most 512 bytes).
	Body string
}

// Error describes the refusal.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("devicesim: %s: unexpected HTTP status %d: %q", e.Op, e.StatusCode, e.Body)
}

// Unwrap returns ErrUnauthorized for a 401, ErrUnrecognized for a 403
// telling the device it is not recognized, and ErrUnexpectedResponse in
// every case, so that they can be matched with errors.Is.
func (e *HTTPError) Unwrap() []error {
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		return []error{ErrUnauthorized, ErrUnexpectedResponse}
	case e.unrecognized():
		return []error{ErrUnrecognized, ErrUnexpectedResponse}
	}
	return []error{ErrUnexpectedResponse}
}

// unrecognized reports whether e is a 403 with Apple's
// ErrorUnrecognizedDevice document.
func (e *HTTPError) unrecognized() bool {
	if e.StatusCode != http.StatusForbidden {
		return false
	}
	var doc struct {
		Code string `json:"code"`
	}
	return json.Unmarshal([]byte(e.Body), &doc) == nil && doc.Code == mdm.UnrecognizedDeviceCode
}

// PortalError is an error page of the enrollment portal: a 4xx or 5xx
// response whose message is the text of its role="alert" element.
type PortalError struct {
	// URL is the page that showed the error.
	URL string
	// StatusCode is the HTTP status of the page.
	StatusCode int
	// Message is the text of the role="alert" element, whitespace
	// collapsed; empty if the page had none.
	Message string
}

// Error describes the refusal.
func (e *PortalError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("devicesim: portal answered %d at %s", e.StatusCode, e.URL)
	}
	return fmt.Sprintf("devicesim: portal answered %d: %s", e.StatusCode, e.Message)
}

// Unwrap returns ErrPortal.
func (e *PortalError) Unwrap() error { return ErrPortal }

// ProfileError is the reason a profile was refused.
type ProfileError struct {
	// Reason says what was wrong, in words.
	Reason string
	// Err is the underlying error, if any (for example from signature
	// verification).
	Err error
}

// Error describes the refusal.
func (e *ProfileError) Error() string {
	if e.Err != nil {
		return "devicesim: profile refused: " + e.Reason + ": " + e.Err.Error()
	}
	return "devicesim: profile refused: " + e.Reason
}

// Unwrap returns ErrProfileInvalid and the underlying error.
func (e *ProfileError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrProfileInvalid, e.Err}
	}
	return []error{ErrProfileInvalid}
}

// Options configures a Device. Every field is optional; the zero value
// describes an iPhone 15 on iOS 17.5.1 that signs like a real device and
// verifies profile signatures without checking their chain. A ProductName
// that names a Mac ("Mac14,2", "MacBookPro18,3", "iMac21,1") makes it a Mac:
// OSVersion is then the macOS release, discovery asks for model family
// "Mac", the device channel sends no bearer token, and a profile that
// advertises per-user connections opens a user channel beside it.
type Options struct {
	// HTTPClient sends every request. nil means a client built on
	// http.DefaultTransport. The device never modifies it: it uses copies
	// with its own cookie jar (unless the client has one) and a redirect
	// policy that stops at the account-driven hand-off URL.
	HTTPClient *http.Client
	// Logger receives debug and info records. nil discards them.
	Logger *slog.Logger
	// ProfileRoots are the roots a profile's signer must chain to. nil
	// means the CMS signature is checked but its chain is not (an iPhone
	// installs such a profile and shows it as not verified).
	ProfileRoots *x509.CertPool
	// AllowInsecureURLs accepts profiles whose MDM URLs are http:// (an
	// iPhone refuses them). For local tests against plain-HTTP servers.
	AllowInsecureURLs bool
	// DeviceCA issues the simulated device identity that signs the
	// account-driven enrollment request. nil means New creates a fresh one
	// (see Device.DeviceCA to configure a server with its root).
	DeviceCA *DeviceCA
	// ProductName is the hardware model identifier. "" means "iPhone15,4".
	ProductName string
	// OSVersion is the iOS (or, on a Mac, macOS) version. "" means
	// "17.5.1".
	OSVersion string
	// BuildVersion is the OS build. "" means "21F90".
	BuildVersion string
	// DeviceName is the user-visible name. "" means "iPhone", or "Mac" on
	// a Mac.
	DeviceName string
	// Language is the preferred language. "" means "en-US".
	Language string
	// EnrollmentID is the identifier the device checks in with. "" means a
	// random one, generated per enrollment, as iOS does.
	EnrollmentID string
	// Signature chooses how MDM requests are signed. The zero value is what
	// devices send: SHA-1, no signed attributes, BER.
	Signature SignatureOptions
	// Apps are the managed apps InstalledApplicationList reports. nil
	// means none, as on a freshly user-enrolled device (personal apps are
	// never visible under User Enrollment).
	Apps []App
	// AttestationRoot attests the Secure Enclave key of an ACME identity
	// (an ACME payload with Attest), as Apple's attestation service does
	// for a real device: an *acmetest.Root, whose Pool the server's ACME
	// endpoint must trust. nil means the device cannot answer
	// device-attest-01, and installing such a profile fails with
	// ErrNoAttestationRoot.
	AttestationRoot Attester
	// SCEPRetryDelay, if positive, replaces the SCEP payload's RetryDelay
	// (10 seconds when absent) between attempts of a PENDING request.
	SCEPRetryDelay time.Duration
	// MaxPortalSteps bounds how many portal pages the device follows
	// before giving up with ErrPortalFlow. 0 means 20.
	MaxPortalSteps int
	// Rand is the source of the enrollment's identifiers (EnrollmentID,
	// push token, PushMagic). nil means crypto/rand. Keys always come from
	// crypto/rand.
	Rand io.Reader
}

// App is one managed app as InstalledApplicationList reports it.
type App struct {
	Identifier   string
	Name         string
	Version      string
	ShortVersion string
	BundleSize   int64
}

// Credentials are what the user types into the portal. Fields map to the
// form fields of the same name.
type Credentials struct {
	// Username and Password are the corporate sign-in.
	Username string
	Password string
	// Passcode is the one-time enrollment passcode delivered with the
	// invitation.
	Passcode string
	// Ownership is the value chosen for the "ownership" field. "" means
	// "employee".
	Ownership string
	// DeclineTerms leaves the "accept" checkbox unticked.
	DeclineTerms bool
}

// Enrollment is what the device holds once a profile is installed.
type Enrollment struct {
	// EnrollmentID is what the device checks in with (never a UDID).
	EnrollmentID string
	// AccountDriven is true when the enrollment came from the
	// account-driven flow.
	AccountDriven bool
	// ManagedAppleID is the profile's ManagedAppleID or
	// AssignedManagedAppleID.
	ManagedAppleID string
	// EnrollmentMode is the profile's EnrollmentMode ("BYOD"), empty for a
	// profile-based enrollment.
	EnrollmentMode string
	// Topic, ServerURL and CheckInURL come from the com.apple.mdm payload.
	Topic      string
	ServerURL  string
	CheckInURL string
	// ProfileIdentifier is the PayloadIdentifier of the enrollment profile.
	ProfileIdentifier string
	// AccessToken is the bearer token of an account-driven enrollment,
	// sent on every MDM request.
	AccessToken string
	// Certificate is the identity obtained over SCEP or ACME.
	Certificate *x509.Certificate
	// Key is the identity's private key: an *rsa.PrivateKey from SCEP, an
	// *ecdsa.PrivateKey (the simulated Secure Enclave key) from ACME.
	Key crypto.Signer
	// Token and PushMagic are what TokenUpdate reported.
	Token     []byte
	PushMagic string
	// EnrollmentUserID names the user channel of a Mac whose profile
	// advertises per-user connections; empty otherwise. The user channel
	// checks in as EnrollmentID plus EnrollmentUserID, with its own push
	// token (UserToken, UserPushMagic) and with the bearer token of an
	// account-driven enrollment.
	EnrollmentUserID string
	UserToken        []byte
	UserPushMagic    string
	// CheckOutWhenRemoved is the MDM payload's key of that name.
	CheckOutWhenRemoved bool
	// SignMessage is the MDM payload's key of that name.
	SignMessage bool
	// ServerCapabilities is the MDM payload's key of that name; GetToken
	// needs com.apple.mdm.token in it.
	ServerCapabilities []string
}

// Device is a simulated iPhone. Create it with New. Its methods are safe for
// concurrent use; MDM requests (Poll, Remove) are serialised as on a real
// device.
type Device struct {
	opts     Options
	log      *slog.Logger
	base     *http.Client
	web      *http.Client
	deviceCA *DeviceCA
	rand     io.Reader

	wake chan struct{}

	idOnce sync.Once // the device identity, issued on first use
	idCert *x509.Certificate
	idKey  *rsa.PrivateKey
	idErr  error

	acmeKey *ecdsa.PrivateKey // the ACME account key of the last profile installed (d.mu)

	reqMu sync.Mutex // serialises MDM requests

	mu        sync.Mutex
	enr       *Enrollment
	client    *http.Client // MDM client (TLS identity when SignMessage is false)
	profiles  []installedProfile
	history   []CommandRecord
	pendingAT string // access token received before the profile was installed
	pendingID string // the Managed Apple Account that access token was issued for
	// removeRequested is set when the server sent RemoveProfile for the
	// enrollment profile: the poll that received it removes the enrollment.
	removeRequested bool
	retired         [][]byte // push tokens of removed enrollments
	ddm             ddmState // declarative management (declarative.go)
	// installing is the enrollment being installed, from its TokenUpdate
	// on: a push the server sends while answering it already reaches the
	// device, as APNs delivers it.
	installing *Enrollment
	loseNext   int // responses to lose in transit (LoseResponses)
}

// New returns a device configured by opts.
func New(opts Options) (*Device, error) {
	o := opts
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&o.ProductName, "iPhone15,4")
	def(&o.OSVersion, "17.5.1")
	def(&o.BuildVersion, "21F90")
	if isMacProduct(o.ProductName) {
		def(&o.DeviceName, "Mac")
	}
	def(&o.DeviceName, "iPhone")
	def(&o.Language, "en-US")
	if o.MaxPortalSteps <= 0 {
		o.MaxPortalSteps = 20
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	d := &Device{opts: o, rand: o.Rand, wake: make(chan struct{}, 1)}
	d.log = o.Logger
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.base = o.HTTPClient
	if d.base == nil {
		d.base = &http.Client{}
	}
	web := *d.base
	if web.Jar == nil {
		jar, err := cookiejar.New(nil)
		if err != nil {
			return nil, fmt.Errorf("devicesim: cookie jar: %w", err)
		}
		web.Jar = jar
	}
	next := d.base.CheckRedirect
	web.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if s := req.URL.Scheme; s != "http" && s != "https" {
			return http.ErrUseLastResponse // the account-driven hand-off
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	d.web = &web
	d.deviceCA = o.DeviceCA
	if d.deviceCA == nil {
		ca, err := NewDeviceCA()
		if err != nil {
			return nil, err
		}
		d.deviceCA = ca
	}
	return d, nil
}

// DeviceCA returns the certificate authority standing in for Apple's iPhone
// Device CA that issued this device's identity. Servers trust its Root to
// accept the device's account-driven enrollment request.
func (d *Device) DeviceCA() *DeviceCA { return d.deviceCA }

// Enrollment returns a copy of the current enrollment and true, or false when
// the device is not enrolled.
func (d *Device) Enrollment() (Enrollment, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.enr == nil {
		return Enrollment{}, false
	}
	e := *d.enr
	e.Token = append([]byte(nil), d.enr.Token...)
	e.UserToken = append([]byte(nil), d.enr.UserToken...)
	e.ServerCapabilities = slices.Clone(d.enr.ServerCapabilities)
	return e, true
}

// UserPushTarget returns what a push service needs to wake the user
// channel of an enrolled Mac, and false when there is none.
func (d *Device) UserPushTarget() (mdm.PushTarget, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	enr := d.pushable()
	if enr == nil || enr.EnrollmentUserID == "" {
		return mdm.PushTarget{}, false
	}
	return mdm.PushTarget{
		EnrollmentID: enr.EnrollmentID + ":" + enr.EnrollmentUserID,
		Token:        append([]byte(nil), enr.UserToken...),
		PushMagic:    enr.UserPushMagic,
		Topic:        enr.Topic,
	}, true
}

// IsMac reports whether the device is a Mac (see Options).
func (d *Device) IsMac() bool { return isMacProduct(d.opts.ProductName) }

// isMacProduct reports whether a hardware model identifier names a Mac.
func isMacProduct(p string) bool { return mdm.PlatformOf(p, "", "") == mdm.PlatformMacOS }

// PushTarget returns what a push service needs to wake this device (the
// values of its last TokenUpdate), and false when it is not enrolled. A fake
// push service compares the token of a push with Token and calls Push.
func (d *Device) PushTarget() (mdm.PushTarget, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	enr := d.pushable()
	if enr == nil {
		return mdm.PushTarget{}, false
	}
	return mdm.PushTarget{
		EnrollmentID: enr.EnrollmentID,
		Token:        append([]byte(nil), enr.Token...),
		PushMagic:    enr.PushMagic,
		Topic:        enr.Topic,
	}, true
}

// safariUserAgent is the User-Agent of Mobile Safari on the configured iOS
// version (also used by the web view of the account-driven flow).
func (d *Device) safariUserAgent() string {
	v := strings.ReplaceAll(d.opts.OSVersion, ".", "_")
	major := d.opts.OSVersion
	if i := strings.IndexByte(major, '.'); i >= 0 {
		if j := strings.IndexByte(major[i+1:], '.'); j >= 0 {
			major = major[:i+1+j]
		}
	}
	if d.IsMac() {
		// macOS Safari freezes the OS token at 10_15_7; its Version is
		// Safari's own (macOS 14 ships Safari 17, macOS 15 Safari 18, and
		// from macOS 26 the two agree).
		return "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/" + macSafariVersion(major) + " Safari/605.1.15"
	}
	if n, ok := d.osMajor(); ok && n >= 26 {
		// From iOS 26 the OS token is frozen at 18_6; Version carries the
		// release.
		v = "18_6"
	}
	return "Mozilla/5.0 (iPhone; CPU iPhone OS " + v + " like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/" + major + " Mobile/15E148 Safari/604.1"
}

// mdmUserAgent is the User-Agent of the iOS MDM client.
const mdmUserAgent = "MDM/1.0"

// readLimited reads at most limit bytes of r and fails if there is more.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("response larger than %d bytes", limit)
	}
	return b, nil
}

// httpError builds an HTTPError from resp, reading the start of its body.
func httpError(op string, resp *http.Response) *HTTPError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &HTTPError{Op: op, StatusCode: resp.StatusCode, Body: string(b)}
}

// randomUUID returns a random (version 4) UUID in upper case, as iOS
// writes them.
func (d *Device) randomUUID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(d.rand, b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])), nil
}

// hadToken reports whether token belonged to an enrollment since removed.
func (d *Device) hadToken(token []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range d.retired {
		if bytes.Equal(t, token) {
			return true
		}
	}
	return false
}

// macSafariVersion is the Safari version macOS release v ("14.5", "15.1",
// "26.0") ships with.
func macSafariVersion(v string) string {
	major, minor, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if err != nil || n >= 26 || n < 11 {
		return v
	}
	if minor == "" {
		minor = "0"
	}
	return strconv.Itoa(n+3) + "." + minor
}

// profileBasedUE reports whether the device's OS can still install a
// profile-based User Enrollment (a ManagedAppleID in the MDM payload):
// iOS and iPadOS up to 17, macOS up to 14 (Apple removed the key in
// iOS 18 and macOS 15).
func (d *Device) profileBasedUE() bool {
	n, ok := d.osMajor()
	if !ok {
		return true
	}
	if d.IsMac() {
		return n <= 14 && n >= 10
	}
	return n <= 17
}

// pushable is the enrollment pushes reach, with d.mu held: the installed
// one, or the one being installed from its TokenUpdate on.
func (d *Device) pushable() *Enrollment {
	if d.enr != nil {
		return d.enr
	}
	return d.installing
}

// osMajor is the major number of Options.OSVersion, and false when it is
// not a number.
func (d *Device) osMajor() (int, bool) {
	major, _, _ := strings.Cut(d.opts.OSVersion, ".")
	n, err := strconv.Atoi(major)
	return n, err == nil
}
