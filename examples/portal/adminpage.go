package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// The admin page is a small web interface over the admin API at
// /admin/ui/, for a browser: the enrollments with their state and last
// check-in, an enrollment funnel, invitations with their QR code,
// revocation, and commands with their results. A browser cannot send the
// API's bearer token, so the page has a sign-in form that takes the token
// and sets a session cookie holding an HMAC keyed with the token (never the
// token itself); every form that changes something carries a CSRF token
// bound to that session.
const (
	adminUIPrefix   = "/ui/" // under /admin
	adminUIPath     = "/admin" + adminUIPrefix
	adminCookie     = "enrollkit_admin"
	adminSessionTTL = 12 * time.Hour
	// adminCSP allows the page's own stylesheet, the QR code as a data:
	// URL, forms to the page itself, and nothing else: no script at all.
	adminCSP = "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

//go:embed adminpage/*.html adminpage/style.css
var adminFiles embed.FS

// adminTemplates holds one template per page, each with the layout.
var adminTemplates = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"json": func(v any) string {
			b, _ := json.MarshalIndent(v, "", "  ")
			return string(b)
		},
	}
	out := map[string]*template.Template{}
	for _, page := range []string{"login", "index", "invitation", "enrollment", "error"} {
		out[page] = template.Must(template.New(page).Funcs(funcs).ParseFS(adminFiles, "adminpage/layout.html", "adminpage/"+page+".html"))
	}
	return out
}()

// pageData is what every admin page template gets.
type pageData struct {
	Title string
	Base  string // adminUIPath
	CSRF  string // empty when signed out
	Error string

	Funnel     funnel
	Rows       []enrollmentRow
	Invitation *invitationView
	Enrollment *enrollmentView
	Command    string // the command whose result is shown
}

type enrollmentRow struct {
	ID, User           string
	State              enroll.State
	CheckIn, UpdatedAt time.Time
}

type invitationView struct {
	invitationOut
	QR template.URL // the QR code's PNG as a data: URL
}

type enrollmentView struct {
	E         *enroll.Enrollment
	MDM       *mdm.EnrollmentRecord
	Audit     []enroll.AuditEvent
	Commands  []string // what the device may be sent; empty if it is not managed
	Revocable bool
	Result    *resultOut
}

// adminPage returns the admin page's handler; paths are relative to
// /admin.
func (st *stack) adminPage() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ui/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, adminFiles, "adminpage/style.css")
	})
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, adminUIPath, http.StatusSeeOther)
	})
	mux.HandleFunc("GET /ui/login", func(w http.ResponseWriter, r *http.Request) {
		st.renderPage(w, http.StatusOK, "login", &pageData{Title: "Sign in"})
	})
	mux.HandleFunc("POST /ui/login", st.pageLogin)
	mux.HandleFunc("POST /ui/logout", st.pageSession(st.pageLogout))
	mux.HandleFunc("GET /ui/{$}", st.pageSession(st.pageIndex))
	mux.HandleFunc("POST /ui/invitations", st.pageSession(st.pageInvite))
	mux.HandleFunc("GET /ui/enrollments/{id}", st.pageSession(st.pageEnrollment))
	mux.HandleFunc("POST /ui/enrollments/{id}/revoke", st.pageSession(st.pageRevoke))
	mux.HandleFunc("POST /ui/enrollments/{id}/commands", st.pageSession(st.pageEnqueue))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", adminCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		mux.ServeHTTP(w, r)
	})
}

// sessionKey is the key session cookies and CSRF tokens are signed with:
// derived from the admin token, so that every replica agrees and a new
// token ends every session.
func (st *stack) sessionKey() []byte {
	m := hmac.New(sha256.New, []byte(st.admin))
	m.Write([]byte("enrollkit admin page session key"))
	return m.Sum(nil)
}

func (st *stack) mac(parts ...string) string {
	m := hmac.New(sha256.New, st.sessionKey())
	m.Write([]byte(strings.Join(parts, "|")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newSession returns a session cookie value that expires at exp.
func (st *stack) newSession(exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + st.mac("session", e)
}

// validSession reports whether v is a session cookie value this server
// made and that has not expired.
func (st *stack) validSession(v string, now time.Time) bool {
	e, sig, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || now.Unix() >= exp {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(st.mac("session", e)))
}

// csrfToken is the CSRF token of the session whose cookie value is v.
func (st *stack) csrfToken(v string) string { return st.mac("csrf", v) }

// pageSession wraps a page handler: without a valid session a GET is sent
// to the sign-in form and anything else refused with 401; a POST without
// the session's CSRF token is refused with 403. The handler gets the
// session's CSRF token.
func (st *stack) pageSession(h func(w http.ResponseWriter, r *http.Request, csrf string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(adminCookie)
		if err != nil || !st.validSession(c.Value, time.Now()) {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, adminUIPath+"login", http.StatusSeeOther)
				return
			}
			st.renderPage(w, http.StatusUnauthorized, "login", &pageData{Title: "Sign in", Error: "Your session ended: sign in again."})
			return
		}
		csrf := st.csrfToken(c.Value)
		if r.Method != http.MethodGet {
			r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(csrf)) != 1 {
				st.logger.InfoContext(r.Context(), "admin page: request without a valid CSRF token refused", "route", r.Pattern)
				st.renderPage(w, http.StatusForbidden, "error", &pageData{Title: "Refused", CSRF: csrf, Error: "The form is stale or did not come from this page: reload and try again."})
				return
			}
		}
		h(w, r, csrf)
	}
}

func (st *stack) pageLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), []byte(st.admin)) != 1 {
		st.logger.InfoContext(r.Context(), "admin page: sign-in with a wrong token", "client", clientIP(r))
		st.renderPage(w, http.StatusUnauthorized, "login", &pageData{Title: "Sign in", Error: "Wrong admin token."})
		return
	}
	exp := time.Now().Add(adminSessionTTL)
	st.setSessionCookie(w, st.newSession(exp), exp)
	http.Redirect(w, r, adminUIPath, http.StatusSeeOther)
}

func (st *stack) pageLogout(w http.ResponseWriter, r *http.Request, _ string) {
	st.setSessionCookie(w, "", time.Unix(1, 0))
	http.Redirect(w, r, adminUIPath+"login", http.StatusSeeOther)
}

func (st *stack) setSessionCookie(w http.ResponseWriter, v string, exp time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: adminCookie, Value: v, Path: adminUIPath, Expires: exp,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: strings.HasPrefix(st.cfg.PublicURL, "https://"),
	})
}

func (st *stack) pageIndex(w http.ResponseWriter, r *http.Request, csrf string) {
	list, err := st.enroll.List(r.Context(), enroll.ListOptions{})
	if err != nil {
		st.pageError(w, r, csrf, enrollError(err))
		return
	}
	rows := make([]enrollmentRow, 0, len(list))
	trails := make([]trail, 0, len(list))
	for _, e := range list {
		row := enrollmentRow{ID: e.ID, User: e.UserID, State: e.State, UpdatedAt: e.UpdatedAt}
		if rec := st.mdmRecord(r.Context(), e); rec != nil {
			row.CheckIn = rec.UpdatedAt
		}
		rows = append(rows, row)
		audit, err := st.enroll.Audit(r.Context(), e.ID)
		if err != nil {
			st.pageError(w, r, csrf, enrollError(err))
			return
		}
		trails = append(trails, trail{State: e.State, Audit: audit})
	}
	st.renderPage(w, http.StatusOK, "index", &pageData{Title: "Enrollments", CSRF: csrf, Rows: rows, Funnel: newFunnel(trails)})
}

func (st *stack) pageInvite(w http.ResponseWriter, r *http.Request, csrf string) {
	u, ok := st.users.lookup(r.PostFormValue("user"))
	if !ok {
		st.pageError(w, r, csrf, &adminError{http.StatusNotFound, "unknown user", errors.New("unknown user")})
		return
	}
	inv, err := st.enroll.CreateInvitation(r.Context(), st.adminMeta(r), u.user())
	if err != nil {
		st.pageError(w, r, csrf, enrollError(err))
		return
	}
	view := &invitationView{invitationOut: invitationJSON(inv),
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(inv.QRCode))}
	w.Header().Set("Cache-Control", "no-store") // the passcode
	st.renderPage(w, http.StatusCreated, "invitation", &pageData{Title: "Invitation", CSRF: csrf, Invitation: view})
}

func (st *stack) pageEnrollment(w http.ResponseWriter, r *http.Request, csrf string) {
	e, err := st.enroll.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		st.pageError(w, r, csrf, enrollError(err))
		return
	}
	audit, err := st.enroll.Audit(r.Context(), e.ID)
	if err != nil {
		st.pageError(w, r, csrf, enrollError(err))
		return
	}
	v := &enrollmentView{E: e, Audit: audit, MDM: st.mdmRecord(r.Context(), e),
		Revocable: !e.State.Terminal() || e.State == enroll.StateLocked}
	if v.MDM != nil && (e.State == enroll.StateCheckedIn || e.State == enroll.StateEnrolled) {
		v.Commands = mdm.AllowedCommands(v.MDM)
	}
	data := &pageData{Title: "Enrollment of " + e.UserID, CSRF: csrf, Enrollment: v}
	if uuid := r.URL.Query().Get("command"); uuid != "" {
		data.Command = uuid
		res, ae := st.commandResult(r.Context(), e.ID, uuid)
		if ae != nil && ae.status != http.StatusNotFound {
			st.pageError(w, r, csrf, ae)
			return
		}
		v.Result = res
	}
	st.renderPage(w, http.StatusOK, "enrollment", data)
}

func (st *stack) pageRevoke(w http.ResponseWriter, r *http.Request, csrf string) {
	e, err := st.enroll.Revoke(r.Context(), st.adminMeta(r), r.PathValue("id"), r.PostFormValue("reason"))
	if err != nil {
		st.pageError(w, r, csrf, enrollError(err))
		return
	}
	http.Redirect(w, r, adminUIPath+"enrollments/"+url.PathEscape(e.ID), http.StatusSeeOther)
}

func (st *stack) pageEnqueue(w http.ResponseWriter, r *http.Request, csrf string) {
	var fields map[string]any
	if f := strings.TrimSpace(r.PostFormValue("fields")); f != "" {
		if err := json.Unmarshal([]byte(f), &fields); err != nil {
			st.pageError(w, r, csrf, &adminError{http.StatusBadRequest, "The fields are not a JSON object.", err})
			return
		}
	}
	id := r.PathValue("id")
	q, ae := st.enqueueCommand(r, id, r.PostFormValue("request_type"), fields)
	if ae != nil {
		st.pageError(w, r, csrf, ae)
		return
	}
	http.Redirect(w, r, adminUIPath+"enrollments/"+url.PathEscape(id)+"?command="+url.QueryEscape(q.CommandUUID), http.StatusSeeOther)
}

// pageError shows ae's fixed message with its status and logs what went
// wrong inside.
func (st *stack) pageError(w http.ResponseWriter, r *http.Request, csrf string, ae *adminError) {
	st.logger.InfoContext(r.Context(), "admin page: request refused", "method", r.Method, "route", r.Pattern, "status", ae.status, "err", ae.err)
	title := "Refused"
	if ae.status >= 500 {
		title = "Something went wrong"
	}
	st.renderPage(w, ae.status, "error", &pageData{Title: title, CSRF: csrf, Error: ae.msg})
}

func (st *stack) renderPage(w http.ResponseWriter, status int, page string, data *pageData) {
	data.Base = adminUIPath
	var buf bytes.Buffer
	if err := adminTemplates[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		st.logger.Error("admin page: render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// trail is what the funnel needs of an enrollment: its state and audit
// trail.
type trail struct {
	State enroll.State
	Audit []enroll.AuditEvent
}

// funnelSteps are the funnel's steps in order, each with the states that
// mean an enrollment is at it.
var funnelSteps = []struct {
	name   string
	states []enroll.State
}{
	{"Invited", []enroll.State{enroll.StateInvited}},
	{"Signed in", []enroll.State{enroll.StateAuthenticated}},
	{"Passcode entered", []enroll.State{enroll.StatePasscodeVerified}},
	{"Terms accepted", []enroll.State{enroll.StateConsented}},
	{"Profile or token issued", []enroll.State{enroll.StateProfileIssued, enroll.StateTokenIssued}},
	{"Checked in", []enroll.State{enroll.StateCheckedIn}},
	{"Enrolled", []enroll.State{enroll.StateEnrolled, enroll.StateUnenrolling, enroll.StateRemoved}},
}

// funnelStep is one bar of the funnel chart.
type funnelStep struct {
	Name    string
	Reached int // enrollments that got at least this far
	Stopped int // of those, the ones that got no further (at the last step: none)
	// Y, BarY and Width place the step in the chart.
	Y, BarY, Width int
}

// funnel is the enrollment funnel chart.
type funnel struct {
	Steps  []funnelStep
	Height int
}

// stepOf returns the index of the funnel step state s belongs to, or -1
// for the states that end an enrollment before it finished (expired,
// revoked, locked): those tell nothing about how far it got.
func stepOf(s enroll.State) int {
	for i, st := range funnelSteps {
		for _, x := range st.states {
			if x == s {
				return i
			}
		}
	}
	return -1
}

// newFunnel counts how far each enrollment got, by the furthest state its
// audit trail (or its current state) reached, and lays out the chart.
func newFunnel(trails []trail) funnel {
	const width, rowHeight = 340, 40
	furthest := make([]int, len(funnelSteps))
	for _, t := range trails {
		f := stepOf(t.State)
		for _, ev := range t.Audit {
			f = max(f, stepOf(ev.To))
		}
		if f >= 0 {
			furthest[f]++
		}
	}
	out := funnel{Height: rowHeight * len(funnelSteps)}
	reached := 0
	for i := len(funnelSteps) - 1; i >= 0; i-- {
		reached += furthest[i]
		s := funnelStep{Name: funnelSteps[i].name, Reached: reached, Y: i*rowHeight + 14, BarY: i*rowHeight + 20}
		if i < len(funnelSteps)-1 {
			s.Stopped = furthest[i]
		}
		out.Steps = append([]funnelStep{s}, out.Steps...)
	}
	if total := out.Steps[0].Reached; total > 0 {
		for i := range out.Steps {
			if n := out.Steps[i].Reached; n > 0 {
				// A step some reached shows a sliver however few.
				out.Steps[i].Width = max(2, width*n/total)
			}
		}
	}
	return out
}
