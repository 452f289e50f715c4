package enroll

import (
	"fmt"
	"net/url"
	"strings"
)

// WellKnownPath is the path, at the root of the Managed Apple Account's
// domain, where a device discovers the account-driven enrollment server.
const WellKnownPath = "/.well-known/com.apple.remotemanagement"

// Server versions a well-known answer may name.
const (
	// WellKnownVersionBYOD names account-driven User Enrollment.
	WellKnownVersionBYOD = "mdm-byod"
	// WellKnownVersionADDE names account-driven Device Enrollment.
	WellKnownVersionADDE = "mdm-adde"
)

// WellKnownFailedCode is the code of the JSON body that refuses discovery
// (honoured by iOS 17.5 and later).
const WellKnownFailedCode = "com.apple.well-known.failed"

// maxUserIdentifierLen bounds a user-identifier (an email address fits in 254
// bytes; leave room for odd but valid local parts).
const maxUserIdentifierLen = 320

// WellKnownQuery is the query of a device's discovery request.
type WellKnownQuery struct {
	// UserIdentifier is the Managed Apple Account the user typed, such as
	// "jane@example.com".
	UserIdentifier string
	// ModelFamily is the kind of device asking: iPhone, iPad, Mac, AppleTV,
	// Watch or RealityDevice. It may be empty; other values are kept as
	// sent.
	ModelFamily string
}

// Domain returns the part of the user-identifier after the last '@', in
// lower case.
func (q WellKnownQuery) Domain() string {
	i := strings.LastIndexByte(q.UserIdentifier, '@')
	return strings.ToLower(q.UserIdentifier[i+1:])
}

// ParseWellKnownQuery parses the raw query of a discovery request. The
// user-identifier must appear once and look like an account name
// (local@domain, no spaces or control characters, at most 320 bytes); a
// model-family, when present, must be a short alphanumeric word. Errors match
// ErrInvalidInput.
func ParseWellKnownQuery(rawQuery string) (WellKnownQuery, error) {
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return WellKnownQuery{}, fmt.Errorf("%w: well-known query: %v", ErrInvalidInput, err)
	}
	ids := vals["user-identifier"]
	if len(ids) != 1 {
		return WellKnownQuery{}, fmt.Errorf("%w: well-known query: want one user-identifier, got %d", ErrInvalidInput, len(ids))
	}
	id, err := checkUserIdentifier(ids[0])
	if err != nil {
		return WellKnownQuery{}, err
	}
	q := WellKnownQuery{UserIdentifier: id}
	if mf := vals["model-family"]; len(mf) > 0 {
		if len(mf) > 1 {
			return WellKnownQuery{}, fmt.Errorf("%w: well-known query: model-family repeated", ErrInvalidInput)
		}
		if !isModelFamily(mf[0]) {
			return WellKnownQuery{}, fmt.Errorf("%w: well-known query: model-family %q is not a model family", ErrInvalidInput, truncate(mf[0], 40))
		}
		q.ModelFamily = mf[0]
	}
	return q, nil
}

// checkUserIdentifier validates a Managed Apple Account name and returns it
// trimmed of surrounding spaces.
func checkUserIdentifier(id string) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return "", fmt.Errorf("%w: well-known query: empty user-identifier", ErrInvalidInput)
	}
	if len(id) > maxUserIdentifierLen {
		return "", fmt.Errorf("%w: well-known query: user-identifier longer than %d bytes", ErrInvalidInput, maxUserIdentifierLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c == 0x7f {
			return "", fmt.Errorf("%w: well-known query: user-identifier contains a space or control character", ErrInvalidInput)
		}
	}
	at := strings.LastIndexByte(id, '@')
	if at <= 0 || at == len(id)-1 {
		return "", fmt.Errorf("%w: well-known query: user-identifier is not of the form name@domain", ErrInvalidInput)
	}
	domain := id[at+1:]
	if strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", fmt.Errorf("%w: well-known query: user-identifier has a malformed domain", ErrInvalidInput)
	}
	for i := 0; i < len(domain); i++ {
		c := domain[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c >= 0x80) {
			return "", fmt.Errorf("%w: well-known query: user-identifier has a malformed domain", ErrInvalidInput)
		}
	}
	return id, nil
}

// isModelFamily reports whether s is a plausible model-family value.
func isModelFamily(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// truncate shortens s to at most n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// wellKnownServer is one entry of a successful discovery answer.
type wellKnownServer struct {
	// Version is WellKnownVersionBYOD or WellKnownVersionADDE.
	Version string `json:"Version"`
	// BaseURL is where the device posts its MachineInfo.
	BaseURL string `json:"BaseURL"`
}

// wellKnownResponse is the JSON body of a successful discovery answer.
type wellKnownResponse struct {
	// Servers lists the enrollment servers, usually exactly one.
	Servers []wellKnownServer `json:"Servers"`
}

// wellKnownError is the JSON body of a refused discovery (status 403).
type wellKnownError struct {
	// Code is WellKnownFailedCode.
	Code string `json:"code"`
	// Description is for logs and administrators.
	Description string `json:"description"`
	// Message is shown to the user on the device.
	Message string `json:"message"`
}
