package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
)

// pageUser is a browser on the admin page: it keeps cookies and does not
// follow redirects, so that tests see them.
type pageUser struct {
	t      *testing.T
	ts     *testServer
	client *http.Client
	cookie *http.Cookie // the session cookie, once signed in
}

func newPageUser(t *testing.T, ts *testServer) *pageUser {
	c := *ts.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &pageUser{t: t, ts: ts, client: &c}
}

// do sends a request to the admin page (path relative to /admin/ui/) with
// the session cookie, if any, and returns the response with its body.
func (u *pageUser) do(method, path string, form url.Values) (*http.Response, string) {
	u.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(u.t.Context(), method, u.ts.url+adminUIPath+path, body)
	if err != nil {
		u.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if u.cookie != nil {
		req.AddCookie(u.cookie)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// login signs in with token and keeps the session cookie.
func (u *pageUser) login(token string) *http.Response {
	u.t.Helper()
	resp, _ := u.do("POST", "login", url.Values{"token": {token}})
	for _, c := range resp.Cookies() {
		if c.Name == adminCookie {
			u.cookie = c
		}
	}
	return resp
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from the index page.
func (u *pageUser) csrf() string {
	u.t.Helper()
	_, body := u.do("GET", "", nil)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		u.t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	return m[1]
}

// TestAdminPageAccess checks who gets what: without a session the pages
// lead to the sign-in form and forms are refused with 401; a wrong token
// signs nobody in; the session cookie is HttpOnly, SameSite=Strict, does
// not carry the token, and is no key to the JSON API; a forged or expired
// cookie is no session; a form without the session's CSRF token is
// refused with 403 and changes nothing.
func TestAdminPageAccess(t *testing.T) {
	ts := startServer(t)
	var inv invitationOut
	if code := ts.admin(t, "POST", "/invitations", map[string]string{"user": "alice"}, &inv); code != http.StatusCreated {
		t.Fatalf("invite: %d", code)
	}

	anon := newPageUser(t, ts)
	wrong := newPageUser(t, ts)
	if resp := wrong.login("not-the-token"); resp.StatusCode != http.StatusUnauthorized || wrong.cookie != nil {
		t.Fatalf("wrong token: %d, cookie %v", resp.StatusCode, wrong.cookie)
	}
	admin := newPageUser(t, ts)
	resp := admin.login(ts.st.admin)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != adminUIPath || admin.cookie == nil {
		t.Fatalf("sign-in: %d → %q, cookie %v", resp.StatusCode, resp.Header.Get("Location"), admin.cookie)
	}
	c := admin.cookie
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != adminUIPath {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over http, Path %s", c, adminUIPath)
	}
	if strings.Contains(c.Value, ts.st.admin) {
		t.Error("the session cookie carries the admin token")
	}
	csrf := admin.csrf()

	forged := newPageUser(t, ts)
	exp := time.Now().Add(time.Hour).Unix()
	forged.cookie = &http.Cookie{Name: adminCookie, Value: strings.Replace(c.Value, c.Value[:strings.Index(c.Value, ".")], itoa(exp), 1)}
	expired := newPageUser(t, ts)
	expired.cookie = &http.Cookie{Name: adminCookie, Value: ts.st.newSession(time.Now().Add(-time.Minute))}

	revoke := "enrollments/" + inv.EnrollmentID + "/revoke"
	cases := []struct {
		name     string
		u        *pageUser
		method   string
		path     string
		form     url.Values
		want     int
		location string // for redirects
		body     string // a part of the page
	}{
		{"no session: index", anon, "GET", "", nil, http.StatusSeeOther, adminUIPath + "login", ""},
		{"no session: enrollment", anon, "GET", "enrollments/" + inv.EnrollmentID, nil, http.StatusSeeOther, adminUIPath + "login", ""},
		{"no session: login page", anon, "GET", "login", nil, http.StatusOK, "", `id="token"`},
		{"no session: revoke", anon, "POST", revoke, url.Values{"csrf": {csrf}}, http.StatusUnauthorized, "", "sign in again"},
		{"no session: invite", anon, "POST", "invitations", url.Values{"csrf": {csrf}, "user": {"alice"}}, http.StatusUnauthorized, "", "sign in again"},
		{"forged cookie", forged, "GET", "", nil, http.StatusSeeOther, adminUIPath + "login", ""},
		{"expired cookie", expired, "GET", "", nil, http.StatusSeeOther, adminUIPath + "login", ""},
		{"session: index", admin, "GET", "", nil, http.StatusOK, "", `id="funnel"`},
		{"session: stylesheet", anon, "GET", "style.css", nil, http.StatusOK, "", ".funnel"},
		{"CSRF missing: revoke", admin, "POST", revoke, url.Values{"reason": {"x"}}, http.StatusForbidden, "", "reload and try again"},
		{"CSRF wrong: revoke", admin, "POST", revoke, url.Values{"csrf": {csrf + "x"}}, http.StatusForbidden, "", "reload and try again"},
		{"CSRF of another session", admin, "POST", revoke, url.Values{"csrf": {ts.st.csrfToken(ts.st.newSession(time.Now().Add(time.Hour)))}}, http.StatusForbidden, "", "reload and try again"},
		{"CSRF missing: invite", admin, "POST", "invitations", url.Values{"user": {"alice"}}, http.StatusForbidden, "", "reload and try again"},
		{"CSRF missing: command", admin, "POST", "enrollments/" + inv.EnrollmentID + "/commands", url.Values{"request_type": {"DeviceInformation"}}, http.StatusForbidden, "", "reload and try again"},
		{"CSRF missing: logout", admin, "POST", "logout", url.Values{}, http.StatusForbidden, "", "reload and try again"},
		{"unknown enrollment", admin, "GET", "enrollments/0123456789abcdef0123456789abcdef", nil, http.StatusNotFound, "", "enrollment not found"},
		{"invite unknown user", admin, "POST", "invitations", url.Values{"csrf": {csrf}, "user": {"nobody"}}, http.StatusNotFound, "", "unknown user"},
		{"command before check-in", admin, "POST", "enrollments/" + inv.EnrollmentID + "/commands", url.Values{"csrf": {csrf}, "request_type": {"DeviceInformation"}}, http.StatusConflict, "", "no managed device"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.u.t = t
			defer func() { tc.u.t = nil }()
			resp, body := tc.u.do(tc.method, tc.path, tc.form)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d:\n%s", resp.StatusCode, tc.want, body)
			}
			if got := resp.Header.Get("Location"); got != tc.location {
				t.Errorf("Location %q, want %q", got, tc.location)
			}
			if !strings.Contains(body, tc.body) {
				t.Errorf("page lacks %q:\n%s", tc.body, body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if strings.Contains(body, ts.st.admin) {
				t.Error("the page shows the admin token")
			}
		})
	}
	admin.t, anon.t = t, t
	if e := ts.enrollment(t, inv.EnrollmentID); e.State != enroll.StateInvited {
		t.Fatalf("refused forms changed the enrollment: %s", e.State)
	}

	// The session cookie does not open the JSON API.
	req, _ := http.NewRequest("GET", ts.url+"/admin/enrollments", nil)
	req.AddCookie(c)
	if resp, err := ts.client.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API with the page's cookie: %v %v", resp.Status, err)
	}

	// Revoking with the CSRF token works.
	resp, _ = admin.do("POST", revoke, url.Values{"csrf": {csrf}, "reason": {"lost <device>"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != adminUIPath+"enrollments/"+inv.EnrollmentID {
		t.Fatalf("revoke: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if e := ts.enrollment(t, inv.EnrollmentID); e.State != enroll.StateRevoked {
		t.Fatalf("after revoke: %s", e.State)
	}
	_, body := admin.do("GET", "enrollments/"+inv.EnrollmentID, nil)
	if !strings.Contains(body, `id="state">revoked<`) || !strings.Contains(body, "lost &lt;device&gt;") || strings.Contains(body, `id="revoke"`) {
		t.Errorf("enrollment page after revoke:\n%s", body)
	}

	// Signing out ends the cookie in the browser.
	resp, _ = admin.do("POST", "logout", url.Values{"csrf": {csrf}})
	if cs := resp.Cookies(); resp.StatusCode != http.StatusSeeOther || len(cs) != 1 || cs[0].Value != "" || !cs[0].Expires.Before(time.Now()) {
		t.Errorf("logout: %d %v", resp.StatusCode, cs)
	}
	// The page without its trailing slash leads to it.
	req, _ = http.NewRequest("GET", ts.url+strings.TrimSuffix(adminUIPath, "/"), nil)
	if resp, err := anon.client.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != adminUIPath {
		t.Errorf("%s: %v %v", req.URL, resp, err)
	}

	// Over https the cookie is Secure.
	tls := startServer(t, "-tls")
	secure := newPageUser(t, tls)
	if secure.login(tls.st.admin); secure.cookie == nil || !secure.cookie.Secure {
		t.Errorf("session cookie over https: %+v", secure.cookie)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestAdminPageInviteAndCommand creates an invitation on the page and sees
// its QR code, enrolls a device with it, queues a command on the page and
// reads the device's result there.
func TestAdminPageInviteAndCommand(t *testing.T) {
	ts := startServer(t)
	admin := newPageUser(t, ts)
	admin.login(ts.st.admin)
	csrf := admin.csrf()

	resp, body := admin.do("POST", "invitations", url.Values{"csrf": {csrf}, "user": {"alice"}})
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `src="data:image/png;base64,iVBORw0KGgo`) {
		t.Fatalf("invite: %d:\n%s", resp.StatusCode, body)
	}
	link := regexp.MustCompile(`id="invitation-url">([^<]+)<`).FindStringSubmatch(body)
	pass := regexp.MustCompile(`id="passcode">([^<]+)<`).FindStringSubmatch(body)
	if link == nil || pass == nil {
		t.Fatalf("invitation page without link or passcode:\n%s", body)
	}
	invURL := strings.ReplaceAll(link[1], "&amp;", "&")
	d := ts.newDevice(t)
	if err := d.EnrollWithInvitation(t.Context(), invURL, devicesim.Credentials{
		Username: "alice", Password: "correct horse", Passcode: pass[1],
	}); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go d.Run(ctx)

	list, err := ts.st.enroll.List(t.Context(), enroll.ListOptions{})
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	id := list[0].ID
	_, body = admin.do("GET", "", nil)
	if !strings.Contains(body, `<tr data-id="`+id+`">`) || !strings.Contains(body, `<span class="state">enrolled</span>`) {
		t.Errorf("index without the enrolled enrollment:\n%s", body)
	}
	_, body = admin.do("GET", "enrollments/"+id, nil)
	if !strings.Contains(body, "<option selected>DeviceInformation</option>") || strings.Contains(body, ">EraseDevice<") {
		t.Errorf("command choice:\n%s", body)
	}

	for _, tc := range []struct {
		name, requestType, fields string
		want                      int
		msg                       string
	}{
		{"not allowed", "EraseDevice", "", http.StatusForbidden, "EraseDevice is not allowed for this enrollment: not allowed under User Enrollment on iOS"},
		{"fields not JSON", "DeviceInformation", "{", http.StatusBadRequest, "not a JSON object"},
		{"no type", "", "", http.StatusBadRequest, "request_type is required"},
	} {
		resp, body := admin.do("POST", "enrollments/"+id+"/commands", url.Values{"csrf": {csrf}, "request_type": {tc.requestType}, "fields": {tc.fields}})
		if resp.StatusCode != tc.want || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d, want %d %q:\n%s", tc.name, resp.StatusCode, tc.want, tc.msg, body)
		}
	}

	resp, _ = admin.do("POST", "enrollments/"+id+"/commands", url.Values{"csrf": {csrf}, "request_type": {"DeviceInformation"},
		"fields": {`{"Queries":["OSVersion","ProductName"]}`}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, adminUIPath+"enrollments/"+id+"?command=") {
		t.Fatalf("queue: %d → %q", resp.StatusCode, loc)
	}
	path := strings.TrimPrefix(loc, adminUIPath)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body = admin.do("GET", path, nil)
		if strings.Contains(body, `id="result-status"`) || time.Now().After(deadline) {
			break
		}
		if !strings.Contains(body, `id="no-result"`) {
			t.Fatalf("command page neither result nor waiting:\n%s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(body, `id="result-status">Acknowledged<`) || !strings.Contains(body, "ProductName") {
		t.Fatalf("result page:\n%s", body)
	}
}

// TestAdminPageFunnel counts enrollments in different states, with and
// without audit trails, in the funnel drawn on the page.
func TestAdminPageFunnel(t *testing.T) {
	ts := startServer(t)
	ev := func(to ...enroll.State) []enroll.AuditEvent {
		var out []enroll.AuditEvent
		for _, s := range to {
			out = append(out, enroll.AuditEvent{Time: time.Now(), Event: "test", To: s})
		}
		return out
	}
	store := []struct {
		state enroll.State
		audit []enroll.AuditEvent
	}{
		{enroll.StateInvited, ev(enroll.StateInvited)},
		{enroll.StateInvited, nil},
		{enroll.StateAuthenticated, ev(enroll.StateInvited, enroll.StateAuthenticated)},
		// Revoked after accepting the terms: it stopped at the terms.
		{enroll.StateRevoked, ev(enroll.StateInvited, enroll.StateAuthenticated, enroll.StatePasscodeVerified, enroll.StateConsented, enroll.StateRevoked)},
		{enroll.StateTokenIssued, ev(enroll.StateInvited, enroll.StateConsented, enroll.StateTokenIssued)},
		{enroll.StateEnrolled, ev(enroll.StateInvited, enroll.StateEnrolled)},
		// Removed after enrolling: it got all the way.
		{enroll.StateRemoved, ev(enroll.StateInvited, enroll.StateEnrolled, enroll.StateRemoved)},
		// Expired without a trail: nothing tells how far it got.
		{enroll.StateExpired, nil},
	}
	for i, s := range store {
		e := enrolltest.Sample(strings.Repeat(string(rune('a'+i)), 32))
		e.State = s.state
		for j := range s.audit {
			s.audit[j].EnrollmentID = e.ID
		}
		if err := ts.st.stores.enroll.Create(t.Context(), e, s.audit...); err != nil {
			t.Fatal(err)
		}
	}
	admin := newPageUser(t, ts)
	admin.login(ts.st.admin)
	_, body := admin.do("GET", "", nil)
	want := []string{
		`data-step="Invited" data-reached="7" data-stopped="2"`,
		`data-step="Signed in" data-reached="5" data-stopped="1"`,
		`data-step="Passcode entered" data-reached="4" data-stopped="0"`,
		`data-step="Terms accepted" data-reached="4" data-stopped="1"`,
		`data-step="Profile or token issued" data-reached="3" data-stopped="1"`,
		`data-step="Checked in" data-reached="2" data-stopped="0"`,
		`data-step="Enrolled" data-reached="2" data-stopped="0"`,
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("funnel lacks %s:\n%s", w, body)
		}
	}
	if n := strings.Count(body, `<tr data-id=`); n != len(store) {
		t.Errorf("%d enrollments listed, want %d", n, len(store))
	}
}

// TestNewFunnel checks the counting and the bars' widths.
func TestNewFunnel(t *testing.T) {
	tests := []struct {
		name    string
		trails  []trail
		reached []int
		stopped []int
		widths  []int
	}{
		{"none", nil, []int{0, 0, 0, 0, 0, 0, 0}, []int{0, 0, 0, 0, 0, 0, 0}, []int{0, 0, 0, 0, 0, 0, 0}},
		{"all enrolled", []trail{{State: enroll.StateEnrolled}, {State: enroll.StateUnenrolling}},
			[]int{2, 2, 2, 2, 2, 2, 2}, []int{0, 0, 0, 0, 0, 0, 0}, []int{340, 340, 340, 340, 340, 340, 340}},
		{"half stop at the passcode", []trail{{State: enroll.StateLocked, Audit: []enroll.AuditEvent{{To: enroll.StateAuthenticated}, {To: enroll.StateLocked}}}, {State: enroll.StateCheckedIn}},
			[]int{2, 2, 1, 1, 1, 1, 0}, []int{0, 1, 0, 0, 0, 1, 0}, []int{340, 340, 170, 170, 170, 170, 0}},
		{"one in 200 gets a sliver", append(slices.Repeat([]trail{{State: enroll.StateInvited}}, 199), trail{State: enroll.StateEnrolled}),
			[]int{200, 1, 1, 1, 1, 1, 1}, []int{199, 0, 0, 0, 0, 0, 0}, []int{340, 2, 2, 2, 2, 2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFunnel(tt.trails)
			for i, s := range f.Steps {
				if s.Reached != tt.reached[i] || s.Stopped != tt.stopped[i] || s.Width != tt.widths[i] {
					t.Errorf("%s: reached %d stopped %d width %d, want %d %d %d", s.Name, s.Reached, s.Stopped, s.Width, tt.reached[i], tt.stopped[i], tt.widths[i])
				}
			}
		})
	}
}
