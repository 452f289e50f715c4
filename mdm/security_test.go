package mdm_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/internal/testenv"
	"github.com/enrollkit/enrollkit/mdm"
)

// TestSecurityForeignCertificate sends every message a device may send,
// naming an enrolled device, but signed by the certificate bound to another
// enrollment, by a certificate from another CA, and unsigned: each is
// refused and changes nothing.
func TestSecurityForeignCertificate(t *testing.T) {
	h := newHarness(t, nil)
	victim := ueDevice(t, h, "UE-VICTIM", 1)
	h.enroll(victim)
	attacker := ueDevice(t, h, "UE-ATTACKER", 2)
	h.enroll(attacker)
	ctx := context.Background()
	cmd, err := mdm.NewCommand("victim-cmd", map[string]any{"RequestType": "ProfileList"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Enqueue(ctx, cmd, "UE-VICTIM"); err != nil {
		t.Fatal(err)
	}
	before, _ := h.svc.Enrollment(ctx, "UE-VICTIM")
	// Bodies that name the victim.
	bodies := []struct {
		name string
		ct   string
		body []byte
	}{
		{"Authenticate", mdm.ContentTypeCheckin, victim.authenticate()},
		{"TokenUpdate", mdm.ContentTypeCheckin, victim.tokenUpdate("q83vEg==")},
		{"CheckOut", mdm.ContentTypeCheckin, victim.checkOut()},
		{"Idle", mdm.ContentTypeCommand, victim.status(mdm.StatusIdle, "")},
		{"Acknowledged", mdm.ContentTypeCommand, victim.status(mdm.StatusAcknowledged, "victim-cmd")},
	}
	other := newCA(t, "Someone Else's CA", 3)
	stranger := newDevice(t, other, victim.ident, 4)
	signers := []struct {
		name string
		send func(ct string, body []byte) *httptest.ResponseRecorder
		want []int
	}{
		{"another enrollment's certificate", func(ct string, body []byte) *httptest.ResponseRecorder {
			d := &device{ident: victim.ident, cert: attacker.cert, key: attacker.key}
			return d.do(t, h.svc, ct, body)
		}, []int{http.StatusForbidden}},
		{"certificate from another CA", func(ct string, body []byte) *httptest.ResponseRecorder {
			return stranger.do(t, h.svc, ct, body)
		}, []int{http.StatusForbidden}},
		{"no certificate", func(ct string, body []byte) *httptest.ResponseRecorder {
			return send(h.svc, ct, body, nil)
		}, []int{http.StatusUnauthorized}},
		{"victim's signature over another body", func(ct string, body []byte) *httptest.ResponseRecorder {
			sig, err := mdm.Sign(victim.status(mdm.StatusNotNow, "something-else"), victim.cert, victim.key, nil)
			if err != nil {
				t.Fatal(err)
			}
			return send(h.svc, ct, body, map[string]string{"Mdm-Signature": sig})
		}, []int{http.StatusUnauthorized}},
		{"certificate header not configured", func(ct string, body []byte) *httptest.ResponseRecorder {
			return send(h.svc, ct, body, map[string]string{"Client-Cert": ":" + base64.StdEncoding.EncodeToString(victim.cert.Raw) + ":"})
		}, []int{http.StatusUnauthorized}},
	}
	for _, s := range signers {
		for _, b := range bodies {
			t.Run(s.name+"/"+b.name, func(t *testing.T) {
				events := len(h.kinds())
				w := s.send(b.ct, b.body)
				ok := false
				for _, code := range s.want {
					ok = ok || w.Code == code
				}
				if !ok {
					t.Fatalf("status %d (%s), want %v", w.Code, strings.TrimSpace(w.Body.String()), s.want)
				}
				if got := h.kinds(); len(got) != events {
					t.Fatalf("refused request reached the observer: %q", got[events:])
				}
			})
		}
	}
	after, _ := h.svc.Enrollment(ctx, "UE-VICTIM")
	if after.Certificate != before.Certificate || after.CheckedOut || !bytes.Equal(after.Token, before.Token) || after.PushMagic != before.PushMagic {
		t.Fatalf("the victim's record changed: %+v", after)
	}
	if _, err := h.svc.Result(ctx, "UE-VICTIM", "victim-cmd"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("a refused request stored a result: %v", err)
	}
	victim.wantPoll(t, h.svc, mdm.StatusIdle, "", "victim-cmd")
}

// TestSecurityResultForAnotherEnrollmentsCommand has a device answer, with
// its own certificate, a command queued for another enrollment: the answer
// is not stored, no observer hears of it, and the command stays pending
// for its own device.
func TestSecurityResultForAnotherEnrollmentsCommand(t *testing.T) {
	h := newHarness(t, nil)
	victim := ueDevice(t, h, "UE-VICTIM", 1)
	h.enroll(victim)
	attacker := ueDevice(t, h, "UE-ATTACKER", 2)
	h.enroll(attacker)
	ctx := context.Background()
	cmd, _ := mdm.NewCommand("victim-only", map[string]any{"RequestType": "InstalledApplicationList"})
	if _, err := h.svc.Enqueue(ctx, cmd, "UE-VICTIM"); err != nil {
		t.Fatal(err)
	}
	events := len(h.kinds())
	attacker.wantPoll(t, h.svc, mdm.StatusAcknowledged, "victim-only", "")
	if got := h.kinds(); len(got) != events {
		t.Fatalf("a result for another enrollment's command reached the observer: %q", got[events:])
	}
	for _, id := range []mdm.EnrollmentID{"UE-VICTIM", "UE-ATTACKER"} {
		if _, err := h.svc.Result(ctx, id, "victim-only"); !errors.Is(err, mdm.ErrNotFound) {
			t.Fatalf("result stored for %s: %v", id, err)
		}
	}
	victim.wantPoll(t, h.svc, mdm.StatusIdle, "", "victim-only")
	victim.wantPoll(t, h.svc, mdm.StatusAcknowledged, "victim-only", "")
	if _, err := h.svc.Result(ctx, "UE-VICTIM", "victim-only"); err != nil {
		t.Fatalf("the victim's own result: %v", err)
	}
}

// TestSecurityReplay documents what the protocol allows: Mdm-Signature
// covers the body only, not the URL path, the method or the time, so a
// captured request body with its signature can be sent again (to either
// URL). What a replay can do is bounded: it speaks only for the enrollment
// that signed it, a command result is stored once (the replay is a result
// for a command no longer pending), and a check-in writes the same values
// again.
func TestSecurityReplay(t *testing.T) {
	h := newHarness(t, nil)
	d := ueDevice(t, h, "UE-REPLAY", 1)
	h.enroll(d)
	ctx := context.Background()
	cmd, _ := mdm.NewCommand("once", map[string]any{"RequestType": "ProfileList"})
	if _, err := h.svc.Enqueue(ctx, cmd, "UE-REPLAY"); err != nil {
		t.Fatal(err)
	}
	d.wantPoll(t, h.svc, mdm.StatusIdle, "", "once")
	body := d.status(mdm.StatusAcknowledged, "once")
	sig, err := mdm.Sign(body, d.cert, d.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	events := len(h.kinds())
	for _, path := range []string{"/mdm/server", "/mdm/checkin", "/elsewhere"} {
		r := httptest.NewRequest(http.MethodPut, path, bytes.NewReader(body))
		r.Header.Set("Mdm-Signature", sig)
		w := httptest.NewRecorder()
		h.svc.ServeHTTP(w, r)
		if w.Code != http.StatusOK || w.Body.Len() != 0 {
			t.Fatalf("%s: %d %q", path, w.Code, w.Body)
		}
		if len(h.kinds()) != events+1 {
			t.Fatalf("%s: observer heard %q, want one result in all", path, h.kinds()[events:])
		}
	}
	// A replayed body names only its signer's enrollment: with the
	// EnrollmentID changed, the signature no longer matches.
	forged := bytes.Replace(body, []byte("UE-REPLAY"), []byte("UE-OTHERS"), 1)
	if w := send(h.svc, mdm.ContentTypeCommand, forged, map[string]string{"Mdm-Signature": sig}); w.Code != http.StatusUnauthorized {
		t.Fatalf("replayed signature over an edited body: %d", w.Code)
	}
}

// TestSecurityBodyLimitBeforeParsing checks that an oversize body is
// refused from its declared length or while it is read, before any of it
// is parsed or its signature verified. (A request without a trusted
// certificate is refused before its body is read at all.)
func TestSecurityBodyLimitBeforeParsing(t *testing.T) {
	h := newHarness(t, func(o *mdm.Config) { o.MaxCheckinBytes, o.MaxCommandBytes = 4096, 8192 })
	big := bytes.Repeat([]byte("A"), 9000)
	// A trusted certificate, so that the body is read, and a signature
	// over other bytes: a 400 or 401 would mean the body was parsed or
	// verified.
	d := ueDevice(t, h, "UE-BIG", 1)
	sig, err := mdm.Sign([]byte("other bytes"), d.cert, d.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range []string{mdm.ContentTypeCheckin, mdm.ContentTypeCommand, ""} {
		w := send(h.svc, ct, big, map[string]string{"Mdm-Signature": sig})
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("%q: %d, want 413", ct, w.Code)
		}
		r := httptest.NewRequest(http.MethodPut, "/mdm", struct{ *bytes.Reader }{bytes.NewReader(big)})
		r.Header.Set("Mdm-Signature", sig)
		r.ContentLength = -1 // chunked: the length is learnt while reading
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		w = httptest.NewRecorder()
		h.svc.ServeHTTP(w, r)
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("%q chunked: %d, want 413", ct, w.Code)
		}
	}
}

// TestSecurityLogsCarryNoSecrets runs enrollment, pushes, command results
// and refused requests with the Service logging at Debug, and looks for the
// device token and push magic in the log.
func TestSecurityLogsCarryNoSecrets(t *testing.T) {
	var buf testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHarness(t, func(o *mdm.Config) { o.Logger = logger })
	h.pushFn = func(mdm.PushTarget) error { return errors.New("push refused") }
	d := ueDevice(t, h, "UE-LOGS", 1)
	token := bytes.Repeat([]byte{0xC0, 0xFF, 0xEE, 0x42}, 8)
	tok64 := base64.StdEncoding.EncodeToString(token)
	const magic = "5A2B3C4D-0000-4E5F-8A9B-1C2D3E4F5A6B" // tokenUpdate's PushMagic
	if w := d.checkin(t, h.svc, d.authenticate()); w.Code != http.StatusOK {
		t.Fatalf("Authenticate: %d", w.Code)
	}
	if w := d.checkin(t, h.svc, d.tokenUpdate(tok64)); w.Code != http.StatusOK {
		t.Fatalf("TokenUpdate: %d", w.Code)
	}
	cmd, _ := mdm.NewCommand("logged", map[string]any{"RequestType": "ProfileList"})
	if _, err := h.svc.Enqueue(context.Background(), cmd, "UE-LOGS"); err != nil {
		t.Fatal(err)
	}
	d.wantPoll(t, h.svc, mdm.StatusIdle, "", "logged")
	d.wantPoll(t, h.svc, mdm.StatusAcknowledged, "logged", "")
	d.wantPoll(t, h.svc, mdm.StatusAcknowledged, "logged", "") // a result for a command not pending
	// Refused: a TokenUpdate with the token under a wrong type, and one
	// signed by a stranger.
	bad := plistDoc(`<key>MessageType</key><string>TokenUpdate</string>` + d.idKeys() +
		`<key>Token</key><string>` + tok64 + `</string><key>PushMagic</key><data>` + base64.StdEncoding.EncodeToString([]byte(magic)) + `</data>`)
	if w := d.checkin(t, h.svc, bad); w.Code != http.StatusBadRequest {
		t.Fatalf("malformed TokenUpdate: %d", w.Code)
	}
	stranger := newDevice(t, newCA(t, "Other CA", 3), d.ident, 4)
	if w := stranger.checkin(t, h.svc, d.tokenUpdate(tok64)); w.Code != http.StatusForbidden {
		t.Fatalf("stranger's TokenUpdate: %d", w.Code)
	}
	out := buf.String()
	if !strings.Contains(out, "mdm: check-in") || !strings.Contains(out, "mdm: request refused") {
		t.Fatalf("the requests were not logged:\n%s", out)
	}
	for _, s := range []string{tok64, hex.EncodeToString(token), strings.ToUpper(hex.EncodeToString(token)), magic} {
		if strings.Contains(out, s) {
			t.Errorf("the log carries %q:\n%s", s, out)
		}
	}
}
