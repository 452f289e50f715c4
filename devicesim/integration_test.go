package devicesim_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enrollkittest"
	"github.com/enrollkit/enrollkit/mdm"
)

// The tests in this file run the simulated device against the real
// server: package enrollkittest's in-process composition of enroll's
// portal and account-driven endpoints, SCEP, mdm and an APNs stand-in
// that the real push client reaches over HTTP/2.

// exercise runs the life of an enrolled device against the real server:
// a command queued through mdm is pushed, fetched, answered and stored;
// EraseDevice is refused at enqueue; CheckOut ends the enrollment.
func exercise(t *testing.T, ctx context.Context, srv *enrollkittest.Server, d *devicesim.Device, enrollmentID string) {
	t.Helper()
	e, err := srv.Enroll.Get(ctx, enrollmentID)
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
	res, err := srv.MDM.Enqueue(ctx, cmd, id)
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("Enqueue = %v, %v", res, err)
	}
	result := waitResult(t, ctx, srv.MDM, id, "C-INFO-1")
	if result.Status != mdm.StatusAcknowledged {
		t.Errorf("result status %q", result.Status)
	}
	if bytes.Contains(result.Raw, []byte("UDID")) || bytes.Contains(result.Raw, []byte("SerialNumber")) || !bytes.Contains(result.Raw, []byte("17.5.1")) {
		t.Errorf("stored result:\n%s", result.Raw)
	}

	erase, _ := mdm.NewCommand("C-ERASE", map[string]any{"RequestType": "EraseDevice"})
	var pe *mdm.PolicyError
	if _, err := srv.MDM.Enqueue(ctx, erase, id); !errors.As(err, &pe) {
		t.Errorf("EraseDevice enqueue = %v, want a PolicyError", err)
	}
	stop()
	<-done

	if err := d.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if e, _ := srv.Enroll.Get(ctx, enrollmentID); e.State != enroll.StateRemoved {
		t.Errorf("after CheckOut: state %v, want removed", e.State)
	}
}

// waitResult waits for the result of command uuid to be stored.
func waitResult(t *testing.T, ctx context.Context, svc *mdm.Service, id mdm.EnrollmentID, uuid string) *mdm.CommandResult {
	t.Helper()
	for {
		r, err := svc.Result(ctx, id, uuid)
		if err == nil && r != nil {
			return r
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no result stored for %s: %v", uuid, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// enrollProfileBased invites the demo user and enrolls a new device with
// the invitation.
func enrollProfileBased(t *testing.T, ctx context.Context, srv *enrollkittest.Server) (*devicesim.Device, *enroll.Invitation) {
	t.Helper()
	inv := srv.Invite(t, enrollkittest.DemoUser)
	d := srv.NewDevice(t)
	if err := d.EnrollWithInvitation(ctx, inv.URL, enrollkittest.DemoCredentials(inv)); err != nil {
		t.Fatal(err)
	}
	return d, inv
}

func TestRealServerProfileBased(t *testing.T) {
	ctx := testContext(t)
	srv := enrollkittest.NewServer(t, enrollkittest.Options{})
	d, inv := enrollProfileBased(t, ctx, srv)
	exercise(t, ctx, srv, d, inv.EnrollmentID)
}

func TestRealServerAccountDriven(t *testing.T) {
	ctx := testContext(t)
	srv := enrollkittest.NewServer(t, enrollkittest.Options{})
	inv := srv.Invite(t, enrollkittest.DemoUser)
	d := srv.NewDevice(t)
	if err := d.EnrollWithAccount(ctx, enrollkittest.DemoManagedAppleID, srv.URL, enrollkittest.DemoCredentials(inv)); err != nil {
		t.Fatal(err)
	}
	exercise(t, ctx, srv, d, inv.EnrollmentID)

	// With a new invitation open, a device whose identity is not from the
	// trusted device CA is refused at the BaseURL.
	srv.Invite(t, enrollkittest.DemoUser)
	otherCA, err := devicesim.NewDeviceCA()
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := devicesim.New(devicesim.Options{HTTPClient: srv.Client(), ProfileRoots: srv.ProfileRoots, DeviceCA: otherCA})
	if err != nil {
		t.Fatal(err)
	}
	err = stranger.EnrollWithAccount(ctx, enrollkittest.DemoManagedAppleID, srv.URL, devicesim.Credentials{})
	var he *devicesim.HTTPError
	if !errors.As(err, &he) || he.StatusCode/100 != 4 || he.StatusCode == http.StatusUnauthorized {
		t.Errorf("untrusted device identity: %v, want a 4xx refusal of the signed request", err)
	}
}

func TestRealServerRefusesWrongPasscode(t *testing.T) {
	ctx := testContext(t)
	srv := enrollkittest.NewServer(t, enrollkittest.Options{})
	inv := srv.Invite(t, enrollkittest.DemoUser)
	creds := enrollkittest.DemoCredentials(inv)
	creds.Passcode = "00000000"
	_, err := srv.NewDevice(t).DownloadProfile(ctx, inv.URL, creds)
	var pe *devicesim.PortalError
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusUnauthorized || pe.Message == "" {
		t.Fatalf("err = %v, want a 401 PortalError with the portal's message", err)
	}
}
