package mdm_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/memory"
)

var (
	keyOnce sync.Once
	keys    []*rsa.PrivateKey
)

// rsaKey returns one of a few RSA-2048 keys generated once per test binary.
func rsaKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		for range 6 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys = append(keys, k)
		}
	})
	return keys[i]
}

type testCA struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

var serial int64 = 1000

func nextSerial() *big.Int {
	serial++
	return big.NewInt(serial)
}

func newCA(t testing.TB, cn string, key int) *testCA {
	t.Helper()
	k := rsaKey(t, key)
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn, Organization: []string{"Example Corp"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: k}
}

func (ca *testCA) issue(t testing.TB, cn string, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		SubjectKeyId: nextSerial().Bytes(), // lets openssl cms -keyid name the signer by key identifier
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// device is a simulated enrolled device.
type device struct {
	ident mdm.Identifiers
	cert  *x509.Certificate
	key   crypto.Signer
}

func newDevice(t testing.TB, ca *testCA, ident mdm.Identifiers, key int) *device {
	t.Helper()
	k := rsaKey(t, key)
	return &device{ident: ident, cert: ca.issue(t, "device identity", k.Public()), key: k}
}

func (d *device) idKeys() string {
	var b strings.Builder
	for _, kv := range [][2]string{{"UDID", d.ident.UDID}, {"EnrollmentID", d.ident.EnrollmentID},
		{"EnrollmentUserID", d.ident.EnrollmentUserID}, {"UserID", d.ident.UserID}, {"UserShortName", d.ident.UserShortName}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "<key>%s</key><string>%s</string>", kv[0], kv[1])
		}
	}
	return b.String()
}

func plistDoc(inner string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>` + inner + `</dict></plist>`)
}

const topic = "com.apple.mgmt.External.9b2c4f1e-1d77-4a0e-8c1b-6a1f2e3d4c5b"

func (d *device) authenticate() []byte {
	if d.ident.EnrollmentID != "" { // the exact shape of an iOS User Enrollment Authenticate
		return plistDoc(`<key>BuildVersion</key><string>22B83</string>` + d.idKeys() +
			`<key>MessageType</key><string>Authenticate</string><key>OSVersion</key><string>18.1</string>` +
			`<key>ProductName</key><string>iPhone16,1</string><key>Topic</key><string>` + topic + `</string>`)
	}
	return plistDoc(`<key>MessageType</key><string>Authenticate</string><key>Topic</key><string>` + topic + `</string>` + d.idKeys() +
		`<key>OSVersion</key><string>17.6</string><key>BuildVersion</key><string>21G80</string><key>ProductName</key><string>iPad13,4</string>` +
		`<key>SerialNumber</key><string>F9FXK0ABCD12</string><key>DeviceName</key><string>Front desk</string><key>Model</key><string>J517AP</string><key>ModelName</key><string>iPad</string>`)
}

func (d *device) tokenUpdate(token string) []byte {
	return plistDoc(`<key>MessageType</key><string>TokenUpdate</string><key>Topic</key><string>` + topic + `</string>` + d.idKeys() +
		`<key>Token</key><data>` + token + `</data><key>PushMagic</key><string>5A2B3C4D-0000-4E5F-8A9B-1C2D3E4F5A6B</string>`)
}

func (d *device) checkOut() []byte {
	return plistDoc(`<key>MessageType</key><string>CheckOut</string><key>Topic</key><string>` + topic + `</string>` + d.idKeys())
}

func (d *device) status(st mdm.Status, uuid string) []byte {
	inner := `<key>Status</key><string>` + string(st) + `</string>` + d.idKeys()
	if uuid != "" {
		inner += `<key>CommandUUID</key><string>` + uuid + `</string>`
	}
	return plistDoc(inner)
}

// do sends body signed with d's key (SHA-1, no attributes: the common device
// shape) to h and returns the recorder.
func (d *device) do(t testing.TB, h http.Handler, ct string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	sig, err := mdm.Sign(body, d.cert, d.key, &mdm.SignOptions{Hash: crypto.SHA1})
	if err != nil {
		t.Fatal(err)
	}
	return send(h, ct, body, map[string]string{"Mdm-Signature": sig})
}

func (d *device) checkin(t testing.TB, h http.Handler, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	return d.do(t, h, mdm.ContentTypeCheckin, body)
}

func (d *device) command(t testing.TB, h http.Handler, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	return d.do(t, h, mdm.ContentTypeCommand, body)
}

func send(h http.Handler, ct string, body []byte, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPut, "/mdm", strings.NewReader(string(body)))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// uuidOf returns the CommandUUID of the command a 200 response carries, or
// "" for an empty one, and fails the test on any other status.
func uuidOf(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if w.Body.Len() == 0 {
		return ""
	}
	c, err := mdm.ParseCommand(w.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return c.UUID
}

// wantPoll sends d's answer st to command uuid ("" with Idle) and fails the
// test unless h responds with command want ("" for an empty response).
func (d *device) wantPoll(t testing.TB, h http.Handler, st mdm.Status, uuid, want string) {
	t.Helper()
	if got := uuidOf(t, d.command(t, h, d.status(st, uuid))); got != want {
		t.Fatalf("%s %s: got command %q, want %q", st, uuid, got, want)
	}
}

// wantSigned sends body as a check-in with the detached CMS signature sig in
// Mdm-Signature and fails the test unless h answers code.
func wantSigned(t testing.TB, h http.Handler, body, sig []byte, code int, what string) {
	t.Helper()
	w := send(h, mdm.ContentTypeCheckin, body, map[string]string{"Mdm-Signature": base64.StdEncoding.EncodeToString(sig)})
	if w.Code != code {
		t.Fatalf("%s: %d %s, want %d", what, w.Code, w.Body, code)
	}
}

// harness is a Service on a memory store with a recording pusher and observer.
type harness struct {
	t      testing.TB
	ca     *testCA
	store  *memory.MDMStore
	svc    *mdm.Service
	mu     sync.Mutex
	pushed []mdm.PushTarget
	events []*mdm.Event
	pushFn func(mdm.PushTarget) error
}

func newHarness(t testing.TB, mod func(*mdm.Config)) *harness {
	t.Helper()
	h := &harness{t: t, ca: newCA(t, "Example Device CA", 0), store: memory.NewMDMStore()}
	opts := mdm.Config{
		Roots:      []*x509.Certificate{h.ca.cert},
		Prechecker: mdm.NoPrechecker,
		Pusher: mdm.PusherFunc(func(ctx context.Context, ts []mdm.PushTarget) ([]mdm.PushResult, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			out := make([]mdm.PushResult, len(ts))
			for i, tg := range ts {
				h.pushed = append(h.pushed, tg)
				out[i].EnrollmentID = tg.EnrollmentID
				if h.pushFn != nil {
					out[i].Err = h.pushFn(tg)
				}
			}
			return out, nil
		}),
		Observer: mdm.ObserverFunc(func(ctx context.Context, ev *mdm.Event) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.events = append(h.events, ev)
			return nil
		}),
	}
	if mod != nil {
		mod(&opts)
	}
	svc, err := mdm.NewService(h.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	return h
}

func (h *harness) kinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.events {
		out = append(out, fmt.Sprintf("%s %s", e.Kind, e.Enrollment.ID))
	}
	return out
}

// enroll runs Authenticate and TokenUpdate for d and fails the test on any
// other outcome than 200.
func (h *harness) enroll(d *device) {
	h.t.Helper()
	for _, body := range [][]byte{d.authenticate(), d.tokenUpdate("3q2+7w==")} {
		if w := d.checkin(h.t, h.svc, body); w.Code != http.StatusOK {
			h.t.Fatalf("enroll: %d %s", w.Code, w.Body)
		}
	}
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
