package devicesim

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"howett.net/plist"

	"github.com/enrollkit/enrollkit/internal/httpauth"
	"github.com/enrollkit/enrollkit/profile"
)

// WellKnownError is a refusal by the account-driven discovery endpoint: its
// status and, when the body is Apple's failure document, its fields.
type WellKnownError struct {
	StatusCode  int
	Code        string
	Description string
	Message     string
}

// Error describes the refusal.
func (e *WellKnownError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("devicesim: well-known answered %d %s: %s", e.StatusCode, e.Code, e.Description)
	}
	return fmt.Sprintf("devicesim: well-known answered %d", e.StatusCode)
}

// Unwrap returns ErrUnexpectedResponse.
func (e *WellKnownError) Unwrap() error { return ErrUnexpectedResponse }

// Challenge is one parsed WWW-Authenticate challenge.
type Challenge struct {
	// Scheme is the authentication scheme as sent ("Bearer").
	Scheme string
	// Params are the challenge's parameters; names are lower-cased.
	Params map[string]string
}

// ParseWWWAuthenticate parses a WWW-Authenticate header value into its
// challenges (RFC 9110 §11.6.1) with the parser the enroll package reads
// its own challenges with. Parameters may be separated by commas or, as
// some servers send them, by spaces only; values may be tokens, bare URLs
// or quoted strings with backslash escapes. token68 credentials are kept
// under the parameter name "".
func ParseWWWAuthenticate(v string) ([]Challenge, error) {
	chs, err := httpauth.ParseChallenges(v)
	if err != nil {
		return nil, fmt.Errorf("devicesim: WWW-Authenticate: %w", err)
	}
	out := make([]Challenge, len(chs))
	for i, c := range chs {
		out[i] = Challenge(c)
	}
	return out, nil
}

// asWebURL finds the URL of a Bearer method="apple-as-web" challenge among
// the response's WWW-Authenticate headers.
func asWebURL(h http.Header) (string, error) {
	for _, v := range h.Values("WWW-Authenticate") {
		chs, err := ParseWWWAuthenticate(v)
		if err != nil {
			continue
		}
		for _, ch := range chs {
			if strings.EqualFold(ch.Scheme, "Bearer") && ch.Params["method"] == "apple-as-web" && ch.Params["url"] != "" {
				return ch.Params["url"], nil
			}
		}
	}
	return "", ErrBadChallenge
}

// wellKnownServer is one entry of the discovery document.
type wellKnownServer struct {
	Version string `json:"Version"`
	BaseURL string `json:"BaseURL"`
}

// Discover fetches https://<domain>/.well-known/com.apple.remotemanagement
// for userIdentifier (a Managed Apple Account; domain is the part after the @
// unless given) and returns the BaseURL of its mdm-byod server. baseURL, if
// not empty, replaces "https://<domain>" (tests use an httptest server's URL).
func (d *Device) Discover(ctx context.Context, userIdentifier, baseURL string) (string, error) {
	if baseURL == "" {
		at := strings.LastIndexByte(userIdentifier, '@')
		if at < 0 || at == len(userIdentifier)-1 {
			return "", fmt.Errorf("devicesim: well-known: %q has no domain", userIdentifier)
		}
		baseURL = "https://" + userIdentifier[at+1:]
	}
	family := "iPhone"
	if d.IsMac() {
		family = "Mac"
	}
	q := url.Values{"user-identifier": {userIdentifier}, "model-family": {family}}
	u := strings.TrimRight(baseURL, "/") + "/.well-known/com.apple.remotemanagement?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("devicesim: well-known: %w", err)
	}
	req.Header.Set("User-Agent", d.systemUserAgent())
	req.Header.Set("Accept", "application/json")
	resp, err := d.base.Do(req) // follows redirects without re-adding the query
	if err != nil {
		return "", fmt.Errorf("devicesim: well-known: %w", err)
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body, maxPageBytes)
	if err != nil {
		return "", fmt.Errorf("devicesim: well-known: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &WellKnownError{StatusCode: resp.StatusCode}
		var doc struct{ Code, Description, Message string }
		if json.Unmarshal(body, &doc) == nil {
			e.Code, e.Description, e.Message = doc.Code, doc.Description, doc.Message
		}
		return "", e
	}
	var doc struct {
		Servers []wellKnownServer `json:"Servers"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("devicesim: well-known: %w", err)
	}
	for _, s := range doc.Servers {
		if s.Version == "mdm-byod" && s.BaseURL != "" {
			if _, err := url.Parse(s.BaseURL); err != nil {
				return "", fmt.Errorf("devicesim: well-known: BaseURL: %w", err)
			}
			return s.BaseURL, nil
		}
	}
	return "", ErrNoBYODServer
}

// systemUserAgent is the User-Agent of iOS system services (Settings,
// the enrollment daemon).
func (d *Device) systemUserAgent() string {
	if d.IsMac() {
		return "System%20Settings/1.0 CFNetwork/1568.200.51 Darwin/24.1.0"
	}
	return "Settings/1.0 CFNetwork/1496.0.7 Darwin/23.5.0"
}

// machineInfo is the plist the device signs and posts to BaseURL.
type machineInfo struct {
	Language  string `plist:"LANGUAGE"`
	OSVersion string `plist:"OS_VERSION"`
	Product   string `plist:"PRODUCT"`
	Version   string `plist:"VERSION"`
}

// signedMachineInfo returns the CMS-signed enrollment request body, signed
// by a device identity issued by the DeviceCA with its intermediate
// included.
func (d *Device) signedMachineInfo() ([]byte, error) {
	body, err := plist.Marshal(machineInfo{
		Language: d.opts.Language, OSVersion: d.opts.OSVersion,
		Product: d.opts.ProductName, Version: d.opts.BuildVersion,
	}, plist.XMLFormat)
	if err != nil {
		return nil, fmt.Errorf("devicesim: machine info: %w", err)
	}
	cert, key, err := d.deviceIdentity()
	if err != nil {
		return nil, err
	}
	out, err := profile.Sign(body, key, []*x509.Certificate{cert, d.deviceCA.Intermediate})
	if err != nil {
		return nil, fmt.Errorf("devicesim: machine info: %w", err)
	}
	return out, nil
}

// RequestProfile runs account-driven enrollment up to the profile: discovery
// for userIdentifier (see Discover for baseURL), the signed POST to BaseURL,
// the web authentication its 401 names (walking the portal with c), and the
// POST with the bearer token. It returns the profile as served; Install it
// next. The access token is kept for the enrollment's MDM requests.
func (d *Device) RequestProfile(ctx context.Context, userIdentifier, baseURL string, c Credentials) ([]byte, error) {
	enrollURL, err := d.Discover(ctx, userIdentifier, baseURL)
	if err != nil {
		return nil, err
	}
	body, err := d.signedMachineInfo()
	if err != nil {
		return nil, err
	}
	resp, err := d.postEnroll(ctx, enrollURL, body, "")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusUnauthorized {
		defer resp.Body.Close()
		return nil, httpError("enroll without token", resp)
	}
	authURL, err := asWebURL(resp.Header)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(authURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%w: url %q is not an http(s) URL", ErrBadChallenge, authURL)
	}
	q := u.Query()
	q.Set("user-identifier", userIdentifier)
	u.RawQuery = q.Encode()
	d.log.InfoContext(ctx, "devicesim: web authentication", "url", u.Redacted())
	res, err := d.walkPortal(ctx, u.String(), c)
	if err != nil {
		return nil, err
	}
	if res.accessToken == "" {
		return nil, fmt.Errorf("%w: web authentication served a profile instead of handing off a token", ErrPortalFlow)
	}
	resp, err = d.postEnroll(ctx, enrollURL, body, res.accessToken)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || mt != profileContentType {
		return nil, httpError("enroll with token", resp)
	}
	prof, err := readLimited(resp.Body, maxProfileBytes)
	if err != nil {
		return nil, fmt.Errorf("devicesim: enroll with token: %w", err)
	}
	d.mu.Lock()
	d.pendingAT, d.pendingID = res.accessToken, userIdentifier
	d.mu.Unlock()
	return prof, nil
}

func (d *Device) postEnroll(ctx context.Context, enrollURL string, body []byte, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, enrollURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("devicesim: enroll: %w", err)
	}
	req.Header.Set("Content-Type", "application/pkcs7-signature")
	req.Header.Set("User-Agent", d.systemUserAgent())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := d.base.Do(req)
	if err != nil {
		return nil, fmt.Errorf("devicesim: enroll: %w", err)
	}
	return resp, nil
}

// EnrollWithAccount runs the whole account-driven User Enrollment:
// RequestProfile then Install.
func (d *Device) EnrollWithAccount(ctx context.Context, userIdentifier, baseURL string, c Credentials) error {
	prof, err := d.RequestProfile(ctx, userIdentifier, baseURL, c)
	if err != nil {
		return err
	}
	return d.Install(ctx, prof)
}

// DownloadProfile runs the profile-based flow up to the profile: it opens
// invitationURL like Safari, fills each portal step with c, follows the
// download link and returns the profile as served. Install it next.
func (d *Device) DownloadProfile(ctx context.Context, invitationURL string, c Credentials) ([]byte, error) {
	res, err := d.walkPortal(ctx, invitationURL, c)
	if err != nil {
		return nil, err
	}
	if res.profile == nil {
		return nil, fmt.Errorf("%w: portal handed off an access token instead of serving a profile", ErrPortalFlow)
	}
	return res.profile, nil
}

// EnrollWithInvitation runs the whole profile-based User Enrollment:
// DownloadProfile then Install.
func (d *Device) EnrollWithInvitation(ctx context.Context, invitationURL string, c Credentials) error {
	prof, err := d.DownloadProfile(ctx, invitationURL, c)
	if err != nil {
		return err
	}
	return d.Install(ctx, prof)
}
