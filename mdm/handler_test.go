package mdm_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
)

func ueDevice(t testing.TB, h *harness, eid string, key int) *device {
	return newDevice(t, h.ca, mdm.Identifiers{EnrollmentID: eid}, key)
}

func TestUserEnrollmentFlow(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	d := ueDevice(t, h, "B7C8D9E0-1F2A-4B3C-9D4E-5F6A7B8C9D0E", 1)
	h.enroll(d)

	rec, err := h.svc.Enrollment(ctx, "B7C8D9E0-1F2A-4B3C-9D4E-5F6A7B8C9D0E")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Type != mdm.UserEnrollmentDevice || !rec.Enrolled || rec.SerialNumber != "" || rec.OSVersion != "18.1" ||
		string(rec.Token) != "\xde\xad\xbe\xef" || rec.Certificate != mdm.FingerprintOf(d.cert.Raw) {
		t.Fatalf("record = %+v", rec)
	}

	// An allowed command is queued, pushed and delivered.
	cmd, err := mdm.NewCommand("0001-profile-list", map[string]any{"RequestType": "ProfileList"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Enqueue(ctx, cmd, rec.ID); err != nil {
		t.Fatal(err)
	}
	if len(h.pushed) != 1 || h.pushed[0].PushMagic != "5A2B3C4D-0000-4E5F-8A9B-1C2D3E4F5A6B" ||
		string(h.pushed[0].Token) != "\xde\xad\xbe\xef" || h.pushed[0].Topic != topic || h.pushed[0].EnrollmentID != string(rec.ID) {
		t.Fatalf("pushes = %+v", h.pushed)
	}
	w := d.command(t, h.svc, d.status(mdm.StatusIdle, ""))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "<string>ProfileList</string>") {
		t.Fatalf("Idle: %d %q", w.Code, w.Body)
	}
	if _, err := mdm.ParseCommand(w.Body.Bytes()); err != nil {
		t.Fatalf("delivered command does not parse: %v", err)
	}
	ack := plistDoc(`<key>CommandUUID</key><string>0001-profile-list</string><key>EnrollmentID</key><string>` + d.ident.EnrollmentID +
		`</string><key>ProfileList</key><array><dict><key>PayloadIdentifier</key><string>com.example.mdm</string></dict></array><key>Status</key><string>Acknowledged</string>`)
	w = d.command(t, h.svc, ack)
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("Acknowledged: %d %q, want 200 with an empty body", w.Code, w.Body)
	}
	res, err := h.svc.Result(ctx, rec.ID, "0001-profile-list")
	if err != nil || res.Status != mdm.StatusAcknowledged || !strings.Contains(string(res.Raw), "com.example.mdm") {
		t.Fatalf("Result = %+v, %v", res, err)
	}

	// A command User Enrollment forbids is refused at enqueue and not queued.
	erase, _ := mdm.NewCommand("0002-erase", map[string]any{"RequestType": "EraseDevice", "PIN": "123456"})
	_, err = h.svc.Enqueue(ctx, erase, rec.ID)
	var pe *mdm.PolicyError
	if !errors.As(err, &pe) || !errors.Is(err, mdm.ErrCommandNotAllowed) || pe.RequestType != "EraseDevice" || pe.Enrollment != rec.ID {
		t.Fatalf("Enqueue(EraseDevice) = %v, want a PolicyError", err)
	}
	if w := d.command(t, h.svc, d.status(mdm.StatusIdle, "")); w.Body.Len() != 0 {
		t.Fatalf("refused command was queued: %q", w.Body)
	}

	// CheckOut ends it; later requests are unknown.
	if w := d.checkin(t, h.svc, d.checkOut()); w.Code != http.StatusOK {
		t.Fatalf("CheckOut: %d", w.Code)
	}
	if w := d.command(t, h.svc, d.status(mdm.StatusIdle, "")); w.Code != http.StatusNotFound {
		t.Fatalf("Idle after CheckOut: %d, want 404", w.Code)
	}
	if _, err := h.svc.Enqueue(ctx, cmd, rec.ID); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("Enqueue after CheckOut = %v", err)
	}
	// After CheckOut the device may enroll again with a new identity
	// certificate, and the old certificate is released.
	again := &device{ident: d.ident, cert: h.ca.issue(t, "new identity", rsaKey(t, 2).Public()), key: rsaKey(t, 2)}
	if w := again.checkin(t, h.svc, again.authenticate()); w.Code != http.StatusOK {
		t.Fatalf("re-enrollment after CheckOut: %d", w.Code)
	}
	if w := d.command(t, h.svc, d.status(mdm.StatusIdle, "")); w.Code != http.StatusForbidden {
		t.Fatalf("old certificate after re-enrollment: %d, want 403", w.Code)
	}
	want := []string{"Authenticate " + string(rec.ID), "TokenUpdate " + string(rec.ID), "CommandResult " + string(rec.ID), "CheckOut " + string(rec.ID), "Authenticate " + string(rec.ID)}
	if got := h.kinds(); !slices.Equal(got, want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
}

func TestDeviceEnrollmentPolicyAndChannels(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	d := newDevice(t, h.ca, mdm.Identifiers{UDID: "00008110-000A1C2E0E91801E"}, 1)
	h.enroll(d)
	erase, _ := mdm.NewCommand("erase-1", map[string]any{"RequestType": "EraseDevice"})
	if _, err := h.svc.Enqueue(ctx, erase, "00008110-000A1C2E0E91801E"); err != nil {
		t.Fatalf("device enrollment refused EraseDevice: %v", err)
	}
	// A user channel rides on the device certificate.
	u := &device{ident: mdm.Identifiers{UDID: d.ident.UDID, UserID: "501A-USER", UserShortName: "alice"}, cert: d.cert, key: d.key}
	if w := u.checkin(t, h.svc, u.tokenUpdate("AQI=")); w.Code != http.StatusOK {
		t.Fatalf("user TokenUpdate: %d %s", w.Code, w.Body)
	}
	rec, err := h.svc.Enrollment(ctx, "00008110-000A1C2E0E91801E:501A-USER")
	if err != nil || rec.Type != mdm.User || rec.ParentID != "00008110-000A1C2E0E91801E" || !rec.Certificate.IsZero() {
		t.Fatalf("user channel = %+v, %v", rec, err)
	}
	// ... but not on another device's certificate.
	other := newDevice(t, h.ca, mdm.Identifiers{UDID: "OTHER-UDID"}, 2)
	h.enroll(other)
	u2 := &device{ident: u.ident, cert: other.cert, key: other.key}
	if w := u2.checkin(t, h.svc, u2.tokenUpdate("AQI=")); w.Code != http.StatusForbidden {
		t.Fatalf("user channel with another device's certificate: %d, want 403", w.Code)
	}
	// A user channel of an unknown device is refused.
	u3 := &device{ident: mdm.Identifiers{UDID: "NOPE", UserID: "x"}, cert: d.cert, key: d.key}
	if w := u3.checkin(t, h.svc, u3.tokenUpdate("AQI=")); w.Code != http.StatusForbidden && w.Code != http.StatusNotFound {
		t.Fatalf("user channel of unknown device: %d", w.Code)
	}
}

func TestStatusCodes(t *testing.T) {
	var (
		reportMu sync.Mutex
		reports  []mdm.RequestReport
	)
	h := newHarness(t, func(o *mdm.Config) {
		o.OnRequest = func(_ context.Context, rep *mdm.RequestReport) {
			reportMu.Lock()
			defer reportMu.Unlock()
			reports = append(reports, *rep)
		}
	})
	ue := ueDevice(t, h, "UE-1", 1)
	h.enroll(ue)
	other := newCA(t, "Someone Else's CA", 3)
	stranger := newDevice(t, other, mdm.Identifiers{EnrollmentID: "UE-1"}, 4)
	thief := &device{ident: mdm.Identifiers{EnrollmentID: "UE-2"}, cert: ue.cert, key: ue.key}
	unknown := ueDevice(t, h, "UE-UNKNOWN", 2)
	newcomer := ueDevice(t, h, "UE-NEW", 2)
	mac := newDevice(t, h.ca, mdm.Identifiers{UDID: "X"}, 5)
	h.enroll(mac)
	body := ue.status(mdm.StatusIdle, "")
	goodSig, _ := mdm.Sign(body, ue.cert, ue.key, nil)
	otherSig, _ := mdm.Sign([]byte("something else"), ue.cert, ue.key, nil)
	userAuth := plistDoc(`<key>MessageType</key><string>UserAuthenticate</string><key>UDID</key><string>X</string><key>UserID</key><string>U</string>`)

	tests := []struct {
		name string
		do   func() *httptest.ResponseRecorder
		want int
	}{
		{"GET", func() *httptest.ResponseRecorder {
			w := httptest.NewRecorder()
			h.svc.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/mdm", nil))
			return w
		}, http.StatusMethodNotAllowed},
		{"foreign content type", func() *httptest.ResponseRecorder {
			return send(h.svc, "application/json", body, map[string]string{"Mdm-Signature": goodSig})
		}, http.StatusUnsupportedMediaType},
		{"malformed plist", func() *httptest.ResponseRecorder { return ue.command(t, h.svc, []byte("<plist><dict><key>")) }, http.StatusBadRequest},
		{"not a plist", func() *httptest.ResponseRecorder { return ue.command(t, h.svc, []byte("Status = Idle;")) }, http.StatusBadRequest},
		{"unknown MessageType", func() *httptest.ResponseRecorder {
			return ue.checkin(t, h.svc, plistDoc(`<key>MessageType</key><string>Reboot</string><key>EnrollmentID</key><string>UE-1</string>`))
		}, http.StatusBadRequest},
		{"check-in body as command", func() *httptest.ResponseRecorder { return ue.command(t, h.svc, ue.checkOut()) }, http.StatusBadRequest},
		{"oversize", func() *httptest.ResponseRecorder {
			big := plistDoc(`<key>MessageType</key><string>CheckOut</string><key>EnrollmentID</key><string>UE-1</string><key>Pad</key><string>` + strings.Repeat("A", 1<<20) + `</string>`)
			return ue.checkin(t, h.svc, big)
		}, http.StatusRequestEntityTooLarge},
		{"no signature", func() *httptest.ResponseRecorder { return send(h.svc, mdm.ContentTypeCommand, body, nil) }, http.StatusUnauthorized},
		{"garbage signature", func() *httptest.ResponseRecorder {
			return send(h.svc, mdm.ContentTypeCommand, body, map[string]string{"Mdm-Signature": "bm90IGNtcw=="})
		}, http.StatusUnauthorized},
		{"tampered body", func() *httptest.ResponseRecorder {
			return send(h.svc, mdm.ContentTypeCommand, body, map[string]string{"Mdm-Signature": otherSig})
		}, http.StatusUnauthorized},
		{"certificate from another CA", func() *httptest.ResponseRecorder { return stranger.command(t, h.svc, body) }, http.StatusForbidden},
		{"certificate reused by another enrollment", func() *httptest.ResponseRecorder { return thief.checkin(t, h.svc, thief.authenticate()) }, http.StatusForbidden},
		{"unknown enrollment", func() *httptest.ResponseRecorder {
			return unknown.checkin(t, h.svc, unknown.tokenUpdate("AQI="))
		}, http.StatusNotFound},
		{"unknown enrollment polls", func() *httptest.ResponseRecorder {
			return newcomer.command(t, h.svc, newcomer.status(mdm.StatusIdle, ""))
		}, http.StatusNotFound},
		{"another certificate for a bound enrollment", func() *httptest.ResponseRecorder {
			imp := &device{ident: ue.ident, cert: newcomer.cert, key: newcomer.key}
			return imp.command(t, h.svc, body)
		}, http.StatusForbidden},
		{"re-Authenticate with another certificate and no Prechecker", func() *httptest.ResponseRecorder {
			imp := &device{ident: ue.ident, cert: newcomer.cert, key: newcomer.key}
			return imp.checkin(t, h.svc, imp.authenticate())
		}, http.StatusForbidden},
		{"UserAuthenticate declined", func() *httptest.ResponseRecorder { return mac.checkin(t, h.svc, userAuth) }, http.StatusGone},
		{"unsupported DeclarativeManagement", func() *httptest.ResponseRecorder {
			return ue.checkin(t, h.svc, plistDoc(`<key>MessageType</key><string>DeclarativeManagement</string><key>EnrollmentID</key><string>UE-1</string><key>Endpoint</key><string>tokens</string>`))
		}, http.StatusNotFound},
		{"empty queue", func() *httptest.ResponseRecorder { return ue.command(t, h.svc, body) }, http.StatusOK},
	}
	// What Options.OnRequest is told of each: the refusal reason and, when
	// the body was decoded, the message type or command status.
	reasons := map[string]struct {
		reason string
		msg    mdm.MessageType
		status mdm.Status
	}{
		"GET":                         {reason: "method-not-allowed"},
		"foreign content type":        {reason: "unsupported-media-type"},
		"malformed plist":             {reason: "malformed"},
		"not a plist":                 {reason: "malformed"},
		"unknown MessageType":         {reason: "malformed"},
		"check-in body as command":    {reason: "malformed", msg: mdm.MessageCheckOut},
		"oversize":                    {reason: "body-too-large"},
		"no signature":                {reason: "no-certificate"},
		"garbage signature":           {reason: "bad-signature"},
		"tampered body":               {reason: "bad-signature"},
		"certificate from another CA": {reason: "untrusted-certificate"},
		"certificate reused by another enrollment":                   {reason: "certificate-in-use", msg: mdm.MessageAuthenticate},
		"unknown enrollment":                                         {reason: "unknown-enrollment", msg: mdm.MessageTokenUpdate},
		"unknown enrollment polls":                                   {reason: "unknown-enrollment", status: mdm.StatusIdle},
		"another certificate for a bound enrollment":                 {reason: "certificate-mismatch", status: mdm.StatusIdle},
		"re-Authenticate with another certificate and no Prechecker": {reason: "certificate-mismatch", msg: mdm.MessageAuthenticate},
		"UserAuthenticate declined":                                  {reason: "declined", msg: mdm.MessageUserAuthenticate},
		"unsupported DeclarativeManagement":                          {reason: "unsupported", msg: mdm.MessageDeclarativeManagement},
		"empty queue":                                                {status: mdm.StatusIdle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.kinds())
			reportMu.Lock()
			reports = nil
			reportMu.Unlock()
			w := tc.do()
			if w.Code != tc.want {
				t.Fatalf("status = %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tc.want)
			}
			reportMu.Lock()
			got := reports
			reportMu.Unlock()
			want := reasons[tc.name]
			if len(got) != 1 {
				t.Fatalf("OnRequest called %d times, want once", len(got))
			}
			if r := got[0]; r.HTTPStatus != tc.want || r.Reason != want.reason || r.MessageType != want.msg || r.Status != want.status ||
				(r.Err == nil) != (want.reason == "") || r.Duration <= 0 {
				t.Errorf("report = %+v, want status %d, reason %q, message %q, command status %q", r, tc.want, want.reason, want.msg, want.status)
			}
			if tc.want != http.StatusOK && len(h.kinds()) != before {
				t.Fatalf("refused request reached the observer: %q", h.kinds()[before:])
			}
		})
	}
	// Nothing the refused requests carried was stored.
	for _, id := range []mdm.EnrollmentID{"UE-2", "UE-UNKNOWN", "UE-NEW"} {
		if _, err := h.svc.Enrollment(context.Background(), id); !errors.Is(err, mdm.ErrNotFound) {
			t.Errorf("%s was stored: %v", id, err)
		}
	}
	rec, _ := h.svc.Enrollment(context.Background(), "UE-1")
	if rec.Certificate != mdm.FingerprintOf(ue.cert.Raw) {
		t.Errorf("UE-1 was rebound")
	}
}

func TestPrecheck(t *testing.T) {
	var seen []*mdm.Request
	h := newHarness(t, func(o *mdm.Config) {
		o.Prechecker = mdm.PrecheckFunc(func(ctx context.Context, r *mdm.Request) error {
			seen = append(seen, r)
			switch r.HTTP.Header.Get("Authorization") {
			case "Bearer good":
				return nil
			case "":
				return &mdm.RejectError{Status: http.StatusUnauthorized, Challenge: `Bearer method="apple-as-web", url="https://portal.example.com/enroll"`, Err: mdm.ErrUnauthorized}
			}
			return errors.New("token belongs to another enrollment")
		})
	})
	d := ueDevice(t, h, "UE-B", 1)
	do := func(dev *device, body []byte, bearer string) *httptest.ResponseRecorder {
		sig, _ := mdm.Sign(body, dev.cert, dev.key, &mdm.SignOptions{Hash: crypto.SHA1})
		hdr := map[string]string{"Mdm-Signature": sig}
		if bearer != "" {
			hdr["Authorization"] = "Bearer " + bearer
		}
		return send(h.svc, mdm.ContentTypeCheckin, body, hdr)
	}
	w := do(d, d.authenticate(), "")
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), "apple-as-web") {
		t.Fatalf("no bearer: %d %q", w.Code, w.Header())
	}
	if w := do(d, d.authenticate(), "stolen"); w.Code != http.StatusForbidden {
		t.Fatalf("wrong bearer: %d", w.Code)
	}
	if _, err := h.svc.Enrollment(context.Background(), "UE-B"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("refused Authenticate stored: %v", err)
	}
	if w := do(d, d.authenticate(), "good"); w.Code != http.StatusOK {
		t.Fatalf("good bearer: %d", w.Code)
	}
	last := seen[len(seen)-1]
	if last.Certificate == nil || last.Certificate.Equal(d.cert) == false || len(last.Chain) != 2 || last.Rebind ||
		last.Enrollment.Type != mdm.UserEnrollmentDevice || last.Message.CheckinHeader().MessageType != mdm.MessageAuthenticate {
		t.Fatalf("Precheck saw %+v", last)
	}
	// A re-Authenticate with a new certificate rebinds when the hook allows.
	d2 := &device{ident: d.ident, cert: h.ca.issue(t, "renewed", rsaKey(t, 2).Public()), key: rsaKey(t, 2)}
	if w := do(d2, d2.authenticate(), "stolen"); w.Code != http.StatusForbidden {
		t.Fatalf("rebinding refused by hook: %d", w.Code)
	}
	if w := do(d2, d2.authenticate(), "good"); w.Code != http.StatusOK || !seen[len(seen)-1].Rebind {
		t.Fatalf("rebinding allowed by hook: %d (Rebind=%v)", w.Code, seen[len(seen)-1].Rebind)
	}
	if w := do(d, d.tokenUpdate("AQI="), "good"); w.Code != http.StatusForbidden {
		t.Fatalf("old certificate after rebinding: %d", w.Code)
	}
	if w := do(d2, d2.tokenUpdate("AQI="), "good"); w.Code != http.StatusOK {
		t.Fatalf("new certificate after rebinding: %d", w.Code)
	}
}

func TestMultiplexers(t *testing.T) {
	var order []string
	pc := func(name string, err error) mdm.Prechecker {
		return mdm.PrecheckFunc(func(ctx context.Context, r *mdm.Request) error { order = append(order, name); return err })
	}
	ob := func(name string, err error) mdm.Observer {
		return mdm.ObserverFunc(func(ctx context.Context, ev *mdm.Event) error { order = append(order, name); return err })
	}
	stop := errors.New("stop")
	if err := (mdm.Prechecks{pc("a", nil), pc("b", stop), pc("c", nil)}).Precheck(context.Background(), &mdm.Request{}); err != stop {
		t.Fatalf("Prechecks = %v", err)
	}
	if err := (mdm.Observers{ob("d", nil), ob("e", stop), ob("f", nil)}).Observe(context.Background(), &mdm.Event{}); err != stop {
		t.Fatalf("Observers = %v", err)
	}
	if err := (mdm.Prechecks{pc("g", nil)}).Precheck(context.Background(), &mdm.Request{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ""); got != "abdeg" {
		t.Fatalf("call order %q, want abdeg", got)
	}
}

func TestObserverErrorIs500(t *testing.T) {
	h := newHarness(t, func(o *mdm.Config) {
		o.Observer = mdm.Observers{mdm.ObserverFunc(func(ctx context.Context, ev *mdm.Event) error {
			if ev.Kind == mdm.EventTokenUpdate {
				return errors.New("enroll: store unavailable")
			}
			return nil
		})}
	})
	d := ueDevice(t, h, "UE-O", 1)
	if w := d.checkin(t, h.svc, d.authenticate()); w.Code != http.StatusOK {
		t.Fatal(w.Code)
	}
	if w := d.checkin(t, h.svc, d.tokenUpdate("AQI=")); w.Code != http.StatusInternalServerError {
		t.Fatalf("observer failure: %d, want 500", w.Code)
	}
}

func TestQueueNotNowAndPush(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	a := ueDevice(t, h, "UE-A", 1)
	b := ueDevice(t, h, "UE-B", 2)
	h.enroll(a)
	h.enroll(b)
	for i, rt := range []string{"InstallProfile", "ProfileList", "DeviceInformation"} {
		c, _ := mdm.NewCommand(fmt.Sprintf("c%d", i), map[string]any{"RequestType": rt})
		if _, err := h.svc.Enqueue(ctx, c, "UE-A", "UE-B"); err != nil {
			t.Fatal(err)
		}
	}
	a.wantPoll(t, h.svc, mdm.StatusIdle, "", "c0")
	// A second concurrent poll does not get c0 too (nor c1 ahead of it).
	a.wantPoll(t, h.svc, mdm.StatusIdle, "", "")
	a.wantPoll(t, h.svc, mdm.StatusNotNow, "c0", "c1")
	// Errored commands are not retried.
	a.wantPoll(t, h.svc, mdm.StatusError, "c1", "c2")
	a.wantPoll(t, h.svc, mdm.StatusAcknowledged, "c2", "")
	// Idle makes NotNow commands deliverable again.
	a.wantPoll(t, h.svc, mdm.StatusIdle, "", "c0")
	a.wantPoll(t, h.svc, mdm.StatusNotNow, "c0", "")
	// So does a push.
	if _, err := h.svc.Push(ctx, "UE-A"); err != nil {
		t.Fatal(err)
	}
	a.wantPoll(t, h.svc, mdm.StatusIdle, "", "c0")
	// A result for a command that is not pending is ignored, not stored.
	a.wantPoll(t, h.svc, mdm.StatusAcknowledged, "nope", "")
	if _, err := h.svc.Result(ctx, "UE-A", "nope"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatal("stored a result for an unknown command")
	}
	// B's queue is independent.
	b.wantPoll(t, h.svc, mdm.StatusIdle, "", "c0")
}

// TestCommandLease runs sessions on a stopped clock, so that any delivery
// that waited for a lease to run out would fail: a device's answer ends the
// lease, and only an unanswered command waits for it.
func TestCommandLease(t *testing.T) {
	now := time.Now()
	h := newHarness(t, func(o *mdm.Config) { o.Now = func() time.Time { return now } })
	ctx := context.Background()
	d := ueDevice(t, h, "UE-L", 1)
	h.enroll(d)
	queue := func(uuids ...string) {
		t.Helper()
		for _, u := range uuids {
			c, _ := mdm.NewCommand(u, map[string]any{"RequestType": "ProfileList"})
			if _, err := h.svc.Enqueue(ctx, c, "UE-L"); err != nil {
				t.Fatal(err)
			}
		}
	}
	queue("c0", "c1", "c2")
	d.wantPoll(t, h.svc, mdm.StatusIdle, "", "c0")
	d.wantPoll(t, h.svc, mdm.StatusAcknowledged, "c0", "c1")
	d.wantPoll(t, h.svc, mdm.StatusNotNow, "c1", "c2")
	d.wantPoll(t, h.svc, mdm.StatusAcknowledged, "c2", "")
	// The next session's Idle gets the NotNow command at once.
	d.wantPoll(t, h.svc, mdm.StatusIdle, "", "c1")
	d.wantPoll(t, h.svc, mdm.StatusError, "c1", "")
	d.wantPoll(t, h.svc, mdm.StatusIdle, "", "")
	// A command whose response was lost is held for the lease, then
	// delivered to the next poll.
	queue("c3")
	d.wantPoll(t, h.svc, mdm.StatusIdle, "", "c3")
	d.wantPoll(t, h.svc, mdm.StatusIdle, "", "") // not to a second request
	now = now.Add(59 * time.Second)
	d.wantPoll(t, h.svc, mdm.StatusIdle, "", "")
	now = now.Add(2 * time.Second)
	d.wantPoll(t, h.svc, mdm.StatusIdle, "", "c3")
	d.wantPoll(t, h.svc, mdm.StatusAcknowledged, "c3", "")
}

func TestPushTokenDead(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	a := ueDevice(t, h, "UE-DEAD", 1)
	h.enroll(a)
	h.pushFn = func(tg mdm.PushTarget) error { return fmt.Errorf("apns: 410 Unregistered: %w", mdm.ErrPushTokenDead) }
	res, err := h.svc.Push(ctx, "UE-DEAD")
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, mdm.ErrPushTokenDead) {
		t.Fatalf("Push = %+v, %v", res, err)
	}
	if rec, _ := h.svc.Enrollment(ctx, "UE-DEAD"); !rec.TokenDead {
		t.Fatal("token not marked dead")
	}
	h.pushFn = nil
	n := len(h.pushed)
	if res, _ := h.svc.Push(ctx, "UE-DEAD"); len(res) != 0 || len(h.pushed) != n {
		t.Fatal("pushed a dead token")
	}
	// A new TokenUpdate revives it.
	if w := a.checkin(t, h.svc, a.tokenUpdate("AAEC")); w.Code != http.StatusOK {
		t.Fatal(w.Code)
	}
	if res, _ := h.svc.Push(ctx, "UE-DEAD"); len(res) != 1 || string(h.pushed[len(h.pushed)-1].Token) != "\x00\x01\x02" {
		t.Fatalf("no push after a new TokenUpdate: %+v", res)
	}
	// Unknown enrollments and a nil Pusher push nothing.
	if res, err := h.svc.Push(ctx, "nobody"); err != nil || len(res) != 0 {
		t.Fatalf("Push(unknown) = %v, %v", res, err)
	}
	h2 := newHarness(t, func(o *mdm.Config) { o.Pusher = nil })
	h2.enroll(ueDevice(t, h2, "UE-X", 1))
	c, _ := mdm.NewCommand("x", map[string]any{"RequestType": "ProfileList"})
	if res, err := h2.svc.Enqueue(ctx, c, "UE-X"); err != nil || res != nil {
		t.Fatalf("Enqueue without Pusher = %v, %v", res, err)
	}
}

func TestAlternativeIdentitySources(t *testing.T) {
	h := newHarness(t, func(o *mdm.Config) { o.CertHeader = "Client-Cert" })
	d := ueDevice(t, h, "UE-TLS", 1)
	auth := d.authenticate()

	r := httptest.NewRequest(http.MethodPut, "/mdm", strings.NewReader(string(auth)))
	r.Header.Set("Content-Type", mdm.ContentTypeCheckin)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{d.cert}}
	w := httptest.NewRecorder()
	h.svc.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("TLS client certificate: %d %s", w.Code, w.Body)
	}
	hdr := ":" + base64.StdEncoding.EncodeToString(d.cert.Raw) + ":"
	if w := send(h.svc, mdm.ContentTypeCheckin, d.tokenUpdate("AQI="), map[string]string{"Client-Cert": hdr}); w.Code != http.StatusOK {
		t.Fatalf("RFC 9440 Client-Cert: %d %s", w.Code, w.Body)
	}
	if w := send(h.svc, mdm.ContentTypeCheckin, d.tokenUpdate("AQI="), map[string]string{"Client-Cert": "garbage"}); w.Code != http.StatusUnauthorized {
		t.Fatalf("bad Client-Cert: %d", w.Code)
	}

	// A proxy that forwards URL-escaped PEM under its own header name.
	h2 := newHarness(t, func(o *mdm.Config) { o.CertHeader = "X-Ssl-Client-Cert" })
	d2 := ueDevice(t, h2, "UE-PROXY", 1)
	esc := url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d2.cert.Raw})))
	if w := send(h2.svc, mdm.ContentTypeCheckin, d2.authenticate(), map[string]string{"X-Ssl-Client-Cert": esc}); w.Code != http.StatusOK {
		t.Fatalf("escaped PEM header: %d %s", w.Code, w.Body)
	}
	if w := send(h2.svc, mdm.ContentTypeCheckin, d2.tokenUpdate("AQI="), map[string]string{"X-Ssl-Client-Cert": base64.StdEncoding.EncodeToString(d2.cert.Raw)}); w.Code != http.StatusOK {
		t.Fatalf("base64 DER header: %d %s", w.Code, w.Body)
	}
	// Without CertHeader configured the header is not trusted.
	h3 := newHarness(t, nil)
	if w := send(h3.svc, mdm.ContentTypeCheckin, d2.authenticate(), map[string]string{"Client-Cert": ":" + base64.StdEncoding.EncodeToString(d2.cert.Raw) + ":"}); w.Code != http.StatusUnauthorized {
		t.Fatalf("untrusted header accepted: %d", w.Code)
	}
}

func TestResponder(t *testing.T) {
	calls := 0
	h := newHarness(t, func(o *mdm.Config) {
		o.Responder = mdm.ResponderFunc(func(ctx context.Context, r *mdm.Request) ([]byte, error) {
			calls++
			if m, ok := r.Message.(*mdm.DeclarativeManagement); ok && m.Endpoint == "tokens" {
				return []byte(`{"SyncTokens":{"DeclarationsToken":"x","Timestamp":"2026-01-01T00:00:00Z"}}`), nil
			}
			return nil, mdm.ErrUnsupported
		})
	})
	d := ueDevice(t, h, "UE-DDM", 1)
	h.enroll(d)
	w := d.checkin(t, h.svc, plistDoc(`<key>MessageType</key><string>DeclarativeManagement</string><key>EnrollmentID</key><string>UE-DDM</string><key>Endpoint</key><string>tokens</string>`))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "SyncTokens") {
		t.Fatalf("DeclarativeManagement: %d %s", w.Code, w.Body)
	}
	// Bootstrap tokens are refused for a User Enrollment before the Responder.
	w = d.checkin(t, h.svc, plistDoc(`<key>MessageType</key><string>SetBootstrapToken</string><key>EnrollmentID</key><string>UE-DDM</string><key>BootstrapToken</key><data>AQI=</data>`))
	if w.Code != http.StatusNotFound || calls != 1 {
		t.Fatalf("SetBootstrapToken under User Enrollment: %d (Responder calls %d)", w.Code, calls)
	}
	dev := newDevice(t, h.ca, mdm.Identifiers{UDID: "MAC-1"}, 2)
	h.enroll(dev)
	if w := dev.checkin(t, h.svc, plistDoc(`<key>MessageType</key><string>GetBootstrapToken</string><key>UDID</key><string>MAC-1</string>`)); w.Code != http.StatusNotFound || calls != 2 {
		t.Fatalf("GetBootstrapToken for a device enrollment: %d (Responder calls %d)", w.Code, calls)
	}
	w = d.checkin(t, h.svc, plistDoc(`<key>MessageType</key><string>GetToken</string><key>EnrollmentID</key><string>UE-DDM</string><key>TokenServiceType</key><string>com.apple.maid</string>`))
	if w.Code != http.StatusNotFound {
		t.Fatalf("GetToken: %d", w.Code)
	}
}

func TestNewServiceRequiresStoreAndRoots(t *testing.T) {
	if _, err := mdm.NewService(nil, mdm.Config{}); err == nil {
		t.Fatal("nil store accepted")
	}
	h := newHarness(t, nil)
	if _, err := mdm.NewService(h.store, mdm.Config{Prechecker: mdm.NoPrechecker}); err == nil {
		t.Fatal("no roots accepted")
	}
}

// vettingObserver stands for package enroll's Service: an Observer whose
// Precheck records what its Observe relies on.
type vettingObserver struct{ name string }

func (*vettingObserver) Precheck(context.Context, *mdm.Request) error { return nil }
func (*vettingObserver) Observe(context.Context, *mdm.Event) error    { return nil }

// TestNewServiceWiring checks that a Service is not built with its checks
// silently off: a Prechecker is required (NoPrechecker names the choice of
// none), and an Observer that is a Prechecker too must be among the
// Prechecker's.
func TestNewServiceWiring(t *testing.T) {
	h := newHarness(t, nil)
	roots := []*x509.Certificate{h.ca.cert}
	enr, other := &vettingObserver{"enroll"}, &vettingObserver{"other"}
	host := mdm.PrecheckFunc(func(context.Context, *mdm.Request) error { return nil })
	for _, tt := range []struct {
		name   string
		opts   mdm.Config
		wantOK bool
	}{
		{"nil prechecker", mdm.Config{Roots: roots}, false},
		{"nil prechecker, enroll observer", mdm.Config{Roots: roots, Observer: enr}, false},
		{"no prechecker named, enroll observer", mdm.Config{Roots: roots, Prechecker: mdm.NoPrechecker, Observer: enr}, false},
		{"another prechecker", mdm.Config{Roots: roots, Prechecker: other, Observer: enr}, false},
		{"host prechecker only", mdm.Config{Roots: roots, Prechecker: host, Observer: enr}, false},
		{"observer among others", mdm.Config{Roots: roots, Prechecker: host, Observer: mdm.Observers{mdm.ObserverFunc(nil), enr}}, false},
		{"no prechecker named", mdm.Config{Roots: roots, Prechecker: mdm.NoPrechecker}, true},
		{"no prechecker, plain observer", mdm.Config{Roots: roots, Prechecker: mdm.NoPrechecker, Observer: mdm.ObserverFunc(nil)}, true},
		{"same value", mdm.Config{Roots: roots, Prechecker: enr, Observer: enr}, true},
		{"in prechecks", mdm.Config{Roots: roots, Prechecker: mdm.Prechecks{host, enr}, Observer: mdm.Observers{mdm.ObserverFunc(nil), enr}}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mdm.NewService(h.store, tt.opts)
			if (err == nil) != tt.wantOK {
				t.Fatalf("err = %v, want ok %v", err, tt.wantOK)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "mdm: NewService: ") {
				t.Fatalf("error without prefix: %v", err)
			}
		})
	}
}

// TestTLSClientCertificate runs a real TLS handshake: the server asks for any
// client certificate and leaves verification to the Service.
func TestTLSClientCertificate(t *testing.T) {
	h := newHarness(t, nil)
	d := ueDevice(t, h, "UE-MTLS", 1)
	srv := httptest.NewUnstartedServer(h.svc)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{{Certificate: [][]byte{d.cert.Raw}, PrivateKey: d.key}}
	put := func(body []byte) int {
		req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", mdm.ContentTypeCheckin)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put(d.authenticate()); code != http.StatusOK {
		t.Fatalf("Authenticate over mutual TLS: %d", code)
	}
	if code := put(d.tokenUpdate("AQI=")); code != http.StatusOK {
		t.Fatalf("TokenUpdate over mutual TLS: %d", code)
	}
	rec, err := h.svc.Enrollment(context.Background(), "UE-MTLS")
	if err != nil || !rec.Enrolled || rec.Certificate != mdm.FingerprintOf(d.cert.Raw) {
		t.Fatalf("record = %+v, %v", rec, err)
	}
}

// TestConcurrentPolls sends many Idle polls of one device at once: the
// queued command goes to exactly one of them.
func TestConcurrentPolls(t *testing.T) {
	h := newHarness(t, nil)
	d := ueDevice(t, h, "UE-RACE", 1)
	h.enroll(d)
	c, _ := mdm.NewCommand("only-once", map[string]any{"RequestType": "DeviceInformation"})
	if _, err := h.svc.Enqueue(context.Background(), c, "UE-RACE"); err != nil {
		t.Fatal(err)
	}
	body := d.status(mdm.StatusIdle, "")
	sig, _ := mdm.Sign(body, d.cert, d.key, nil)
	const n = 12
	got := make(chan int, n)
	for range n {
		go func() {
			w := send(h.svc, mdm.ContentTypeCommand, body, map[string]string{"Mdm-Signature": sig})
			if w.Code != http.StatusOK {
				got <- -1
				return
			}
			got <- w.Body.Len()
		}()
	}
	delivered := 0
	for range n {
		switch l := <-got; {
		case l < 0:
			t.Fatal("a poll failed")
		case l > 0:
			delivered++
		}
	}
	if delivered != 1 {
		t.Fatalf("the command was delivered %d times, want once", delivered)
	}
}
