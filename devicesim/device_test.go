package devicesim_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/internal/testenv"
	"github.com/enrollkit/enrollkit/profile"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkCheckins checks the Authenticate and TokenUpdate the fake server
// received carry exactly the keys a user-enrolled iPhone sends.
func checkCheckins(t *testing.T, f *fakeServer, d *devicesim.Device, bearer bool) {
	t.Helper()
	reqs := f.mdmRequests("/checkin")
	if len(reqs) != 2 {
		t.Fatalf("got %d check-ins, want Authenticate and TokenUpdate", len(reqs))
	}
	enr, ok := d.Enrollment()
	if !ok {
		t.Fatal("device reports no enrollment")
	}
	want := []struct {
		typ  string
		keys []string
	}{
		{"Authenticate", []string{"BuildVersion", "EnrollmentID", "MessageType", "OSVersion", "ProductName", "Topic"}},
		{"TokenUpdate", []string{"EnrollmentID", "MessageType", "PushMagic", "Token", "Topic"}},
	}
	for i, w := range want {
		r := reqs[i]
		if got := r.Msg["MessageType"]; got != w.typ {
			t.Errorf("check-in %d is %v, want %s", i, got, w.typ)
		}
		if got := sortedKeys(r.Msg); !slices.Equal(got, w.keys) {
			t.Errorf("%s keys = %v, want %v", w.typ, got, w.keys)
		}
		if r.Msg["EnrollmentID"] != enr.EnrollmentID || r.Msg["Topic"] != testTopic {
			t.Errorf("%s names %v/%v, want %s/%s", w.typ, r.Msg["EnrollmentID"], r.Msg["Topic"], enr.EnrollmentID, testTopic)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-apple-aspen-mdm-checkin" {
			t.Errorf("%s Content-Type = %q", w.typ, ct)
		}
		if got, want := r.Header.Get("Authorization") != "", bearer; got != want {
			t.Errorf("%s carries Authorization: %v, want %v", w.typ, got, want)
		}
		if !r.Cert.Equal(enr.Certificate) {
			t.Errorf("%s signed by %s, not the SCEP identity", w.typ, r.Cert.Subject)
		}
		if !bytes.Contains(r.Body, []byte("<?xml")) {
			t.Errorf("%s is not an XML plist", w.typ)
		}
	}
	tu := reqs[1].Msg
	if tok, _ := tu["Token"].([]byte); len(tok) != 32 || !bytes.Equal(tok, enr.Token) {
		t.Errorf("Token = %x, want the 32 bytes %x", tok, enr.Token)
	}
	if pm, _ := tu["PushMagic"].(string); len(pm) != 36 || pm != enr.PushMagic {
		t.Errorf("PushMagic = %q, want a UUID equal to %q", pm, enr.PushMagic)
	}
	if got := enr.Certificate.Subject.String(); got != "CN=enrollment,O=Example" {
		t.Errorf("SCEP identity subject = %q", got)
	}
}

func TestProfileBasedEnrollment(t *testing.T) {
	ctx := testContext(t)
	f := newFakeServer(t)
	f.openssl = testenv.LookPath(t, "openssl")
	d := f.newDevice(t, devicesim.Options{
		Apps: []devicesim.App{
			{Identifier: "com.example.mail", Name: "Mail+", Version: "412", ShortVersion: "4.1.2", BundleSize: 52_428_800},
			{Identifier: "com.example.chat", Name: "Chat", Version: "7", ShortVersion: "1.7", BundleSize: 1_048_576},
		},
	})
	if _, ok := d.PushTarget(); ok {
		t.Fatal("PushTarget before enrollment")
	}
	if _, err := d.Poll(ctx); !errors.Is(err, devicesim.ErrNotEnrolled) {
		t.Fatalf("Poll before enrollment: %v, want ErrNotEnrolled", err)
	}
	if err := d.EnrollWithInvitation(ctx, f.srv.URL+"/invite/good", goodCreds); err != nil {
		t.Fatal(err)
	}
	checkCheckins(t, f, d, false)
	f.mu.Lock()
	uas := f.portalUAs
	f.mu.Unlock()
	const safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	if len(uas) < 5 || slices.ContainsFunc(uas, func(ua string) bool { return ua != safari }) {
		t.Errorf("portal User-Agents %q, want Mobile Safari's on every page", uas)
	}
	enr, _ := d.Enrollment()
	if enr.AccountDriven || enr.ManagedAppleID != "alice@example.com" || enr.EnrollmentMode != "" {
		t.Errorf("enrollment = %+v", enr)
	}
	if len(enr.EnrollmentID) != 40 {
		t.Errorf("EnrollmentID %q is not 40 hex digits", enr.EnrollmentID)
	}
	if err := d.Install(ctx, mustProfile(t, f, false)); !errors.Is(err, devicesim.ErrAlreadyEnrolled) {
		t.Errorf("second Install: %v, want ErrAlreadyEnrolled", err)
	}

	// A profile for InstallProfile, signed by the server.
	extra, err := profile.SignProfile(&profile.Profile{
		PayloadIdentifier: "com.example.wifi", PayloadUUID: "2E9E3A3C-1F4B-4C38-9E2B-6C1C1D2E3F40", PayloadDisplayName: "Wi-Fi",
		Payloads: []profile.Payload{&profile.Generic{Header: profile.Header{PayloadIdentifier: "com.example.wifi.p",
			PayloadUUID: "2E9E3A3C-1F4B-4C38-9E2B-6C1C1D2E3F41", PayloadVersion: 1}, PayloadType: "com.apple.wifi.managed",
			Content: map[string]any{"SSID_STR": "Corp"}}},
	}, f.pki.signerKy, []*x509.Certificate{f.pki.signer})
	if err != nil {
		t.Fatal(err)
	}
	f.enqueue(t, "c1", map[string]any{"RequestType": "DeviceInformation",
		"Queries": []string{"DeviceName", "OSVersion", "UDID", "SerialNumber", "IMEI", "BatteryLevel", "ProductName", "IsSupervised"}})
	f.enqueue(t, "c2", map[string]any{"RequestType": "InstallProfile", "Payload": extra})
	f.enqueue(t, "c3", map[string]any{"RequestType": "ProfileList"})
	f.enqueue(t, "c4", map[string]any{"RequestType": "InstalledApplicationList", "Identifiers": []string{"com.example.mail"}})
	f.enqueue(t, "c5", map[string]any{"RequestType": "EraseDevice"})
	f.enqueue(t, "c6", map[string]any{"RequestType": "MakeCoffee"})
	f.enqueue(t, "c7", map[string]any{"RequestType": "RemoveProfile", "Identifier": "com.example.wifi"})
	// c8 names no installed profile (removing the enrollment profile itself
	// unenrolls the device: see enrollkittest's TestRevokeUnenrolls).
	f.enqueue(t, "c8", map[string]any{"RequestType": "RemoveProfile", "Identifier": "com.example.missing"})
	f.enqueue(t, "c9", map[string]any{"RequestType": "InstallProfile", "Payload": []byte("not a profile")})
	f.enqueueRaw([]byte("<plist><dict><key>Command</key><string>x</string></dict></plist>"))

	// Pushes arrive through a channel the test fires, as a fake APNs would.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	target, ok := d.PushTarget()
	if !ok || !bytes.Equal(target.Token, enr.Token) || target.PushMagic != enr.PushMagic || target.Topic != testTopic {
		t.Fatalf("PushTarget = %+v", target)
	}
	d.Push()
	d.Push() // coalesces
	for len(f.mdmRequests("/mdm")) < 11 {
		select {
		case <-ctx.Done():
			t.Fatalf("device answered %d of 10 commands", len(d.Commands()))
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}

	reqs := f.mdmRequests("/mdm")
	if reqs[0].Msg["Status"] != "Idle" || reqs[0].Msg["CommandUUID"] != nil {
		t.Errorf("first request = %v, want Idle", reqs[0].Msg)
	}
	results := map[string]map[string]any{}
	for _, r := range reqs[1:] {
		if r.Msg["EnrollmentID"] != enr.EnrollmentID || r.Msg["UDID"] != nil {
			t.Errorf("result %v does not name the enrollment by EnrollmentID only", r.Msg)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-apple-aspen-mdm" {
			t.Errorf("result Content-Type = %q", ct)
		}
		u, _ := r.Msg["CommandUUID"].(string)
		results[u] = r.Msg
	}
	status := func(uuid string) string { s, _ := results[uuid]["Status"].(string); return s }
	for uuid, want := range map[string]string{"c1": "Acknowledged", "c2": "Acknowledged", "c3": "Acknowledged", "c4": "Acknowledged",
		"c5": "Error", "c6": "Error", "c7": "Acknowledged", "c8": "Error", "c9": "Error", "": "CommandFormatError"} {
		if got := status(uuid); got != want {
			t.Errorf("%q: Status %q, want %q (%v)", uuid, got, want, results[uuid])
		}
	}
	qr, _ := results["c1"]["QueryResponses"].(map[string]any)
	if got, want := sortedKeys(qr), []string{"BatteryLevel", "DeviceName", "IsSupervised", "OSVersion", "ProductName"}; !slices.Equal(got, want) {
		t.Errorf("DeviceInformation keys = %v, want %v (no UDID, SerialNumber, IMEI)", got, want)
	}
	if qr["OSVersion"] != "17.5.1" || qr["IsSupervised"] != false {
		t.Errorf("QueryResponses = %v", qr)
	}
	pl, _ := results["c3"]["ProfileList"].([]any)
	var ids []string
	for _, p := range pl {
		ids = append(ids, p.(map[string]any)["PayloadIdentifier"].(string))
	}
	if !slices.Equal(ids, []string{"com.example.enroll", "com.example.wifi"}) {
		t.Errorf("ProfileList identifiers = %v", ids)
	}
	if certs, _ := pl[0].(map[string]any)["SignerCertificates"].([]any); len(certs) == 0 {
		t.Error("ProfileList entry has no SignerCertificates")
	}
	apps, _ := results["c4"]["InstalledApplicationList"].([]any)
	if len(apps) != 1 || apps[0].(map[string]any)["Identifier"] != "com.example.mail" || apps[0].(map[string]any)["ShortVersion"] != "4.1.2" {
		t.Errorf("InstalledApplicationList = %v", apps)
	}
	for _, uuid := range []string{"c5", "c6"} {
		chain, _ := results[uuid]["ErrorChain"].([]any)
		if len(chain) != 1 || chain[0].(map[string]any)["ErrorDomain"] != "MCMDMErrorDomain" {
			t.Errorf("%s ErrorChain = %v", uuid, chain)
		}
	}
	recs := d.Commands()
	if len(recs) != 10 || recs[4].RequestType != "EraseDevice" || recs[4].Status != "Error" || len(recs[4].ErrorChain) != 1 {
		t.Errorf("Commands() = %+v", recs)
	}

	// An empty queue: Poll reports Idle and answers nothing.
	if n, err := d.Poll(ctx); err != nil || n != 0 {
		t.Errorf("Poll on an empty queue = %d, %v", n, err)
	}

	if err := d.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	co := f.mdmRequests("/checkin")
	last := co[len(co)-1].Msg
	if last["MessageType"] != "CheckOut" || !slices.Equal(sortedKeys(last), []string{"EnrollmentID", "MessageType", "Topic"}) {
		t.Errorf("CheckOut = %v", last)
	}
	if _, ok := d.Enrollment(); ok {
		t.Error("device still enrolled after Remove")
	}
	if err := d.Remove(ctx); !errors.Is(err, devicesim.ErrNotEnrolled) {
		t.Errorf("second Remove: %v", err)
	}
}

func mustProfile(t *testing.T, f *fakeServer, accountDriven bool) []byte {
	t.Helper()
	b, err := f.buildProfile(accountDriven)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAccountDrivenEnrollment(t *testing.T) {
	for _, tc := range []struct {
		name  string
		space bool
		sig   devicesim.SignatureOptions
	}{
		{"comma separated challenge", false, devicesim.SignatureOptions{}},
		{"space separated challenge, SHA-256 DER signatures", true, devicesim.SignatureOptions{SHA256: true, DER: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			f := newFakeServer(t)
			f.spaceSeparated = tc.space
			d := f.newDevice(t, devicesim.Options{Signature: tc.sig})
			if err := d.EnrollWithAccount(ctx, "alice@example.com", f.srv.URL, goodCreds); err != nil {
				t.Fatal(err)
			}
			checkCheckins(t, f, d, true)
			enr, _ := d.Enrollment()
			if !enr.AccountDriven || enr.EnrollmentMode != "BYOD" || enr.ManagedAppleID != "alice@example.com" || enr.AccessToken == "" {
				t.Errorf("enrollment = %+v", enr)
			}
			f.mu.Lock()
			q := f.wellKnownQ
			posts := len(f.enrollPosts)
			f.mu.Unlock()
			if len(q) != 2 || q[0].Get("user-identifier") != "alice@example.com" || q[0].Get("model-family") != "iPhone" || len(q[1]) != 0 {
				t.Errorf("well-known queries = %v, want the query once and none after the redirect", q)
			}
			if posts != 2 {
				t.Errorf("BaseURL POSTs = %d, want 2", posts)
			}
			f.enqueue(t, "x1", map[string]any{"RequestType": "DeviceInformation", "Queries": []string{"UDID", "ModelName"}})
			if n, err := d.Poll(ctx); err != nil || n != 1 {
				t.Fatalf("Poll = %d, %v", n, err)
			}
			for _, r := range f.mdmRequests("/mdm") {
				if r.Header.Get("Authorization") != "Bearer "+enr.AccessToken {
					t.Errorf("MDM request without the bearer token: %v", r.Header)
				}
			}
			if err := d.Remove(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPortalErrors(t *testing.T) {
	bad := func(mod func(*devicesim.Credentials)) devicesim.Credentials {
		c := goodCreds
		mod(&c)
		return c
	}
	for _, tc := range []struct {
		name    string
		invite  string
		creds   devicesim.Credentials
		status  int
		message string
	}{
		{"expired invitation", "/invite/old", goodCreds, 404, "This invitation has expired."},
		{"wrong password", "/invite/good", bad(func(c *devicesim.Credentials) { c.Password = "x" }), 401, "The user name or password is wrong."},
		{"corporate device", "/invite/good", bad(func(c *devicesim.Credentials) { c.Ownership = "corporate" }), 403, "Company devices enroll differently."},
		{"wrong passcode", "/invite/good", bad(func(c *devicesim.Credentials) { c.Passcode = "000000" }), 422, "Wrong passcode."},
		{"terms declined", "/invite/good", bad(func(c *devicesim.Credentials) { c.DeclineTerms = true }), 400, "You must accept the terms."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			d := f.newDevice(t, devicesim.Options{})
			_, err := d.DownloadProfile(testContext(t), f.srv.URL+tc.invite, tc.creds)
			var pe *devicesim.PortalError
			if !errors.As(err, &pe) || !errors.Is(err, devicesim.ErrPortal) {
				t.Fatalf("err = %v, want a PortalError", err)
			}
			if pe.StatusCode != tc.status || pe.Message != tc.message {
				t.Errorf("PortalError = %d %q, want %d %q", pe.StatusCode, pe.Message, tc.status, tc.message)
			}
			if _, ok := d.Enrollment(); ok {
				t.Error("enrolled after a portal error")
			}
		})
	}
}

func TestPortalFlowErrors(t *testing.T) {
	f := newFakeServer(t)
	d := f.newDevice(t, devicesim.Options{MaxPortalSteps: 3})
	if _, err := d.DownloadProfile(testContext(t), f.srv.URL+"/invite/good", goodCreds); !errors.Is(err, devicesim.ErrPortalFlow) {
		t.Errorf("3 steps: %v, want ErrPortalFlow", err)
	}
	// The account-driven web authentication hands off a token: the
	// profile-based flow cannot use it.
	d = f.newDevice(t, devicesim.Options{})
	if _, err := d.DownloadProfile(testContext(t), f.srv.URL+"/auth?user-identifier=alice%40example.com", goodCreds); !errors.Is(err, devicesim.ErrPortalFlow) {
		t.Errorf("hand-off in the profile flow: %v, want ErrPortalFlow", err)
	}
}

func TestProfileRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		account bool
		setup   func(f *fakeServer, o *devicesim.Options)
		want    error
	}{
		{"AccessRights under BYOD", true, func(f *fakeServer, _ *devicesim.Options) {
			f.profileMutator = func(p *profile.Profile) { p.MDM().AccessRights = profile.AllRights }
		}, devicesim.ErrProfileInvalid},
		{"AssignedManagedAppleID of another account", true, func(f *fakeServer, _ *devicesim.Options) {
			f.profileMutator = func(p *profile.Profile) { p.MDM().AssignedManagedAppleID = "mallory@example.com" }
		}, devicesim.ErrProfileInvalid},
		{"AccessRights in a profile-based user enrollment", false, func(f *fakeServer, _ *devicesim.Options) {
			f.profileMutator = func(p *profile.Profile) { p.MDM().AccessRights = profile.RightDeviceErase }
		}, devicesim.ErrProfileInvalid},
		{"device enrollment profile", false, func(f *fakeServer, _ *devicesim.Options) {
			f.profileMutator = func(p *profile.Profile) { p.MDM().ManagedAppleID = "" }
		}, devicesim.ErrProfileInvalid},
		{"untrusted signer", false, func(_ *fakeServer, o *devicesim.Options) {
			o.ProfileRoots = x509.NewCertPool()
			ca, _ := devicesim.NewDeviceCA()
			o.ProfileRoots.AddCert(ca.Root)
		}, profile.ErrUntrusted},
		{"wrong SCEP challenge", false, func(f *fakeServer, _ *devicesim.Options) {
			f.profileMutator = func(p *profile.Profile) { p.Payloads[1].(*profile.SCEP).Challenge = "guess" }
		}, devicesim.ErrSCEP},
		{"SCEP CA fingerprint mismatch", false, func(f *fakeServer, _ *devicesim.Options) {
			f.profileMutator = func(p *profile.Profile) { p.Payloads[1].(*profile.SCEP).CAFingerprint = make([]byte, 20) }
		}, devicesim.ErrCAFingerprint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			f := newFakeServer(t)
			var o devicesim.Options
			tc.setup(f, &o)
			d := f.newDevice(t, o)
			var err error
			if tc.account {
				err = d.EnrollWithAccount(ctx, "alice@example.com", f.srv.URL, goodCreds)
			} else {
				err = d.EnrollWithInvitation(ctx, f.srv.URL+"/invite/good", goodCreds)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if n := len(f.mdmRequests("/checkin")); n != 0 {
				t.Errorf("%d check-ins after a refused profile", n)
			}
		})
	}
}

func TestInstallRefusesFlowMismatch(t *testing.T) {
	ctx := testContext(t)
	f := newFakeServer(t)
	d := f.newDevice(t, devicesim.Options{})
	if err := d.Install(ctx, mustProfile(t, f, true)); !errors.Is(err, devicesim.ErrProfileInvalid) {
		t.Errorf("BYOD profile outside account-driven enrollment: %v", err)
	}
	if err := d.Install(ctx, []byte("<plist/>")); !errors.Is(err, devicesim.ErrProfileInvalid) {
		t.Errorf("unsigned profile: %v", err)
	}
}

func TestSignMessageFalseUsesTLSIdentity(t *testing.T) {
	ctx := testContext(t)
	f := newFakeServer(t)
	f.signMessage = false
	f.srv.TLS.ClientAuth = tls.RequestClientCert
	d := f.newDevice(t, devicesim.Options{})
	if err := d.EnrollWithInvitation(ctx, f.srv.URL+"/invite/good", goodCreds); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.mdmRequests("/checkin") {
		if r.Header.Get("Mdm-Signature") != "" {
			t.Error("Mdm-Signature sent although SignMessage is false")
		}
	}
}

func TestDiscover(t *testing.T) {
	ctx := testContext(t)
	f := newFakeServer(t)
	d := f.newDevice(t, devicesim.Options{})
	_, err := d.Discover(ctx, "nobody@example.com", f.srv.URL)
	var wk *devicesim.WellKnownError
	if !errors.As(err, &wk) || wk.StatusCode != 403 || wk.Code != "com.apple.well-known.failed" || wk.Description != "unknown user" {
		t.Errorf("err = %v, want a WellKnownError 403", err)
	}
	if _, err := d.Discover(ctx, "no-domain", ""); err == nil {
		t.Error("Discover without a domain succeeded")
	}
	u, err := d.Discover(ctx, "alice@example.com", f.srv.URL+"/")
	if err != nil || u != f.srv.URL+"/enroll" {
		t.Errorf("Discover = %q, %v", u, err)
	}
}

func TestUnauthorizedCheckin(t *testing.T) {
	ctx := testContext(t)
	f := newFakeServer(t)
	d := f.newDevice(t, devicesim.Options{})
	if err := d.EnrollWithInvitation(ctx, f.srv.URL+"/invite/good", goodCreds); err != nil {
		t.Fatal(err)
	}
	f.signMessage = false // the server now wants a TLS identity, which this device does not send
	_, err := d.Poll(ctx)
	var he *devicesim.HTTPError
	if !errors.Is(err, devicesim.ErrUnauthorized) || !errors.As(err, &he) || he.StatusCode != 401 {
		t.Errorf("Poll = %v, want an HTTPError 401", err)
	}
}

func TestDeviceCARoundTrip(t *testing.T) {
	ca, err := devicesim.NewDeviceCA()
	if err != nil {
		t.Fatal(err)
	}
	b, err := ca.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := devicesim.LoadDeviceCA(b)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Root.Equal(ca.Root) || !bytes.Contains(ca.RootPEM(), []byte("BEGIN CERTIFICATE")) {
		t.Error("round trip changed the CA")
	}
	cert, _, err := back.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	inter.AddCert(back.Intermediate)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), Intermediates: inter}); err != nil {
		t.Errorf("identity does not chain to the root: %v", err)
	}
	if strings.Contains(cert.Subject.String(), "SERIALNUMBER") {
		t.Error("device identity names a serial number")
	}
	for _, bad := range [][]byte{nil, b[:len(b)/2], append(bytes.Clone(b), ca.RootPEM()...)} {
		if _, err := devicesim.LoadDeviceCA(bad); err == nil {
			t.Error("LoadDeviceCA accepted a broken file")
		}
	}
}

// BenchmarkPoll measures one command round trip as a pushed device does it:
// Idle, the command, the signed result, the empty answer (each request
// signed with SHA-1/BER and verified by the server).
func BenchmarkPoll(b *testing.B) {
	ctx := b.Context()
	f := newFakeServer(b)
	d := f.newDevice(b, devicesim.Options{})
	if err := d.EnrollWithInvitation(ctx, f.srv.URL+"/invite/good", goodCreds); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		f.enqueue(b, "bench", map[string]any{"RequestType": "DeviceInformation", "Queries": []string{"OSVersion", "DeviceName"}})
		if n, err := d.Poll(ctx); err != nil || n != 1 {
			b.Fatalf("Poll = %d, %v", n, err)
		}
	}
}

func TestMoreUserEnrollmentCommands(t *testing.T) {
	ctx := testContext(t)
	f := newFakeServer(t)
	d := f.newDevice(t, devicesim.Options{Apps: []devicesim.App{{Identifier: "com.example.mail", Name: "Mail+", Version: "1"}}})
	if err := d.EnrollWithInvitation(ctx, f.srv.URL+"/invite/good", goodCreds); err != nil {
		t.Fatal(err)
	}
	for _, rt := range []string{"SecurityInfo", "CertificateList", "DeviceLock", "ManagedApplicationList"} {
		f.enqueue(t, rt, map[string]any{"RequestType": rt})
	}
	if n, err := d.Poll(ctx); err != nil || n != 4 {
		t.Fatalf("Poll = %d, %v", n, err)
	}
	res := map[string]map[string]any{}
	for _, r := range f.mdmRequests("/mdm")[1:] {
		res[r.Msg["CommandUUID"].(string)] = r.Msg
		if r.Msg["Status"] != "Acknowledged" {
			t.Errorf("%v", r.Msg)
		}
	}
	si, _ := res["SecurityInfo"]["SecurityInfo"].(map[string]any)
	if _, ok := si["PasscodePresent"]; ok || si["ManagementStatus"].(map[string]any)["IsUserEnrollment"] != true {
		t.Errorf("SecurityInfo = %v", si)
	}
	enr, _ := d.Enrollment()
	cl, _ := res["CertificateList"]["CertificateList"].([]any)
	if len(cl) != 1 || !bytes.Equal(cl[0].(map[string]any)["Data"].([]byte), enr.Certificate.Raw) {
		t.Errorf("CertificateList = %v", cl)
	}
	if apps, _ := res["ManagedApplicationList"]["ManagedApplicationList"].(map[string]any); len(apps) != 1 || apps["com.example.mail"] == nil {
		t.Errorf("ManagedApplicationList = %v", apps)
	}
}

func TestSCEPPending(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pending int
		wantErr bool
	}{
		{"granted after two PENDING answers", 2, false},
		{"still PENDING after the retries", 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			f := newFakeServer(t)
			f.scepPending = tc.pending
			d := f.newDevice(t, devicesim.Options{SCEPRetryDelay: time.Millisecond})
			err := d.EnrollWithInvitation(ctx, f.srv.URL+"/invite/good", goodCreds)
			var se *devicesim.SCEPError
			if tc.wantErr {
				if !errors.As(err, &se) || se.Status != "3" || !errors.Is(err, devicesim.ErrSCEP) {
					t.Fatalf("err = %v, want a PENDING SCEPError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			left := f.scepPending
			f.mu.Unlock()
			if left != 0 {
				t.Errorf("%d PENDING answers left", left)
			}
		})
	}
}
