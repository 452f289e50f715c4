package devicesim_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
	"github.com/enrollkit/enrollkit/scep"
	"github.com/enrollkit/enrollkit/store/memory"
)

// fixtureTB is the part of testing.TB the fixtures use, so that examples
// can run them too.
type fixtureTB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// realServer wires the real enroll and mdm packages in-process: the portal,
// discovery and BaseURL, a SCEP server whose challenge check redeems the
// enrollment's single-use challenge, the MDM service with enroll's
// Precheck/Observe hooks, and a push service stand-in that wakes the
// device whose token it is given.
type realServer struct {
	srv    *httptest.Server
	svc    *enroll.Service
	mdm    *mdm.Service
	portal *enroll.Portal

	mu      sync.Mutex
	devices []*devicesim.Device
	pushes  []mdm.PushTarget
}

type realDirectory struct{}

func (realDirectory) ManagedAppleID(_ context.Context, userID string) (string, error) {
	if userID == "u-1" {
		return "alice@example.com", nil
	}
	return "", enroll.ErrUnknownUser
}

func (realDirectory) UserID(_ context.Context, maid string) (string, error) {
	if strings.EqualFold(maid, "alice@example.com") {
		return "u-1", nil
	}
	return "", enroll.ErrUnknownUser
}

// newRealServer starts the server; mods, if any, adjust the MDM Options.
func newRealServer(t fixtureTB, deviceRoots *x509.CertPool, mods ...func(*mdm.Config)) *realServer {
	t.Helper()
	p := sharedPKI(t)
	rs := &realServer{}
	mux := http.NewServeMux()
	rs.srv = httptest.NewTLSServer(mux)
	t.Cleanup(rs.srv.Close)
	base := rs.srv.URL

	signer, err := profile.NewSigner(p.signerKy, []*x509.Certificate{p.signer, p.ca})
	if err != nil {
		t.Fatal(err)
	}
	fp := sha256.Sum256(p.ca.Raw)
	rs.svc, err = enroll.New(memory.NewEnrollStore(), enroll.Config{
		Authenticator: enroll.AuthenticatorFunc(func(_ context.Context, u, pw string) (enroll.User, error) {
			if u == testUser && pw == testPassword {
				return enroll.User{ID: "u-1", Name: "Alice"}, nil
			}
			return enroll.User{}, enroll.ErrBadCredentials
		}),
		Directory: realDirectory{},
		PortalURL: base + "/portal",
		Terms:     enroll.Terms{Version: "1", Text: "Work data is managed. Personal data stays private."},
		Profile: enroll.ProfileConfig{
			ServerURL: base + "/mdm/server", CheckInURL: base + "/mdm/checkin", Topic: testTopic,
			Organization: "Example",
		},
		Signer: signer,
		SCEP:   enroll.SCEPConfig{URL: base + "/scep", CAFingerprint: fp[:]},
	})
	if err != nil {
		t.Fatal(err)
	}
	rs.portal, err = enroll.NewPortal(rs.svc, enroll.PortalConfig{
		SessionKey: bytes.Repeat([]byte{7}, 32), Organization: "Example",
		// Without a device CA given, the simulated devices' MachineInfo is
		// checked by signature only, by name.
		DeviceRoots: deviceRoots, InsecureSkipDeviceChainCheck: deviceRoots == nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/portal/", rs.portal)
	mux.Handle(enroll.WellKnownPath, rs.portal.WellKnownHandler())

	scepHandler, err := scep.NewHandler(rs.svc, &scep.CA{Certificate: p.ca, Key: p.caKey, Validity: time.Hour}, scep.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/scep", scepHandler)

	mopts := mdm.Config{
		Roots: []*x509.Certificate{p.ca}, Prechecker: rs.svc, Observer: rs.svc,
		Pusher: mdm.PusherFunc(rs.push),
	}
	for _, m := range mods {
		m(&mopts)
	}
	rs.mdm, err = mdm.NewService(memory.NewMDMStore(), mopts)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/mdm/", rs.mdm)
	return rs
}

// push is the APNs stand-in: it wakes the device whose token is pushed.
func (rs *realServer) push(_ context.Context, targets []mdm.PushTarget) ([]mdm.PushResult, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]mdm.PushResult, len(targets))
	for i, tg := range targets {
		rs.pushes = append(rs.pushes, tg)
		out[i] = mdm.PushResult{EnrollmentID: tg.EnrollmentID, Err: mdm.ErrPushTokenDead}
		for _, d := range rs.devices {
			if dt, ok := d.PushTarget(); ok && bytes.Equal(dt.Token, tg.Token) && dt.PushMagic == tg.PushMagic && dt.Topic == tg.Topic {
				d.Push()
				out[i].Err = nil
			}
		}
	}
	return out, nil
}

func (rs *realServer) newDevice(t fixtureTB, ca *devicesim.DeviceCA) *devicesim.Device {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(sharedPKI(t).ca)
	d, err := devicesim.New(devicesim.Options{HTTPClient: rs.srv.Client(), ProfileRoots: roots, DeviceCA: ca})
	if err != nil {
		t.Fatal(err)
	}
	rs.mu.Lock()
	rs.devices = append(rs.devices, d)
	rs.mu.Unlock()
	return d
}

// exercise runs the life of an enrolled device against the real server:
// a command queued through mdm is pushed, fetched, answered and stored;
// EraseDevice is refused at enqueue; CheckOut ends the enrollment.
func (rs *realServer) exercise(t *testing.T, ctx context.Context, d *devicesim.Device, enrollmentID string) {
	t.Helper()
	e, err := rs.svc.Get(ctx, enrollmentID)
	if err != nil || e.State != enroll.StateEnrolled {
		t.Fatalf("enrollment state %v (%v), want enrolled", e.State, err)
	}
	enr, _ := d.Enrollment()
	id := mdm.EnrollmentID(enr.EnrollmentID)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()

	cmd, err := mdm.NewCommand("C-INFO-1", map[string]any{"RequestType": "DeviceInformation", "Queries": []string{"OSVersion", "UDID", "SerialNumber"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := rs.mdm.Enqueue(ctx, cmd, id)
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("Enqueue = %v, %v", res, err)
	}
	var result *mdm.CommandResult
	for result == nil {
		r, err := rs.mdm.Result(ctx, id, "C-INFO-1")
		if err == nil && r != nil {
			result = r
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no result stored: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if result.Status != mdm.StatusAcknowledged {
		t.Errorf("result status %q", result.Status)
	}
	if bytes.Contains(result.Raw, []byte("UDID")) || bytes.Contains(result.Raw, []byte("SerialNumber")) || !bytes.Contains(result.Raw, []byte("17.5.1")) {
		t.Errorf("stored result:\n%s", result.Raw)
	}

	erase, _ := mdm.NewCommand("C-ERASE", map[string]any{"RequestType": "EraseDevice"})
	var pe *mdm.PolicyError
	if _, err := rs.mdm.Enqueue(ctx, erase, id); !errors.As(err, &pe) {
		t.Errorf("EraseDevice enqueue = %v, want a PolicyError", err)
	}
	stop()
	<-done

	if err := d.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if e, _ := rs.svc.Get(ctx, enrollmentID); e.State != enroll.StateRemoved {
		t.Errorf("after CheckOut: state %v, want removed", e.State)
	}
}

func TestRealServerProfileBased(t *testing.T) {
	ctx := testContext(t)
	rs := newRealServer(t, nil)
	d, inv := rs.enrollProfileBased(t, ctx)
	rs.exercise(t, ctx, d, inv.EnrollmentID)
}

// enrollProfileBased invites the test user and enrolls a new device with
// the invitation.
func (rs *realServer) enrollProfileBased(t *testing.T, ctx context.Context) (*devicesim.Device, *enroll.Invitation) {
	t.Helper()
	inv, err := rs.svc.CreateInvitation(ctx, enroll.Meta{Actor: "admin"}, enroll.User{ID: "u-1", Name: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	d := rs.newDevice(t, nil)
	if err := d.EnrollWithInvitation(ctx, inv.URL, devicesim.Credentials{Username: testUser, Password: testPassword, Passcode: inv.Passcode}); err != nil {
		t.Fatal(err)
	}
	return d, inv
}

func TestRealServerAccountDriven(t *testing.T) {
	ctx := testContext(t)
	ca, err := devicesim.NewDeviceCA()
	if err != nil {
		t.Fatal(err)
	}
	rs := newRealServer(t, ca.Pool())
	inv, err := rs.svc.CreateInvitation(ctx, enroll.Meta{Actor: "admin"}, enroll.User{ID: "u-1", Name: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	d := rs.newDevice(t, ca)
	if err := d.EnrollWithAccount(ctx, "alice@example.com", rs.srv.URL, devicesim.Credentials{Username: testUser, Password: testPassword, Passcode: inv.Passcode}); err != nil {
		t.Fatal(err)
	}
	rs.exercise(t, ctx, d, inv.EnrollmentID)

	// With a new invitation open, a device whose identity is not from the
	// trusted device CA is refused at the BaseURL.
	if _, err := rs.svc.CreateInvitation(ctx, enroll.Meta{Actor: "admin"}, enroll.User{ID: "u-1", Name: "Alice"}); err != nil {
		t.Fatal(err)
	}
	stranger := rs.newDevice(t, nil)
	err = stranger.EnrollWithAccount(ctx, "alice@example.com", rs.srv.URL, devicesim.Credentials{})
	var he *devicesim.HTTPError
	if !errors.As(err, &he) || he.StatusCode/100 != 4 || he.StatusCode == http.StatusUnauthorized {
		t.Errorf("untrusted device identity: %v, want a 4xx refusal of the signed request", err)
	}
}

func TestRealServerRefusesWrongPasscode(t *testing.T) {
	ctx := testContext(t)
	rs := newRealServer(t, nil)
	inv, err := rs.svc.CreateInvitation(ctx, enroll.Meta{Actor: "admin"}, enroll.User{ID: "u-1", Name: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	d := rs.newDevice(t, nil)
	_, err = d.DownloadProfile(ctx, inv.URL, devicesim.Credentials{Username: testUser, Password: testPassword, Passcode: "00000000"})
	var pe *devicesim.PortalError
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusUnauthorized || pe.Message == "" {
		t.Fatalf("err = %v, want a 401 PortalError with the portal's message", err)
	}
}
