package enroll

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mozilla.org/pkcs7"

	"github.com/enrollkit/enrollkit/internal/ber"
	"github.com/enrollkit/enrollkit/internal/httpauth"
	"github.com/enrollkit/enrollkit/internal/plistcheck"
)

// Account-driven User Enrollment, device side of the wire: the signed
// MachineInfo body the device posts to the BaseURL and the Bearer challenge
// the server answers with. The handler that ties them to the Service is
// Portal's enrollment endpoint (see portal.go).

// maxMachineInfoSize bounds the body the enrollment endpoint reads from a
// device. A real MachineInfo (a small plist wrapped in CMS SignedData with the
// device's certificate chain) is a few kilobytes.
const maxMachineInfoSize = 64 << 10

// BearerChallengeMethodWeb is the method value that asks the device to show
// the portal in a web view (ASWebAuthenticationSession).
const BearerChallengeMethodWeb = "apple-as-web"

// AccessTokenCallbackURL is the URL the portal redirects to (308) at the end of
// account-driven enrollment; the access token is added as the access-token
// query parameter.
const AccessTokenCallbackURL = "apple-remotemanagement-user-login://authentication-results"

// machineInfo is what a device tells the enrollment endpoint about itself when
// it asks for its enrollment profile. Under User Enrollment the device sends
// no UDID, serial number, IMEI or MEID, and none is kept here.
type machineInfo struct {
	// Product is the device's product type, such as "iPhone16,1" (PRODUCT).
	Product string
	// Version is the OS build version, such as "22B83" (VERSION).
	Version string
	// OSVersion is the OS version, such as "18.1" (OS_VERSION, iOS 17+).
	OSVersion string
	// SupplementalBuildVersion is the rapid security response build, if any
	// (SUPPLEMENTAL_BUILD_VERSION).
	SupplementalBuildVersion string
	// SupplementalOSVersionExtra is the rapid security response version
	// suffix, if any (SUPPLEMENTAL_OS_VERSION_EXTRA).
	SupplementalOSVersionExtra string
	// Language is the user's selected language, such as "en" (LANGUAGE).
	Language string
	// SoftwareUpdateDeviceID is the model identifier used to look up OS
	// updates (SOFTWARE_UPDATE_DEVICE_ID).
	SoftwareUpdateDeviceID string
	// CanRequestSoftwareUpdate reports MDM_CAN_REQUEST_SOFTWARE_UPDATE.
	CanRequestSoftwareUpdate bool
	// Signer is the certificate that signed the body (the device identity).
	Signer *x509.Certificate
}

// machineInfoOptions control how parseMachineInfo verifies a body.
type machineInfoOptions struct {
	// Roots, if not nil, are the CAs the signer must chain to under
	// crypto/x509's path validation. When Roots and Pinned are both empty
	// only the CMS signature itself is checked: the body is then proven
	// intact but not proven to come from a genuine Apple device.
	Roots *x509.CertPool
	// Pinned, if not empty, are certificates the signer must chain to by
	// signature alone, through the intermediates carried in the CMS
	// structure and Intermediates: validity dates are not checked and SHA-1
	// signatures are accepted. That is how Apple's device CA (see
	// AppleDeviceCAs) has to be checked. Pinned and Roots are both checked
	// when both are set.
	Pinned []*x509.Certificate
	// Intermediates are extra intermediate certificates for chain building,
	// in addition to those carried in the CMS structure.
	Intermediates []*x509.Certificate
	// Now is the time the chain is verified at; zero means time.Now.
	Now time.Time
}

// machineInfoError reports a MachineInfo body that cannot be accepted. It
// matches ErrInvalidInput.
type machineInfoError struct {
	// Reason says what is wrong, in words fit for a log line.
	Reason string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error.
func (e *machineInfoError) Error() string {
	if e.Err != nil {
		return "enroll: machine info: " + e.Reason + ": " + e.Err.Error()
	}
	return "enroll: machine info: " + e.Reason
}

// Unwrap returns ErrInvalidInput and the underlying error, if any.
func (e *machineInfoError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidInput, e.Err}
	}
	return []error{ErrInvalidInput}
}

// parseMachineInfo verifies the CMS SignedData body a device posts to the
// BaseURL (Content-Type application/pkcs7-signature) and decodes the plist it
// carries. It returns a *machineInfoError when the body is too large, is not
// CMS, has no content or signer, fails signature (or, with opts.Roots, chain)
// verification, or with opts.Pinned does not chain to a pinned certificate,
// or does not hold a plist dictionary.
func parseMachineInfo(body []byte, opts machineInfoOptions) (*machineInfo, error) {
	if len(body) == 0 {
		return nil, &machineInfoError{Reason: "empty body"}
	}
	if len(body) > maxMachineInfoSize {
		return nil, &machineInfoError{Reason: fmt.Sprintf("body larger than %d bytes", maxMachineInfoSize)}
	}
	p7, err := parsePKCS7(body)
	if err != nil {
		return nil, &machineInfoError{Reason: "not a CMS signed message", Err: err}
	}
	if len(p7.Content) == 0 {
		return nil, &machineInfoError{Reason: "signed message carries no content"}
	}
	if len(p7.Signers) != 1 {
		return nil, &machineInfoError{Reason: fmt.Sprintf("want exactly one signer, found %d", len(p7.Signers))}
	}
	if err := p7.Verify(); err != nil {
		return nil, &machineInfoError{Reason: "signature does not verify", Err: err}
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return nil, &machineInfoError{Reason: "signer certificate missing"}
	}
	if len(opts.Pinned) > 0 {
		inter := append(slices.Clone(opts.Intermediates), p7.Certificates...)
		if err := verifyPinned(signer, opts.Pinned, inter); err != nil {
			return nil, &machineInfoError{Reason: "signer does not chain to a pinned device CA", Err: err}
		}
	}
	if opts.Roots != nil {
		inter := x509.NewCertPool()
		for _, c := range p7.Certificates {
			if c != signer {
				inter.AddCert(c)
			}
		}
		for _, c := range opts.Intermediates {
			inter.AddCert(c)
		}
		now := opts.Now
		if now.IsZero() {
			now = time.Now()
		}
		if _, err := signer.Verify(x509.VerifyOptions{
			Roots:         opts.Roots,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		}); err != nil {
			return nil, &machineInfoError{Reason: "signer does not chain to a trusted device CA", Err: err}
		}
	}
	// The content is decoded only once its signature (and, with Roots, its
	// signer) verified. It decodes into a map[string]any: a binary plist
	// with shared containers, deeply nested XML, or values packed denser
	// than a device writes them would cost the decoder far more than its
	// size.
	var raw map[string]any
	if _, err := plistcheck.Unmarshal(p7.Content, &raw); err != nil {
		reason := "content is not a plist dictionary"
		if _, costly := errors.AsType[*plistcheck.Error](err); costly {
			reason = "content is too costly to decode"
		}
		return nil, &machineInfoError{Reason: reason, Err: err}
	}
	mi := &machineInfo{
		Product:                    plistString(raw["PRODUCT"]),
		Version:                    plistString(raw["VERSION"]),
		OSVersion:                  plistString(raw["OS_VERSION"]),
		SupplementalBuildVersion:   plistString(raw["SUPPLEMENTAL_BUILD_VERSION"]),
		SupplementalOSVersionExtra: plistString(raw["SUPPLEMENTAL_OS_VERSION_EXTRA"]),
		Language:                   plistString(raw["LANGUAGE"]),
		SoftwareUpdateDeviceID:     plistString(raw["SOFTWARE_UPDATE_DEVICE_ID"]),
		Signer:                     signer,
	}
	switch v := raw["MDM_CAN_REQUEST_SOFTWARE_UPDATE"].(type) {
	case bool:
		mi.CanRequestSoftwareUpdate = v
	case string:
		mi.CanRequestSoftwareUpdate, _ = strconv.ParseBool(v)
	}
	return mi, nil
}

// maxMachineInfoDepth bounds the nesting of the CMS structure around a
// MachineInfo; CMS SignedData with certificates nests about a dozen levels.
const maxMachineInfoDepth = 32

// parsePKCS7 parses CMS data, turning a panic of the parser on hostile input
// into an error. Devices may stream the body as BER, with the content cut
// into chunks; the CMS library would keep only the first chunk of it, so the
// body is converted to DER first, within maxMachineInfoSize and
// maxMachineInfoDepth.
func parsePKCS7(body []byte) (p7 *pkcs7.PKCS7, err error) {
	defer func() {
		if r := recover(); r != nil {
			p7, err = nil, fmt.Errorf("malformed CMS structure: %v", r)
		}
	}()
	der, err := ber.ToDER(body, ber.Limits{MaxBytes: maxMachineInfoSize, MaxDepth: maxMachineInfoDepth})
	if err != nil {
		return nil, err
	}
	return pkcs7.Parse(der)
}

// plistString returns v when it is a string and "" otherwise.
func plistString(v any) string {
	s, _ := v.(string)
	return s
}

// BearerChallenge is a parsed WWW-Authenticate Bearer challenge, the answer of
// an account-driven enrollment server to a device that has not yet
// authenticated.
type BearerChallenge struct {
	// Method is the method parameter: "apple-as-web" or "apple-oauth2".
	Method string
	// URL is the url parameter: where the device shows the portal.
	URL string
	// Params holds every parameter of the challenge, keys in lower case.
	Params map[string]string
}

// String formats c as a WWW-Authenticate header value with comma separated
// parameters, method and url first. Method and URL are written when set or
// present in Params; they take precedence over Params.
func (c BearerChallenge) String() string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	add := func(k, v string) {
		b.WriteString(sep)
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(quoteHTTP(v))
		sep = ", "
	}
	if _, ok := c.Params["method"]; ok || c.Method != "" {
		add("method", c.Method)
	}
	if _, ok := c.Params["url"]; ok || c.URL != "" {
		add("url", c.URL)
	}
	keys := make([]string, 0, len(c.Params))
	for k := range c.Params {
		if k != "method" && k != "url" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		add(k, c.Params[k])
	}
	return b.String()
}

// quoteHTTP returns v as an RFC 9110 quoted-string.
func quoteHTTP(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
	return b.String()
}

// maxChallengeLen bounds the header ParseBearerChallenge is willing to parse.
const maxChallengeLen = httpauth.MaxHeaderLen

// ParseBearerChallenge parses a WWW-Authenticate header value and returns its
// first Bearer challenge. Parameters may be separated by commas, by spaces,
// or both (Apple's sample uses commas; some servers send spaces only);
// values may be tokens, bare URLs or quoted strings with backslash escapes.
// Other challenges in the same header are skipped, but must be well formed.
// Errors match ErrInvalidInput.
func ParseBearerChallenge(header string) (BearerChallenge, error) {
	chs, err := httpauth.ParseChallenges(header)
	if err != nil {
		return BearerChallenge{}, fmt.Errorf("%w: WWW-Authenticate: %w", ErrInvalidInput, err)
	}
	for _, ch := range chs {
		if !strings.EqualFold(ch.Scheme, "Bearer") {
			continue
		}
		if _, t68 := ch.Params[""]; t68 {
			return BearerChallenge{}, fmt.Errorf("%w: WWW-Authenticate: a Bearer challenge takes parameters, not a token68", ErrInvalidInput)
		}
		return BearerChallenge{Method: ch.Params["method"], URL: ch.Params["url"], Params: ch.Params}, nil
	}
	return BearerChallenge{}, fmt.Errorf("%w: WWW-Authenticate: no Bearer challenge", ErrInvalidInput)
}
