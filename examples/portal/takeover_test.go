package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/internal/testenv"
	"github.com/enrollkit/enrollkit/mdm"
)

// startWithDeviceCA starts the example server (n replicas, extra flags)
// trusting only a new device CA for account-driven enrollment.
func startWithDeviceCA(t *testing.T, n int, extra ...string) (*testServer, *devicesim.DeviceCA) {
	t.Helper()
	deviceCA, rootFile := newDeviceCAFile(t)
	return startReplicas(t, n, append([]string{"-device-ca-root", rootFile}, extra...)...), deviceCA
}

// newDeviceCAFile returns a new simulated device CA and the path of a file
// holding its root, for the server's -device-ca-root.
func newDeviceCAFile(t *testing.T) (*devicesim.DeviceCA, string) {
	t.Helper()
	deviceCA, err := devicesim.NewDeviceCA()
	if err != nil {
		t.Fatal(err)
	}
	rootFile := filepath.Join(t.TempDir(), "device-root.pem")
	if err := os.WriteFile(rootFile, deviceCA.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return deviceCA, rootFile
}

// simDevice returns a simulated device of the test server, trusting its
// CA; enrollmentID, if not empty, is the EnrollmentID it checks in with.
func (ts *testServer) simDevice(t *testing.T, deviceCA *devicesim.DeviceCA, name, enrollmentID string) *devicesim.Device {
	t.Helper()
	d, err := devicesim.New(devicesim.Options{
		HTTPClient:        ts.client,
		AllowInsecureURLs: !ts.st.cfg.TLS,
		ProfileRoots:      ts.st.pki.Roots(),
		DeviceCA:          deviceCA,
		DeviceName:        name,
		EnrollmentID:      enrollmentID,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// testTakeover is the device-channel takeover attack: Alice's device is
// enrolled; Mallory, with her own invitation, enrolls a device that sends
// Alice's EnrollmentID, signing with the identity SCEP issued for her own
// challenge (and, account-driven, carrying her own access token). Her
// Authenticate must be refused with nothing changed, and Alice's device
// must keep its channel and its commands.
func testTakeover(t *testing.T, ts *testServer, deviceCA *devicesim.DeviceCA) {
	ctx := t.Context()
	if err := ts.st.users.add("mallory", "mallory's password", "mallory@example.com"); err != nil {
		t.Fatal(err)
	}
	invite := func(user string) invitationOut {
		t.Helper()
		var inv invitationOut
		if code := ts.admin(t, "POST", "/invitations", map[string]string{"user": user}, &inv); code != http.StatusCreated {
			t.Fatalf("invite %s: %d", user, code)
		}
		return inv
	}

	aliceInv := invite("alice")
	alice := ts.simDevice(t, deviceCA, "Alice's iPhone", "")
	if err := alice.EnrollWithInvitation(ctx, aliceInv.URL, devicesim.Credentials{
		Username: "alice", Password: "correct horse", Passcode: aliceInv.Passcode,
	}); err != nil {
		t.Fatalf("alice enrolls: %v", err)
	}
	aliceDevice := ts.enrollment(t, aliceInv.EnrollmentID).DeviceID
	before, err := ts.st.mdm.Enrollment(ctx, mdm.EnrollmentID(aliceDevice))
	if err != nil {
		t.Fatal(err)
	}

	attacks := []struct {
		name string
		run  func(d *devicesim.Device, inv invitationOut, creds devicesim.Credentials) error
		left enroll.State // Mallory's enrollment after the refusal
	}{
		{"profile-based attacker", func(d *devicesim.Device, inv invitationOut, creds devicesim.Credentials) error {
			return d.EnrollWithInvitation(ctx, inv.URL, creds)
		}, enroll.StateProfileIssued},
		{"account-driven attacker", func(d *devicesim.Device, _ invitationOut, creds devicesim.Credentials) error {
			return d.EnrollWithAccount(ctx, "mallory@example.com", ts.url, creds)
		}, enroll.StateTokenIssued},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			inv := invite("mallory")
			mallory := ts.simDevice(t, deviceCA, "Mallory's iPhone", aliceDevice)
			err := a.run(mallory, inv, devicesim.Credentials{Username: "mallory", Password: "mallory's password", Passcode: inv.Passcode})
			var he *devicesim.HTTPError
			if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden || he.Op != "checkin Authenticate" {
				t.Fatalf("Mallory's Authenticate as Alice's device: %v, want 403", err)
			}
			if e := ts.enrollment(t, inv.EnrollmentID); e.State != a.left || e.DeviceID != "" {
				t.Fatalf("Mallory's enrollment after the refusal: %s, device %q", e.State, e.DeviceID)
			}
			if e := ts.enrollment(t, aliceInv.EnrollmentID); e.State != enroll.StateEnrolled || e.DeviceID != aliceDevice {
				t.Fatalf("Alice's enrollment after the attack: %s, device %q", e.State, e.DeviceID)
			}
			after, err := ts.st.mdm.Enrollment(ctx, mdm.EnrollmentID(aliceDevice))
			if err != nil {
				t.Fatal(err)
			}
			if after.Certificate != before.Certificate || !bytes.Equal(after.Token, before.Token) ||
				after.PushMagic != before.PushMagic || after.CheckedOut != before.CheckedOut {
				t.Fatalf("Alice's mdm record changed:\n got %+v\nwant %+v", after, before)
			}
			if _, err := alice.Poll(ctx); err != nil {
				t.Fatalf("Alice's device after the attack: %v", err)
			}
		})
	}

	// A command for Alice is answered by Alice's device.
	var queued struct {
		CommandUUID string `json:"command_uuid"`
	}
	if code := ts.admin(t, "POST", "/enrollments/"+aliceInv.EnrollmentID+"/commands", map[string]any{
		"request_type": "DeviceInformation", "fields": map[string]any{"Queries": []string{"DeviceName"}},
	}, &queued); code != http.StatusAccepted {
		t.Fatalf("enqueue for Alice: %d", code)
	}
	if n, err := alice.Poll(ctx); n != 1 || err != nil {
		t.Fatalf("Alice's poll: %d commands, %v; want her command", n, err)
	}
	var result struct {
		Status string         `json:"status"`
		Result map[string]any `json:"result"`
	}
	if code := ts.admin(t, "GET", "/enrollments/"+aliceInv.EnrollmentID+"/commands/"+queued.CommandUUID, nil, &result); code != http.StatusOK || result.Status != "Acknowledged" {
		t.Fatalf("Alice's result: %d %+v", code, result)
	}
	if info, _ := result.Result["QueryResponses"].(map[string]any); info["DeviceName"] != "Alice's iPhone" {
		t.Fatalf("the answer stored for Alice came from %v", info["DeviceName"])
	}

	// Revoking Alice's enrollment does not free her device's live channel
	// for someone else either.
	if code := ts.admin(t, "POST", "/enrollments/"+aliceInv.EnrollmentID+"/revoke", map[string]string{"reason": "left"}, nil); code != http.StatusOK {
		t.Fatalf("revoke Alice: %d", code)
	}
	before, err = ts.st.mdm.Enrollment(ctx, mdm.EnrollmentID(aliceDevice))
	if err != nil {
		t.Fatal(err)
	}
	inv := invite("mallory")
	err = ts.simDevice(t, deviceCA, "Mallory's iPhone", aliceDevice).EnrollWithInvitation(ctx, inv.URL,
		devicesim.Credentials{Username: "mallory", Password: "mallory's password", Passcode: inv.Passcode})
	var he *devicesim.HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
		t.Fatalf("Mallory's Authenticate as Alice's revoked device: %v, want 403", err)
	}
	if after, err := ts.st.mdm.Enrollment(ctx, mdm.EnrollmentID(aliceDevice)); err != nil || after.Certificate != before.Certificate {
		t.Fatalf("Alice's record was rebound after her revocation: %+v (%v)", after, err)
	}
}

func TestTakeoverEndToEnd(t *testing.T) {
	ts, deviceCA := startWithDeviceCA(t, 1)
	testTakeover(t, ts, deviceCA)
}

// TestTakeoverReplicasEndToEnd runs the attack against two replicas over
// one PostgreSQL database, consecutive requests landing on different
// replicas.
func TestTakeoverReplicasEndToEnd(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	var b [6]byte
	rand.Read(b[:])
	schema := fmt.Sprintf("portal_takeover_%x", b)
	t.Cleanup(func() { dropSchema(t, dsn, schema) })
	ts, deviceCA := startWithDeviceCA(t, 2, "-postgres", dsn, "-postgres-schema", schema)
	testTakeover(t, ts, deviceCA)
}
