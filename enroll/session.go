package enroll

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Portal sessions.
//
// The portal binds a browser to exactly one enrollment with a cookie whose
// value is base64url(JSON payload) "." base64url(HMAC-SHA256(key, label ||
// payload)). The cookie holds no secret: only the enrollment's ID, which flow
// it belongs to, whether the user signed in in it, and when it expires. Everything else lives in the Store, so a
// stolen cookie is worth no more than the steps it allows, and a tampered or
// expired one sends the browser back to the start.

// sessionCookieName is the name of the portal's session cookie.
const sessionCookieName = "enrollkit_session"

// sessionMACLabel separates the portal's MACs from any other use of the key.
const sessionMACLabel = "enrollkit portal session v1\x00"

// minSessionKeyLen is the shortest session key NewPortal accepts.
const minSessionKeyLen = 32

// maxSessionCookieLen bounds the cookie value the portal is willing to decode.
const maxSessionCookieLen = 1024

// Flows a portal session can belong to.
const (
	flowProfile = "profile" // profile-based User Enrollment (Safari, .mobileconfig)
	flowAccount = "account" // account-driven User Enrollment (web view, access token)
)

var (
	errSessionMissing  = errors.New("enroll: no portal session")
	errSessionTampered = errors.New("enroll: portal session cookie is malformed or its signature does not match")
	errSessionExpired  = errors.New("enroll: portal session has expired")
)

// portalSession is the payload of the session cookie.
type portalSession struct {
	// Enrollment is the ID of the enrollment the browser is bound to.
	Enrollment string `json:"e"`
	// Flow is flowProfile or flowAccount.
	Flow string `json:"f"`
	// Expires is the Unix time after which the session is no longer honoured.
	Expires int64 `json:"x"`
	// Privacy is set once the privacy notice was acknowledged (the notice
	// is a portal page, not a state of the enrollment).
	Privacy bool `json:"p,omitempty"`
	// SignedIn is set once the user signed in with corporate credentials
	// in this session. A session opened on an enrollment past sign-in (a
	// new browser, or a web view without the first session's cookie) is
	// sent to sign in again before any later step.
	SignedIn bool `json:"a,omitempty"`
	// Browser is set once the user chose to continue the profile flow in
	// this browser although its User-Agent says the device enrolls from
	// Settings (an older device misread, or a company-owned one): the
	// portal then no longer leads it away from the flow.
	Browser bool `json:"b,omitempty"`
}

// sessionCodec signs and verifies session cookies.
type sessionCodec struct {
	key    []byte
	ttl    time.Duration
	path   string
	secure bool // the public URL is https: always set Secure
}

// mac returns the HMAC-SHA256 of payload under the codec's key.
func (c *sessionCodec) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(sessionMACLabel))
	m.Write(payload)
	return m.Sum(nil)
}

// encode returns the signed cookie value for s.
func (c *sessionCodec) encode(s portalSession) (string, error) {
	payload, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(c.mac(payload)), nil
}

// decode verifies value and returns its payload. The MAC is compared in
// constant time before the payload is parsed; a session whose expiry is not
// after now is refused with errSessionExpired.
func (c *sessionCodec) decode(value string, now time.Time) (portalSession, error) {
	var s portalSession
	if len(value) > maxSessionCookieLen {
		return s, errSessionTampered
	}
	p64, m64, ok := strings.Cut(value, ".")
	if !ok {
		return s, errSessionTampered
	}
	enc := base64.RawURLEncoding
	payload, err := enc.DecodeString(p64)
	if err != nil {
		return s, errSessionTampered
	}
	mac, err := enc.DecodeString(m64)
	if err != nil {
		return s, errSessionTampered
	}
	if !hmac.Equal(mac, c.mac(payload)) {
		return s, errSessionTampered
	}
	if err := json.Unmarshal(payload, &s); err != nil || s.Enrollment == "" {
		return portalSession{}, errSessionTampered
	}
	if s.Flow != flowProfile && s.Flow != flowAccount {
		return portalSession{}, errSessionTampered
	}
	if !now.Before(time.Unix(s.Expires, 0)) {
		return portalSession{}, errSessionExpired
	}
	return s, nil
}

// isSecure reports whether the cookie must carry the Secure attribute for r.
func (c *sessionCodec) isSecure(r *http.Request) bool {
	if c.secure || r.TLS != nil {
		return true
	}
	return false
}

// set writes a session cookie carrying s, valid for the codec's TTL from
// now (s.Expires is overwritten).
func (c *sessionCodec) set(w http.ResponseWriter, r *http.Request, now time.Time, s portalSession) error {
	exp := now.Add(c.ttl)
	s.Expires = exp.Unix()
	v, err := c.encode(s)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookieName,
		Value:    v,
		Path:     c.path,
		Expires:  exp,
		MaxAge:   int(c.ttl / time.Second),
		HttpOnly: true,
		Secure:   c.isSecure(r),
		SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// clear removes the session cookie from the browser.
func (c *sessionCodec) clear(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookieName,
		Value:    "",
		Path:     c.path,
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   c.isSecure(r),
		SameSite: http.SameSiteLaxMode,
	})
}

// get returns the verified session carried by r.
func (c *sessionCodec) get(r *http.Request, now time.Time) (portalSession, error) {
	ck, err := r.Cookie(sessionCookieName)
	if err != nil {
		return portalSession{}, errSessionMissing
	}
	return c.decode(ck.Value, now)
}
