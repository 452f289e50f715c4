package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
	"github.com/enrollkit/enrollkit/internal/testenv"
)

// fakeAPNs serves devicesim's stand-in for APNs over HTTP/2 with TLS,
// demanding a client certificate as APNs does; it records the subject of
// every client certificate it sees.
type fakeAPNs struct {
	devicesim.PushServer
	srv *httptest.Server

	mu    sync.Mutex
	certs []string
}

func newFakeAPNs(t *testing.T) *fakeAPNs {
	t.Helper()
	f := &fakeAPNs{}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, `{"reason":"NotHTTP2"}`, http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.certs = append(f.certs, r.TLS.PeerCertificates[0].Subject.String())
		f.mu.Unlock()
		f.PushServer.ServeHTTP(w, r)
	}))
	f.srv.EnableHTTP2 = true
	f.srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPNs) lastCert() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.certs) == 0 {
		return ""
	}
	return f.certs[len(f.certs)-1]
}

// testServer is the example server running in-process on a loopback port.
type testServer struct {
	st     *stack
	url    string
	client *http.Client // trusts the server's development CA
	apns   *fakeAPNs
	topic  string
	// notices is what the server shows on its terminal (invitations),
	// log its log: they are kept apart because invitations hold secrets.
	notices *syncBuffer
	log     *syncBuffer
	served  []atomic.Int64 // requests each replica served, with startReplicas
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// oidUID is the subject attribute APNs reads the push topic from.
var oidUID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// writePushCert writes a self-signed MDM push certificate with topic to a
// PEM file holding the certificate and its key.
func writePushCert(t *testing.T, dir, topic string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject: pkix.Name{
			CommonName: "APSP:" + topic,
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidUID, Value: topic}},
		},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "push.pem")
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServer starts the example server with a push certificate and a
// local APNs stand-in; extra flags are appended to the command line.
func startServer(t *testing.T, extra ...string) *testServer {
	t.Helper()
	return startReplicas(t, 1, extra...)
}

// startReplicas starts n replicas of the example server that share the
// data directory and the flags (with n > 1 the flags must name a shared
// database), behind a round-robin load balancer at the public URL: each
// request goes to the next replica. The testServer's stack is the first
// replica's.
func startReplicas(t *testing.T, n int, extra ...string) *testServer {
	t.Helper()
	ctx := t.Context()
	work := t.TempDir()
	ts := &testServer{apns: newFakeAPNs(t), topic: "com.apple.mgmt.External.5b3d4a5c-1e2f-4a6b-8c9d-0e1f2a3b4c5d",
		notices: &syncBuffer{}, log: &syncBuffer{}}

	caFile := filepath.Join(work, "apns-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.apns.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, rest, err := parseFlags(append([]string{
		"-data", filepath.Join(work, "data"),
		"-listen", ln.Addr().String(),
		"-push-cert", writePushCert(t, work, ts.topic),
		"-apns-url", ts.apns.srv.URL,
		"-apns-ca", caFile,
	}, extra...), io.Discard)
	if err != nil || len(rest) != 0 {
		t.Fatalf("parseFlags: %v %q", err, rest)
	}
	if n > 1 {
		// Replicas share the admin token, as they share everything else.
		t.Setenv("ENROLLKIT_ADMIN_TOKEN", "replicas-share-this-admin-token")
	}
	logger := slog.New(slog.NewTextHandler(ts.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	stacks := make([]*stack, n)
	for i := range stacks {
		if stacks[i], err = newStack(ctx, cfg, ts.notices, logger.With("replica", i)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stacks[i].Close)
	}
	ts.st = stacks[0]
	if err := ts.st.users.add("alice", "correct horse", "alice@example.com"); err != nil {
		t.Fatal(err)
	}

	var handler http.Handler = ts.st.Handler()
	if n > 1 {
		backends := make([]*url.URL, n)
		for i, st := range stacks {
			b := httptest.NewServer(st.Handler())
			t.Cleanup(b.Close)
			backends[i], _ = url.Parse(b.URL)
		}
		ts.served = make([]atomic.Int64, n)
		var next atomic.Int64
		handler = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
			i := int(next.Add(1)-1) % n
			ts.served[i].Add(1)
			r.SetURL(backends[i])
			r.Out.Host = r.In.Host // replicas see the public host, as behind a real balancer
		}}
	}
	srv := &http.Server{Handler: handler}
	ts.client = &http.Client{Timeout: time.Minute}
	if cfg.TLS {
		srv.TLSConfig = ts.st.tlsConfig()
		go srv.ServeTLS(ln, "", "")
		ts.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.st.pki.Roots()}, ForceAttemptHTTP2: true}
	} else {
		go srv.Serve(ln)
	}
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", ts.log.String())
		}
	})
	ts.url = cfg.PublicURL
	return ts
}

// admin calls the admin API and decodes the JSON answer into out.
func (ts *testServer) admin(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, ts.url+"/admin"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ts.st.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func (ts *testServer) enrollment(t *testing.T, id string) enrollmentOut {
	t.Helper()
	var e enrollmentOut
	if code := ts.admin(t, "GET", "/enrollments/"+id, nil, &e); code != http.StatusOK {
		t.Fatalf("GET enrollment %s: %d", id, code)
	}
	return e
}

func (ts *testServer) newDevice(t *testing.T) *devicesim.Device {
	t.Helper()
	d, err := devicesim.New(devicesim.Options{
		HTTPClient:        ts.client,
		AllowInsecureURLs: !ts.st.cfg.TLS,
		ProfileRoots:      ts.st.pki.Roots(),
	})
	if err != nil {
		t.Fatal(err)
	}
	// The APNs stand-in knows the device from the start, as APNs knows a
	// real one: the push the server sends at TokenUpdate reaches it.
	ts.apns.Add(d)
	return d
}

// exerciseMDM runs what both flows share once the device is enrolled: a
// command queued through the admin API is pushed, fetched and answered; a
// command forbidden under User Enrollment is refused; removing the
// enrollment on the device ends it as Removed.
func exerciseMDM(t *testing.T, ts *testServer, d *devicesim.Device, id string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()

	var queued struct {
		CommandUUID string `json:"command_uuid"`
		Pushes      []struct {
			ID    string `json:"apns_id"`
			Error string `json:"error"`
		} `json:"pushes"`
	}
	code := ts.admin(t, "POST", "/enrollments/"+id+"/commands", map[string]any{
		"request_type": "DeviceInformation",
		"fields":       map[string]any{"Queries": []string{"OSVersion", "ProductName", "DeviceName"}},
	}, &queued)
	if code != http.StatusAccepted || queued.CommandUUID == "" {
		t.Fatalf("enqueue DeviceInformation: %d %+v", code, queued)
	}
	if len(queued.Pushes) != 1 || queued.Pushes[0].Error != "" {
		t.Fatalf("push results: %+v", queued.Pushes)
	}

	pt, _ := d.PushTarget()
	pushes := ts.apns.Pushes()
	if len(pushes) == 0 {
		t.Fatal("no push reached the APNs stand-in")
	}
	last := pushes[len(pushes)-1]
	if !last.Delivered || last.Status != http.StatusOK {
		t.Fatalf("push refused by the APNs stand-in: %d %s", last.Status, last.Reason)
	}
	want := map[string]string{"apns-push-type": "mdm", "apns-topic": ts.topic}
	for k, v := range want {
		if got := last.Header.Get(k); got != v {
			t.Errorf("push header %s = %q, want %q", k, got, v)
		}
	}
	if last.Header.Get("apns-expiration") == "" {
		t.Error("push without apns-expiration: APNs would not store it for an offline device")
	}
	if wantBody := fmt.Sprintf(`{"mdm":%q}`, pt.PushMagic); string(last.Body) != wantBody {
		t.Errorf("push body = %s, want %s", last.Body, wantBody)
	}
	if !bytes.Equal(last.Token, pt.Token) {
		t.Errorf("push token = %x, want %x", last.Token, pt.Token)
	}
	if c := ts.apns.lastCert(); !strings.Contains(c, ts.topic) {
		t.Errorf("push client certificate = %q, want the push certificate", c)
	}

	// The push woke the device; wait until its answer is stored.
	var result struct {
		Status string         `json:"status"`
		Result map[string]any `json:"result"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code = ts.admin(t, "GET", "/enrollments/"+id+"/commands/"+queued.CommandUUID, nil, &result)
		if code == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != http.StatusOK || result.Status != "Acknowledged" {
		t.Fatalf("DeviceInformation result: %d %+v", code, result)
	}
	info, _ := result.Result["QueryResponses"].(map[string]any)
	if info["ProductName"] == nil {
		t.Errorf("DeviceInformation answered without ProductName: %v", result.Result)
	}
	for _, forbidden := range []string{"SerialNumber", "UDID", "IMEI"} {
		if _, ok := info[forbidden]; ok {
			t.Errorf("a user-enrolled device reported %s", forbidden)
		}
	}

	var refused map[string]string
	if code := ts.admin(t, "POST", "/enrollments/"+id+"/commands", map[string]any{"request_type": "EraseDevice"}, &refused); code != http.StatusForbidden {
		t.Fatalf("EraseDevice for a user enrollment: status %d %v, want 403", code, refused)
	}

	cancel()
	<-runErr
	if err := d.Remove(t.Context()); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if e := ts.enrollment(t, id); e.State != enroll.StateRemoved {
		t.Fatalf("after CheckOut the enrollment is %s, want %s", e.State, enroll.StateRemoved)
	}
	// A checked-out device takes no commands: a conflict with the
	// enrollment's state, not a failure of the server.
	code, body := ts.adminRaw(t, "POST", "/enrollments/"+id+"/commands", `{"request_type":"DeviceInformation"}`)
	if code != http.StatusConflict {
		t.Fatalf("command after CheckOut: status %d %s, want 409", code, body)
	}
	wantAdminError(t, body, "enrollment is removed: it has no managed device to take commands")
}

func TestProfileBasedEnrollmentEndToEnd(t *testing.T) {
	t.Run("http", func(t *testing.T) { testProfileBased(t, startServer(t)) })
	// With -tls every URL in the profile is https, as a real iPhone
	// requires, and the device trusts only the development CA.
	t.Run("https", func(t *testing.T) { testProfileBased(t, startServer(t, "-tls")) })
}

func testProfileBased(t *testing.T, ts *testServer) {
	var inv invitationOut
	if code := ts.admin(t, "POST", "/invitations", map[string]string{"user": "alice"}, &inv); code != http.StatusCreated {
		t.Fatalf("invite: %d", code)
	}
	if !strings.Contains(ts.notices.String(), inv.Passcode) {
		t.Error("the development notifier did not show the invitation")
	}
	for _, name := range []string{inv.EnrollmentID + ".png", inv.EnrollmentID + ".txt"} {
		if fi, err := os.Stat(filepath.Join(ts.st.cfg.Data, invitationsDir, name)); err != nil {
			t.Errorf("invitation file %s: %v", name, err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("invitation file %s has mode %v, want 0600", name, fi.Mode())
		}
	}

	d := ts.newDevice(t)
	if err := d.EnrollWithInvitation(t.Context(), inv.URL, devicesim.Credentials{
		Username: "alice", Password: "correct horse", Passcode: inv.Passcode,
	}); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	e := ts.enrollment(t, inv.EnrollmentID)
	if e.State != enroll.StateEnrolled {
		t.Fatalf("state after enrollment = %s, want %s", e.State, enroll.StateEnrolled)
	}
	de, _ := d.Enrollment()
	if ts.st.cfg.TLS && !strings.HasPrefix(de.ServerURL, "https://") {
		t.Errorf("with -tls the profile's ServerURL is %q", de.ServerURL)
	}
	if e.DeviceID != de.EnrollmentID || de.AccountDriven {
		t.Fatalf("device ID %q vs device's EnrollmentID %q (account-driven %v)", e.DeviceID, de.EnrollmentID, de.AccountDriven)
	}
	checkGetToken(t, d, ts.st.abmKey.Public(), "RS256", ts.st.abmUUID)
	exerciseMDM(t, ts, d, inv.EnrollmentID)
	token := inv.URL[strings.LastIndex(inv.URL, "/")+1:]
	for _, secret := range []string{inv.Passcode, token} {
		if strings.Contains(ts.log.String(), secret) {
			t.Errorf("the log carries the invitation's secret %q", secret)
		}
	}
}

func TestAccountDrivenEnrollmentEndToEnd(t *testing.T) {
	// The server trusts only devices whose identity chains to this root,
	// as a production server trusts only Apple's device CA.
	ts, deviceCA := startWithDeviceCA(t, 1)
	var inv invitationOut
	if code := ts.admin(t, "POST", "/invitations", map[string]string{"user": "alice"}, &inv); code != http.StatusCreated {
		t.Fatalf("invite: %d", code)
	}
	creds := devicesim.Credentials{Username: "alice", Password: "correct horse", Passcode: inv.Passcode}

	// A device whose identity comes from another CA is turned away
	// before the portal.
	stranger := ts.newDevice(t)
	if _, err := stranger.RequestProfile(t.Context(), "alice@example.com", ts.url, creds); err == nil {
		t.Fatal("a device identity from an untrusted CA got a profile")
	}
	if e := ts.enrollment(t, inv.EnrollmentID); e.State != enroll.StateInvited {
		t.Fatalf("the refused device moved the enrollment to %s", e.State)
	}

	d, err := devicesim.New(devicesim.Options{
		HTTPClient:        ts.client,
		AllowInsecureURLs: true,
		ProfileRoots:      ts.st.pki.Roots(),
		DeviceCA:          deviceCA,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.apns.Add(d)
	if err := d.EnrollWithAccount(t.Context(), "alice@example.com", ts.url, creds); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	e := ts.enrollment(t, inv.EnrollmentID)
	if e.State != enroll.StateEnrolled || e.Flow != enroll.FlowAccountDriven {
		t.Fatalf("after enrollment: state %s flow %s", e.State, e.Flow)
	}
	de, _ := d.Enrollment()
	if !de.AccountDriven || de.AccessToken == "" || de.EnrollmentMode != "BYOD" {
		t.Fatalf("device enrollment %+v", de)
	}
	checkGetToken(t, d, ts.st.abmKey.Public(), "RS256", ts.st.abmUUID)
	exerciseMDM(t, ts, d, inv.EnrollmentID)
}

func TestDiscoveryRefusesUnknownDomain(t *testing.T) {
	ts := startServer(t)
	d := ts.newDevice(t)
	if _, err := d.Discover(t.Context(), "bob@elsewhere.example", ts.url); err == nil {
		t.Fatal("discovery succeeded for a domain the server does not serve")
	}
}

func TestAdminAPIRequiresToken(t *testing.T) {
	ts := startServer(t)
	for _, tok := range []string{"", "Bearer wrong", "Basic " + ts.st.admin} {
		req, _ := http.NewRequest("GET", ts.url+"/admin/enrollments", nil)
		if tok != "" {
			req.Header.Set("Authorization", tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", tok, resp.StatusCode)
		}
	}
	var list []enrollmentOut
	if code := ts.admin(t, "GET", "/enrollments", nil, &list); code != http.StatusOK {
		t.Fatalf("with the token: %d", code)
	}
}

func TestCommandLine(t *testing.T) {
	data := t.TempDir()
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"-data", data, "adduser", "-user", "bob", "-password", "pw", "-managed-apple-id", "bob@example.com"}, &out, &errOut); err != nil {
		t.Fatalf("adduser: %v\n%s", err, errOut.String())
	}
	out.Reset()
	if err := run(t.Context(), []string{"-data", data, "invite", "-user", "bob"}, &out, &errOut); err != nil {
		t.Fatalf("invite: %v\n%s", err, errOut.String())
	}
	dec := json.NewDecoder(&out)
	var inv map[string]any
	if err := dec.Decode(&inv); err != nil {
		t.Fatalf("invite output is not JSON: %v", err)
	}
	if dec.More() {
		t.Fatal("invite printed more than one JSON object")
	}
	for _, k := range []string{"url", "passcode", "expires_at"} {
		if s, _ := inv[k].(string); s == "" {
			t.Errorf("invite output lacks %q: %v", k, inv)
		}
	}
	if err := run(t.Context(), []string{"-data", data, "invite", "-user", "nobody"}, io.Discard, io.Discard); err == nil {
		t.Error("invite of an unknown user succeeded")
	}
	if err := run(t.Context(), []string{"-data", data, "adduser", "-user", "x"}, io.Discard, io.Discard); err == nil {
		t.Error("adduser without password succeeded")
	}
}

// runServer runs the server as main does, with its terminal (standard
// output) and its log (standard error) in two buffers, until the test ends
// or stop is called; it returns once the server listens.
func runServer(t *testing.T, data string) (addr string, stdout, stderr *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-data", data, "-listen", "127.0.0.1:0"}, stdout, stderr) }()
	stop = sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() { stop() })
	for deadline := time.Now().Add(30 * time.Second); addr == "" && time.Now().Before(deadline); {
		if _, rest, ok := strings.Cut(stdout.String(), "listening on "); ok {
			addr, _, _ = strings.Cut(rest, "\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if addr == "" {
		t.Fatalf("the server did not start:\n%s\n%s", stdout.String(), stderr.String())
	}
	return addr, stdout, stderr, stop
}

// TestServeShutsDownGracefully runs the server as main does and stops it as
// SIGINT would (by cancelling its context) right after a write: the server
// returns nil, logs that it stopped, and the database opens again with the
// write in it.
func TestServeShutsDownGracefully(t *testing.T) {
	data := t.TempDir()
	if err := run(t.Context(), []string{"-data", data, "adduser", "-user", "carol", "-password", "pw", "-managed-apple-id", "carol@example.com"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	addr, stdout, stderr, stop := runServer(t, data)
	token := ""
	if _, rest, ok := strings.Cut(stdout.String(), "Authorization: Bearer "); ok {
		token, _, _ = strings.Cut(rest, ")")
	}
	if token == "" || strings.Contains(stderr.String(), token) {
		t.Fatalf("the generated admin token %q is not on the terminal alone:\n%s", token, stderr.String())
	}

	// An invitation created through the admin API, then the stop signal.
	req, _ := http.NewRequest("POST", "http://"+addr+"/admin/invitations", strings.NewReader(`{"user":"carol"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	err2 := stop()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("invite: %d", resp.StatusCode)
	}
	if err2 != nil {
		t.Fatalf("serve returned %v after the stop signal", err2)
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("no shutdown log:\n%s", stderr.String())
	}

	cfg, _, err := parseFlags([]string{"-data", data}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	st, err := newStack(t.Context(), cfg, io.Discard, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("reopen after shutdown: %v", err)
	}
	defer st.Close()
	list, err := st.enroll.List(t.Context(), enroll.ListOptions{UserID: "carol"})
	if err != nil || len(list) != 1 {
		t.Fatalf("after restart: %d enrollments for carol, err %v", len(list), err)
	}
}

// TestServerTerminalKeepsSecretsOutOfLog runs the server as main does and
// checks what goes where: invitations, made through the admin API or by
// the invite command in another process, are shown on the server's
// terminal (standard output) and written to files only the owner can read,
// and never reach the log (standard error); an admin token from the
// environment is printed nowhere.
func TestServerTerminalKeepsSecretsOutOfLog(t *testing.T) {
	data := t.TempDir()
	if err := run(t.Context(), []string{"-data", data, "adduser", "-user", "dave", "-password", "pw", "-managed-apple-id", "dave@example.com"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	const envToken = "admin-token-from-the-environment-7Qx"
	t.Setenv("ENROLLKIT_ADMIN_TOKEN", envToken)
	addr, stdout, stderr, stop := runServer(t, data)

	req, _ := http.NewRequest("POST", "http://"+addr+"/admin/invitations", strings.NewReader(`{"user":"dave"}`))
	req.Header.Set("Authorization", "Bearer "+envToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var viaAPI invitationOut
	json.NewDecoder(resp.Body).Decode(&viaAPI)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("invite: %d", resp.StatusCode)
	}

	var cliOut, cliErr bytes.Buffer
	if err := run(t.Context(), []string{"-data", data, "invite", "-user", "dave"}, &cliOut, &cliErr); err != nil {
		t.Fatalf("invite: %v\n%s", err, cliErr.String())
	}
	var viaCLI invitationOut
	if err := json.Unmarshal(cliOut.Bytes(), &viaCLI); err != nil {
		t.Fatalf("invite output: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stdout.String(), viaCLI.Passcode) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	for _, inv := range []invitationOut{viaAPI, viaCLI} {
		if strings.Count(stdout.String(), inv.Passcode) != 1 || strings.Count(stdout.String(), inv.URL) != 1 {
			t.Errorf("the terminal does not show invitation %s once:\n%s", inv.EnrollmentID, stdout.String())
		}
		for _, secret := range []string{inv.Passcode, inv.URL[strings.LastIndex(inv.URL, "/")+1:]} {
			if strings.Contains(stderr.String(), secret) || strings.Contains(cliErr.String(), secret) {
				t.Errorf("a log carries the invitation's secret %q", secret)
			}
		}
		if fi, err := os.Stat(filepath.Join(data, invitationsDir, inv.EnrollmentID+".txt")); err != nil {
			t.Errorf("invitation file: %v", err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("invitation file has mode %v, want 0600", fi.Mode())
		}
	}
	if strings.Contains(stdout.String()+stderr.String(), envToken) {
		t.Error("the admin token from the environment was printed")
	}
}

// TestReplicasEndToEnd runs the profile-based flow and the MDM round trip
// against two replicas over one PostgreSQL database behind a round-robin
// balancer, so that consecutive portal steps, SCEP, check-ins, admin calls
// and command polls land on different replicas.
func TestReplicasEndToEnd(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	var b [6]byte
	rand.Read(b[:])
	schema := fmt.Sprintf("portal_replicas_%x", b)
	t.Cleanup(func() { dropSchema(t, dsn, schema) }) // after the replicas close
	ts := startReplicas(t, 2, "-postgres", dsn, "-postgres-schema", schema)
	testProfileBased(t, ts)
	for i := range ts.served {
		got := ts.served[i].Load()
		t.Logf("replica %d served %d requests", i, got)
		if got < 5 {
			t.Errorf("replica %d served %d requests", i, got)
		}
	}
}

func dropSchema(t *testing.T, dsn, schema string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
	}
}

// adminRaw sends an admin API request with the token and returns the
// status and body.
func (ts *testServer) adminRaw(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.url+"/admin"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+ts.st.admin)
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// wantAdminError checks that an admin API error body is {"error": msg}
// and names nothing internal (package prefixes of errors, SQL). An empty
// msg accepts any body without internals.
func wantAdminError(t *testing.T, body []byte, msg string) {
	t.Helper()
	for _, internal := range []string{"enroll:", "mdm:", "sqlite", "postgres", "SQL", "json:", "http:"} {
		if bytes.Contains(body, []byte(internal)) {
			t.Errorf("the answer leaks internals (%q): %s", internal, body)
		}
	}
	if msg == "" {
		return
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error != msg {
		t.Errorf("error body %s, want {\"error\": %q}", body, msg)
	}
}

// TestAdminAPIErrors checks that bad admin requests get the right status
// and change nothing.
func TestAdminAPIErrors(t *testing.T) {
	ts := startServer(t)
	var inv invitationOut
	if code := ts.admin(t, "POST", "/invitations", map[string]string{"user": "alice"}, &inv); code != http.StatusCreated {
		t.Fatalf("invite: %d", code)
	}
	unknown := "0123456789abcdef0123456789abcdef"
	// An enrollment that is enrolled but whose device has no MDM record
	// (any more): what Enqueue meets when the device checks out between
	// the look-up and the enqueue.
	orphan := enrolltest.Sample("fedcba9876543210fedcba9876543210")
	orphan.State, orphan.DeviceID, orphan.ExpiresAt = enroll.StateEnrolled, "ORPHANED-DEVICE", time.Time{}
	if err := ts.st.stores.enroll.Create(t.Context(), orphan); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, method, path, body string
		want                     int
		msg                      string // the fixed message; "" for the mux's own 404
	}{
		{"invite unknown user", "POST", "/invitations", `{"user":"nobody"}`, http.StatusNotFound, "unknown user"},
		{"invite bad JSON", "POST", "/invitations", `{"user":`, http.StatusBadRequest, "bad JSON body"},
		{"invite unknown field", "POST", "/invitations", `{"user":"alice","admin":true}`, http.StatusBadRequest, "bad JSON body"},
		{"get unknown enrollment", "GET", "/enrollments/" + unknown, "", http.StatusNotFound, "enrollment not found"},
		{"get unknown enrollment, odd id", "GET", "/enrollments/%27%3B--", "", http.StatusNotFound, "enrollment not found"},
		{"command before check-in", "POST", "/enrollments/" + inv.EnrollmentID + "/commands", `{"request_type":"DeviceInformation"}`, http.StatusConflict,
			"enrollment is invited: it has no managed device to take commands"},
		{"command for a device without MDM record", "POST", "/enrollments/" + orphan.ID + "/commands", `{"request_type":"DeviceInformation"}`, http.StatusConflict,
			"the enrollment has no managed device to take commands"},
		{"command without type", "POST", "/enrollments/" + inv.EnrollmentID + "/commands", `{}`, http.StatusBadRequest, "request_type is required"},
		{"command for unknown enrollment", "POST", "/enrollments/" + unknown + "/commands", `{"request_type":"DeviceInformation"}`, http.StatusNotFound, "enrollment not found"},
		{"result for unknown enrollment", "GET", "/enrollments/" + unknown + "/commands/NOPE", "", http.StatusNotFound, "enrollment not found"},
		{"result that does not exist", "GET", "/enrollments/" + inv.EnrollmentID + "/commands/NOPE", "", http.StatusNotFound, "no result yet"},
		{"revoke unknown enrollment", "POST", "/enrollments/" + unknown + "/revoke", `{"reason":"x"}`, http.StatusNotFound, "enrollment not found"},
		{"revoke with an oversized reason", "POST", "/enrollments/" + inv.EnrollmentID + "/revoke", `{"reason":"` + strings.Repeat("r", 2000) + `"}`, http.StatusBadRequest, "invalid request"},
		{"oversized body", "POST", "/invitations", `{"user":"` + strings.Repeat("a", maxAdminBody) + `"}`, http.StatusBadRequest, "request body too large"},
		{"unknown route", "GET", "/nothing", "", http.StatusNotFound, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, body := ts.adminRaw(t, tc.method, tc.path, tc.body)
			if got != tc.want {
				t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, got, tc.want)
			}
			wantAdminError(t, body, tc.msg)
		})
	}
	// What went wrong inside is in the log instead.
	if !strings.Contains(ts.log.String(), "admin API: request refused") || !strings.Contains(ts.log.String(), "enroll: get: ") {
		t.Errorf("the refusals were not logged:\n%s", ts.log.String())
	}
	var list []enrollmentOut
	ts.admin(t, "GET", "/enrollments?state=invited", nil, &list)
	if len(list) != 1 || list[0].State != enroll.StateInvited {
		t.Fatalf("bad requests changed the enrollments: %+v", list)
	}

	// Revoking ends the invitation: the link stops working and a second
	// revoke is refused.
	var revoked enrollmentOut
	if code := ts.admin(t, "POST", "/enrollments/"+inv.EnrollmentID+"/revoke", map[string]string{"reason": "left the company"}, &revoked); code != http.StatusOK || revoked.State != enroll.StateRevoked {
		t.Fatalf("revoke: %d %+v", code, revoked)
	}
	got, body := ts.adminRaw(t, "POST", "/enrollments/"+inv.EnrollmentID+"/revoke", "")
	if got != http.StatusConflict {
		t.Errorf("second revoke: %d, want 409", got)
	}
	wantAdminError(t, body, "not allowed while the enrollment is revoked")
	resp, err := ts.client.Get(inv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Errorf("a revoked invitation link answered %d", resp.StatusCode)
	}
}
