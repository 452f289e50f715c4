package enroll

import (
	"crypto/x509"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Portal paths, relative to the Service's Config.PortalURL. The invitation
// path matches the links the Service builds from it.
const (
	portalPathInvitation = "invitation/"      // + token; + token + "/qr.png"
	portalPathAccount    = "account/start"    // account-driven web view entry (?user-identifier=)
	portalPathBaseURL    = "account/enroll"   // account-driven BaseURL (device POST)
	portalPathProfile    = "profile/"         // + download token
	portalPathContinue   = "continue"         // sends the browser to its current step
	portalPathFinish     = "account/finish"   // account-driven hand-off (POST)
	portalPathSignIn     = "signin"           // corporate sign-in and ownership
	portalPathPrivacy    = "privacy"          // privacy notice (employee ownership)
	portalPathPasscode   = "passcode"         // one-time passcode
	portalPathInfo       = "info"             // the three-step information screen
	portalPathTerms      = "terms"            // terms of use
	portalPathDownload   = "download"         // the profile download link
	portalPathHandoff    = "account/complete" // account-driven: ready to hand off
)

// Defaults of PortalConfig.
const (
	// DefaultSessionTTL is how long a portal session lasts without a step.
	DefaultSessionTTL = time.Hour
	// DefaultTermsVersion and DefaultTermsText are shown when the
	// Service's Config.Terms has no version.
	DefaultTermsVersion = "enrollkit-1"
)

// DefaultTermsText is the terms text shown when the Service's Config.Terms
// has no version. Hosts should set their own.
const DefaultTermsText = `By enrolling this device you allow your organization to manage a separate work area on it.

Your organization can install, configure and remove work apps, accounts and settings in that area, and can remove the work area with all work data at any time.

Your organization cannot see or erase your personal apps, data, photos, messages or location.

You can end the enrollment at any time by removing the work profile in Settings.`

// PortalConfig configures a Portal. SessionKey is required; every other
// field has a documented default. The portal's public URL is the Service's
// Config.PortalURL: one setting for the invitation links and the portal
// they land on.
type PortalConfig struct {
	// SessionKey is the HMAC-SHA256 key of the session cookie, at least 32
	// random bytes. Replicas behind one load balancer share it. Required.
	SessionKey []byte
	// SessionTTL is how long a portal session lasts; zero means
	// DefaultSessionTTL.
	SessionTTL time.Duration

	// Organization is the name shown on every page; empty means
	// "Your organization".
	Organization string
	// Lang is the pages' language tag; empty means "en".
	Lang string
	// Templates, if not nil, overrides page templates: a file named like
	// one of the embedded templates (layout.html, signin.html,
	// settings.html, privacy.html, passcode.html, info.html, terms.html,
	// download.html, complete.html, error.html) replaces it. Page files define "title"
	// and "main"; layout.html defines "layout". The inline <style> needs
	// nonce="{{.Nonce}}" to pass the Content-Security-Policy.
	Templates fs.FS

	// DeviceRoots, if not nil, are the CAs the signer of a device's
	// MachineInfo (account-driven enrollment) must chain to under
	// crypto/x509's path validation: a development or simulated device CA.
	// Nil means Apple's device CAs (AppleDeviceCAs), pinned and checked by
	// signature (their intermediates have expired, yet devices still sign
	// under them), which is what genuine devices need.
	DeviceRoots *x509.CertPool
	// DeviceIntermediates are extra intermediates for that chain.
	DeviceIntermediates []*x509.Certificate
	// InsecureSkipDeviceChainCheck accepts any MachineInfo whose CMS
	// signature verifies, whoever issued the signer: the body is then proven
	// intact but not proven to come from an Apple device. It is for
	// experiments only and cannot be combined with DeviceRoots.
	InsecureSkipDeviceChainCheck bool

	// TrustedOrigins are origins (scheme://host[:port]) besides the public
	// URL's that may post to the portal's forms. The public URL's origin
	// is always trusted, also when a proxy rewrites the Host header.
	TrustedOrigins []string
	// ClientIP returns the client address recorded in the audit trail;
	// nil means the host part of the request's RemoteAddr. Set it when a
	// trusted proxy forwards the address.
	ClientIP func(*http.Request) string
	// WellKnownMessage is shown on the device when account-driven
	// discovery is refused; empty means a generic sentence.
	WellKnownMessage string

	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
}

// Portal is the web side of enrollment: an http.Handler serving the
// invitation link (and its QR code), sign-in with corporate credentials and
// the ownership choice, the privacy notice, the passcode step, the
// information screen, the terms, and the profile download of profile-based
// User Enrollment; and for account-driven User Enrollment the BaseURL the
// device posts to, the same steps in the device's web view, and the hand-off
// of the access token. WellKnownHandler serves discovery.
//
// The invitation link leads each device to the way its release can enroll,
// read from the browser's User-Agent: iOS and iPadOS 13.1 to 17 sign in and
// download the profile; iOS and iPadOS 18 and later, which cannot install a
// profile-based User Enrollment, get the account-driven steps (Settings →
// General → VPN & Device Management → Sign In to Work or School Account, with
// the user's Managed Apple Account) instead of the sign-in form. Safari 18 or
// later on a Mac-like User-Agent may be a Mac or an iPad asking for desktop
// sites (iPadOS Safari's default), which the User-Agent cannot tell apart:
// it gets the Settings steps of both, since every iPad there and every Mac
// from macOS 14 can enroll that way. Either page offers to continue in the
// browser anyway, for an older device misread; a browser the portal cannot
// place gets the sign-in form with a note about the Settings path. The
// account-driven web view is never led away: it is told apart by the URL
// the device was sent to, not by its User-Agent.
//
// Handlers only decode requests, call the Service, and map its errors to
// statuses: 400 malformed form, 401 wrong credentials or passcode, 403 wrong
// state, revoked, refused cross-origin POST, or a navigation from another
// site to the download step (the one GET that changes an enrollment: it
// issues a new link), 404 unknown link, 405 HEAD on the routes that issue or
// spend a download link, 409 conflicting change or a profile download from
// an iPhone or iPad whose release cannot install a profile-based User
// Enrollment (the link is not spent), 410 expired or used link, 423 locked, 429 sign-in throttled (with Retry-After; the credentials
// were not checked), 500 otherwise.
// Every page is rendered with a friendly message; errors are in an element
// with role="alert".
//
// Mount it at the path of the Service's Config.PortalURL (with or without
// http.StripPrefix). A Portal is safe for concurrent use.
type Portal struct {
	svc          *Service
	base         *url.URL // the Service's PortalURL, path ending in "/"
	prefix       string   // base.Path without the trailing "/"
	sessions     *sessionCodec
	templates    map[string]*template.Template
	organization string
	lang         string
	deviceOpts   machineInfoOptions
	clientIP     func(*http.Request) string
	wkMessage    string
	logger       *slog.Logger
	handler      http.Handler
}

// NewPortal returns a Portal running the steps of svc at svc's
// Config.PortalURL. It fails when svc is nil or has no PortalURL, the session
// key is shorter than 32 bytes, DeviceRoots is set together with
// InsecureSkipDeviceChainCheck, a trusted origin is malformed, or a template
// does not parse.
func NewPortal(svc *Service, cfg PortalConfig) (*Portal, error) {
	if svc == nil {
		return nil, errors.New("enroll: NewPortal: nil Service")
	}
	if svc.cfg.PortalURL == "" {
		return nil, errors.New("enroll: NewPortal: the Service's Config.PortalURL is required: it is the portal's public URL")
	}
	base, err := parsePortalURL(svc.cfg.PortalURL)
	if err != nil {
		return nil, fmt.Errorf("enroll: NewPortal: %w", err)
	}
	if cfg.InsecureSkipDeviceChainCheck && cfg.DeviceRoots != nil {
		return nil, errors.New("enroll: NewPortal: DeviceRoots and InsecureSkipDeviceChainCheck contradict each other")
	}
	deviceOpts := machineInfoOptions{Roots: cfg.DeviceRoots, Intermediates: cfg.DeviceIntermediates}
	if cfg.DeviceRoots == nil && !cfg.InsecureSkipDeviceChainCheck {
		deviceOpts.Pinned = appleDeviceCAs()
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	base.RawPath = ""
	if len(cfg.SessionKey) < minSessionKeyLen {
		return nil, fmt.Errorf("enroll: NewPortal: SessionKey must be at least %d bytes", minSessionKeyLen)
	}
	ttl := cfg.SessionTTL
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	tmpl, err := loadTemplates(cfg.Templates)
	if err != nil {
		return nil, err
	}
	p := &Portal{
		svc:  svc,
		base: base,
		sessions: &sessionCodec{
			key:    append([]byte(nil), cfg.SessionKey...),
			ttl:    ttl,
			path:   base.Path,
			secure: base.Scheme == "https",
		},
		templates:    tmpl,
		organization: cfg.Organization,
		lang:         cfg.Lang,
		deviceOpts:   deviceOpts,
		clientIP:     cfg.ClientIP,
		wkMessage:    cfg.WellKnownMessage,
		logger:       cfg.Logger,
	}
	p.prefix = strings.TrimSuffix(base.Path, "/")
	if p.organization == "" {
		p.organization = "Your organization"
	}
	if p.lang == "" {
		p.lang = "en"
	}
	if p.clientIP == nil {
		p.clientIP = remoteHost
	}
	if p.wkMessage == "" {
		p.wkMessage = "This account cannot enroll a device here. Ask your IT department for an invitation."
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.InsecureSkipDeviceChainCheck {
		p.logger.Warn("enroll: InsecureSkipDeviceChainCheck: account-driven requests are accepted from any signer, not only Apple devices")
	}

	csrf := http.NewCrossOriginProtection()
	// The portal's own public origin is trusted even when a proxy in front
	// rewrites the Host header the protection compares Origin with.
	if err := csrf.AddTrustedOrigin(base.Scheme + "://" + base.Host); err != nil {
		return nil, fmt.Errorf("enroll: NewPortal: PortalURL origin: %w", err)
	}
	for _, o := range cfg.TrustedOrigins {
		if err := csrf.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("enroll: NewPortal: trusted origin: %w", err)
		}
	}
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.logger.WarnContext(r.Context(), "enroll: cross-origin form post refused", "route", logRoute(r.URL.Path), "origin", r.Header.Get("Origin"))
		p.renderError(w, r, http.StatusForbidden, "Request refused",
			"This form was sent from another site, so it was not accepted. Open the enrollment page again and continue there.", "")
	}))

	pages := http.NewServeMux()
	pages.HandleFunc("GET /"+portalPathInvitation+"{token}", p.handleInvitation)
	pages.HandleFunc("GET /"+portalPathInvitation+"{token}/qr.png", p.handleInvitationQR)
	pages.HandleFunc("GET /"+portalPathAccount, p.handleAccountStart)
	pages.HandleFunc("GET /"+portalPathContinue, p.handleContinue)
	pages.HandleFunc("GET /{$}", p.handleContinue)
	pages.HandleFunc("GET /"+portalPathSignIn, p.step(portalPathSignIn, p.showSignIn))
	pages.HandleFunc("POST /"+portalPathSignIn, p.step(portalPathSignIn, p.postSignIn))
	pages.HandleFunc("GET /"+portalPathPrivacy, p.step(portalPathPrivacy, p.showPrivacy))
	pages.HandleFunc("POST /"+portalPathPrivacy, p.step(portalPathPrivacy, p.postPrivacy))
	pages.HandleFunc("GET /"+portalPathPasscode, p.step(portalPathPasscode, p.showPasscode))
	pages.HandleFunc("POST /"+portalPathPasscode, p.step(portalPathPasscode, p.postPasscode))
	pages.HandleFunc("GET /"+portalPathInfo, p.step(portalPathInfo, p.showInfo))
	pages.HandleFunc("POST /"+portalPathInfo, p.step(portalPathInfo, p.postInfo))
	pages.HandleFunc("GET /"+portalPathTerms, p.step(portalPathTerms, p.showTerms))
	pages.HandleFunc("POST /"+portalPathTerms, p.step(portalPathTerms, p.postTerms))
	pages.HandleFunc("GET /"+portalPathDownload, p.step(portalPathDownload, p.showDownload))
	pages.HandleFunc("GET /"+portalPathHandoff, p.step(portalPathHandoff, p.showHandoff))
	pages.HandleFunc("POST /"+portalPathFinish, p.step(portalPathHandoff, p.postFinish))
	pages.HandleFunc("GET /"+portalPathProfile+"{token}", p.handleDownloadProfile)
	pages.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p.renderError(w, r, http.StatusNotFound, "Page not found", "This address is not part of the enrollment portal.", "")
	})

	root := http.NewServeMux()
	// The device posts its MachineInfo without a browser's Origin
	// headers; it is authenticated by its CMS signature and bearer token,
	// not by a cookie, so cross-origin protection does not apply.
	root.HandleFunc("/"+portalPathBaseURL, p.handleBaseURL)
	root.Handle("/", csrf.Handler(pages))
	p.handler = root
	return p, nil
}

// ServeHTTP implements http.Handler. Requests for paths under PortalURL's
// path have that prefix removed first, so the Portal works mounted both
// with and without http.StripPrefix.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.prefix != "" {
		if rest, ok := strings.CutPrefix(r.URL.Path, p.prefix); ok && (rest == "" || rest[0] == '/') {
			r2 := new(http.Request)
			*r2 = *r
			u := *r.URL
			u.Path = rest
			if u.Path == "" {
				u.Path = "/"
			}
			u.RawPath = ""
			r2.URL = &u
			r = r2
		}
	}
	p.handler.ServeHTTP(w, r)
}

// InvitationURL returns the portal's invitation link for token, the same
// link the Service builds unless its Config.InvitationURL is set.
func (p *Portal) InvitationURL(token string) string {
	return p.url(portalPathInvitation + url.PathEscape(token))
}

// BaseURL returns the account-driven enrollment URL the well-known answer
// names: where the device posts its MachineInfo.
func (p *Portal) BaseURL() string { return p.url(portalPathBaseURL) }

// AccountStartURL returns the URL of the portal's first account-driven
// page, sent to devices in the WWW-Authenticate challenge; the device adds
// the user-identifier query parameter.
func (p *Portal) AccountStartURL() string { return p.url(portalPathAccount) }

// url returns the absolute URL of a portal path.
func (p *Portal) url(path string) string {
	u := *p.base
	return u.String() + path
}

// now reads the Service's clock.
func (p *Portal) now() time.Time { return p.svc.now() }

// meta describes r for the audit trail.
func (p *Portal) meta(r *http.Request) Meta {
	return RequestMeta(r, "", p.clientIP)
}

// remoteHost returns the host part of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// deviceName names the device in page text from the User-Agent.
func deviceName(r *http.Request) string {
	return parseUserAgent(r.UserAgent()).deviceWord()
}

// portalTerms returns the terms in force: the Service's, or the defaults.
func (p *Portal) portalTerms() Terms {
	if t := p.svc.Terms(); t.Version != "" {
		return t
	}
	return Terms{Version: DefaultTermsVersion, Text: DefaultTermsText}
}

// redirect answers with 303 See Other to a portal path.
func (p *Portal) redirect(w http.ResponseWriter, r *http.Request, path string) {
	setSecurityHeaders(w.Header())
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.url(path), http.StatusSeeOther)
}

// logRoute names the portal route of path for a log line. Invitation and
// download paths carry their secret token, which must not reach the logs,
// so they are logged as their pattern; a path that is no portal route is
// logged as "other".
func logRoute(path string) string {
	rest := strings.TrimPrefix(path, "/")
	for _, tokenRoute := range []string{portalPathInvitation, portalPathProfile} {
		if tail, ok := strings.CutPrefix(rest, tokenRoute); ok {
			if strings.HasSuffix(tail, "/qr.png") {
				return "/" + tokenRoute + "{token}/qr.png"
			}
			return "/" + tokenRoute + "{token}"
		}
	}
	switch rest {
	case "", portalPathAccount, portalPathBaseURL, portalPathContinue, portalPathFinish, portalPathSignIn,
		portalPathPrivacy, portalPathPasscode, portalPathInfo, portalPathTerms, portalPathDownload, portalPathHandoff:
		return "/" + rest
	}
	return "other"
}
