package enroll

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
)

//go:embed templates/*.html
var defaultTemplates embed.FS

// portalPages are the pages the portal renders; each is a file
// templates/<name>.html defining "title" and "main", rendered inside the
// "layout" template of templates/layout.html.
var portalPages = []string{"signin", "settings", "privacy", "passcode", "info", "terms", "download", "complete", "error"}

// loadTemplates builds one template per page. A file in override with the
// same name as a default (layout.html, signin.html, …) replaces it.
func loadTemplates(override fs.FS) (map[string]*template.Template, error) {
	read := func(name string) ([]byte, error) {
		if override != nil {
			b, err := fs.ReadFile(override, name)
			if err == nil {
				return b, nil
			}
			if !isNotExist(err) {
				return nil, fmt.Errorf("enroll: reading template %s: %w", name, err)
			}
		}
		return defaultTemplates.ReadFile("templates/" + name)
	}
	layout, err := read("layout.html")
	if err != nil {
		return nil, err
	}
	out := make(map[string]*template.Template, len(portalPages))
	for _, page := range portalPages {
		src, err := read(page + ".html")
		if err != nil {
			return nil, err
		}
		t, err := template.New("layout.html").Parse(string(layout))
		if err != nil {
			return nil, fmt.Errorf("enroll: parsing template layout.html: %w", err)
		}
		if _, err := t.New(page + ".html").Parse(string(src)); err != nil {
			return nil, fmt.Errorf("enroll: parsing template %s.html: %w", page, err)
		}
		if t.Lookup("layout") == nil || t.Lookup("main") == nil || t.Lookup("title") == nil {
			return nil, fmt.Errorf("enroll: template %s.html must define \"title\" and \"main\", layout.html \"layout\"", page)
		}
		out[page] = t
	}
	return out, nil
}

// isNotExist reports whether err means a file is absent.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist)
}

// pageData is what every portal template receives. Templates a host
// provides may use any of these fields.
type pageData struct {
	// Lang is the page language (the html lang attribute).
	Lang string
	// Organization is the host's name, shown in the header.
	Organization string
	// Device names the device in sentences ("iPhone", "iPad", "device").
	Device string
	// Nonce is the CSP nonce for the page's <style> element.
	Nonce string
	// Step and Steps show progress ("Step 2 of 5"); zero Step hides it.
	Step, Steps int
	// Error is a message shown in an element with role="alert".
	Error string
	// Action is the URL the page's form posts to.
	Action string

	// Username and Ownership echo the sign-in form after an error;
	// ChooseOwnership shows the ownership question (profile flow only);
	// Resume is set when the user signs in again to continue an
	// enrollment that was started in another session.
	Username        string
	Ownership       string
	ChooseOwnership bool
	Resume          bool
	// AttemptsLeft is shown on the passcode page after a wrong passcode.
	AttemptsLeft int
	// AccountFlow is true in the account-driven flow.
	AccountFlow bool
	// ManagedAppleID is the Managed Apple Account the user signs in with:
	// at the end of the profile flow, or in Settings to start the
	// account-driven one.
	ManagedAppleID string

	// Route is the way of enrolling the portal leads this browser to, read
	// from its User-Agent: "profile" (iOS or iPadOS 13.1 to 17, or an older
	// Mac), "account" (iOS or iPadOS 18 or later: from Settings only),
	// "desktop" (Safari 18 or later on a Mac or on an iPad asking for
	// desktop sites: from Settings on either), "too-old" (before iOS 13.1),
	// or "unknown".
	Route string
	// SettingsHint (Route "unknown") and UpdateHint (Route "too-old") ask
	// the sign-in page for a note about the Settings path or about
	// updating the device first.
	SettingsHint bool
	UpdateHint   bool
	// SettingsIOS and SettingsMac are where account-driven enrollment
	// starts on an iPhone or iPad and on a Mac; SettingsButton is the
	// button to tap there.
	SettingsIOS    string
	SettingsMac    string
	SettingsButton string
	// ContinueURL, if set, continues in this browser (the profile flow)
	// although Route says the device enrolls from Settings;
	// ContinueLabel is its text. CorporateHere is set when company-owned
	// devices are enrolled in the browser too
	// (CorporateDeviceEnrollment).
	ContinueURL   string
	ContinueLabel string
	CorporateHere bool
	// TermsText, TermsVersion and TermsDigest describe the terms shown.
	TermsText    string
	TermsVersion string
	TermsDigest  string
	// DownloadURL and ExpiresIn describe the profile download link.
	DownloadURL string
	ExpiresIn   string
	// Heading, Detail, RestartURL and RestartLabel fill the error page:
	// RestartURL, if set, is a link labelled RestartLabel.
	Heading      string
	Detail       string
	RestartURL   string
	RestartLabel string
}

// newNonce returns a fresh random CSP nonce.
func newNonce() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// contentSecurityPolicy returns the CSP of a portal page whose inline style
// carries nonce. Nothing but that style is allowed to load; forms may post
// only to the portal itself and hand over to the device's enrollment
// callback scheme.
func contentSecurityPolicy(nonce string) string {
	return "default-src 'none'; style-src 'nonce-" + nonce + "'; img-src 'self' data:; " +
		"form-action 'self' apple-remotemanagement-user-login:; frame-ancestors 'none'; base-uri 'none'"
}

// setSecurityHeaders sets the headers every portal response carries.
func setSecurityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	if h.Get("Content-Security-Policy") == "" {
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	}
}

// render executes page with d and writes it with status. The page is
// rendered to a buffer first so that a template error becomes a clean 500.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, page string, d pageData) {
	t := p.templates[page]
	if d.Lang == "" {
		d.Lang = p.lang
	}
	d.Organization = p.organization
	d.SettingsIOS, d.SettingsMac, d.SettingsButton = settingsPathIOS, settingsPathMac, settingsButton
	if d.Device == "" {
		d.Device = "device"
	}
	d.Nonce = newNonce()
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		p.logger.ErrorContext(r.Context(), "enroll: rendering portal page", "page", page, "err", err)
		h := w.Header()
		setSecurityHeaders(h)
		h.Set("Cache-Control", "no-store")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy(d.Nonce))
	setSecurityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
