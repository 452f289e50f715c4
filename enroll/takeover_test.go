package enroll_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// Takeover tests: a device with its own valid credentials claims the device
// id of another user's enrollment, and a device names itself in a form its
// enrollment was not issued for.

// TestPrecheckDeviceClaims calls the Service's hooks directly, as package
// mdm does, for the ways a device id may be claimed.
func TestPrecheckDeviceClaims(t *testing.T) {
	ctx := context.Background()
	// enrolled runs Authenticate and TokenUpdate for d.
	enrolled := func(t *testing.T, d coreDevice) {
		t.Helper()
		for _, m := range []string{"Authenticate", "TokenUpdate"} {
			if err := d.checkin(t, m); err != nil {
				t.Fatalf("%s: %v", m, err)
			}
		}
	}
	// refused checks that err is a 403 matching ErrDeviceMismatch and that
	// enrollment e was left as it was.
	refused := func(t *testing.T, f *coreFixture, what string, err error, e *enroll.Enrollment) {
		t.Helper()
		coreWantReject(t, what, err, http.StatusForbidden)
		coreWantErr(t, what, err, enroll.ErrDeviceMismatch)
		got, gerr := f.svc.Get(ctx, e.ID)
		if gerr != nil || got.Version != e.Version || got.DeviceID != e.DeviceID || got.State != e.State {
			t.Fatalf("%s changed the enrollment: %+v (%v), was %+v", what, got, gerr, e)
		}
	}
	tests := []struct {
		name string
		run  func(t *testing.T, f *coreFixture)
	}{
		{"device of another live enrollment", func(t *testing.T, f *coreFixture) {
			_, aliceCert := f.issued(t, "alice")
			enrolled(t, coreDevice{f: f, cert: aliceCert, enrollmentID: "UE-ALICE"})
			mallory, malloryCert := f.issued(t, "bob")
			thief := coreDevice{f: f, cert: malloryCert, enrollmentID: "UE-ALICE"}
			err := thief.checkin(t, "Authenticate")
			refused(t, f, "Authenticate claiming another enrollment's device", err, mallory)
			coreWantErr(t, "claiming another enrollment's device", err, enroll.ErrDeviceInUse)
			// Later requests with her certificate do not resolve to Alice's
			// enrollment either.
			for _, m := range []string{"TokenUpdate", "Idle", "CheckOut"} {
				refused(t, f, m+" claiming another enrollment's device", thief.checkin(t, m), mallory)
			}
		}},
		{"device of a checked-in enrollment", func(t *testing.T, f *coreFixture) {
			_, aliceCert := f.issued(t, "alice")
			if err := (coreDevice{f: f, cert: aliceCert, enrollmentID: "UE-ALICE"}).checkin(t, "Authenticate"); err != nil {
				t.Fatal(err)
			}
			mallory, malloryCert := f.issued(t, "bob")
			err := coreDevice{f: f, cert: malloryCert, enrollmentID: "UE-ALICE"}.checkin(t, "Authenticate")
			refused(t, f, "Authenticate claiming a checked-in device", err, mallory)
		}},
		{"rebind of a live record after the enrollment was revoked", func(t *testing.T, f *coreFixture) {
			alice, aliceCert := f.issued(t, "alice")
			enrolled(t, coreDevice{f: f, cert: aliceCert, enrollmentID: "UE-ALICE"})
			if _, err := f.svc.Revoke(ctx, enroll.Meta{}, alice.ID, "left"); err != nil {
				t.Fatal(err)
			}
			mallory, malloryCert := f.issued(t, "bob")
			err := coreDevice{f: f, cert: malloryCert, enrollmentID: "UE-ALICE", rebind: true}.checkin(t, "Authenticate")
			refused(t, f, "Authenticate rebinding a live record", err, mallory)
		}},
		{"checked-out device id may be enrolled again", func(t *testing.T, f *coreFixture) {
			_, aliceCert := f.issued(t, "alice")
			alice := coreDevice{f: f, cert: aliceCert, enrollmentID: "UE-ALICE"}
			enrolled(t, alice)
			if err := alice.checkin(t, "CheckOut"); err != nil {
				t.Fatal(err)
			}
			next, nextCert := f.issued(t, "alice")
			enrolled(t, coreDevice{f: f, cert: nextCert, enrollmentID: "UE-ALICE"})
			if f.state(t, next.ID) != enroll.StateEnrolled {
				t.Fatal("re-enrollment of a checked-out device did not finish")
			}
		}},
		{"owner may rebind its own device", func(t *testing.T, f *coreFixture) {
			// Account-driven, no certificate recorded: the token ties a
			// re-installed identity to the same enrollment.
			inv := f.invite(t, "bob")
			e := f.toConsented(t, inv, "bob", enroll.OwnershipEmployee)
			tok, err := f.svc.IssueAccessToken(ctx, coreMeta, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			d := coreDevice{f: f, cert: coreDeviceCert(t, "first"), enrollmentID: "UE-BOB", bearer: tok.Token}
			if err := d.checkin(t, "Authenticate"); err != nil {
				t.Fatal(err)
			}
			d.cert, d.rebind = coreDeviceCert(t, "second"), true
			if err := d.checkin(t, "Authenticate"); err != nil {
				t.Fatalf("re-Authenticate of the enrollment's own device: %v", err)
			}
		}},
		{"device id reused after a finished enrollment", func(t *testing.T, f *coreFixture) {
			// Alice's enrollment is the older one; a newer one used the
			// same device id and finished. Alice's device must still
			// resolve to Alice's enrollment at every step.
			alice, aliceCert := f.issued(t, "alice")
			f.clock.Advance(time.Minute)
			_, oldCert := f.issued(t, "bob")
			old := coreDevice{f: f, cert: oldCert, enrollmentID: "UE-REUSED"}
			enrolled(t, old)
			if err := old.checkin(t, "CheckOut"); err != nil {
				t.Fatal(err)
			}
			d := coreDevice{f: f, cert: aliceCert, enrollmentID: "UE-REUSED"}
			enrolled(t, d)
			if err := d.checkin(t, "Idle"); err != nil {
				t.Fatalf("Idle: %v", err)
			}
			if f.state(t, alice.ID) != enroll.StateEnrolled {
				t.Fatalf("alice is %s, want enrolled", f.state(t, alice.ID))
			}
		}},
		{"racing claims for one device id", func(t *testing.T, f *coreFixture) {
			const n = 6
			devs := make([]coreDevice, n)
			for i := range devs {
				_, cert := f.issued(t, "alice")
				devs[i] = coreDevice{f: f, cert: cert, enrollmentID: "UE-RACE"}
			}
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i, d := range devs {
				wg.Go(func() { errs[i] = d.checkin(t, "Authenticate") })
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, enroll.ErrDeviceMismatch):
					t.Errorf("losing claim: %v, want ErrDeviceMismatch", err)
				}
			}
			if won != 1 {
				t.Fatalf("%d of %d racing claims for one device id won, want 1", won, n)
			}
		}},
		{"UDID for a User Enrollment", func(t *testing.T, f *coreFixture) {
			e, cert := f.issued(t, "alice")
			err := coreDevice{f: f, cert: cert, udid: "00008110-000A1B2C3D4E801E"}.checkin(t, "Authenticate")
			refused(t, f, "UDID check-in for a User Enrollment", err, e)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newCoreFixture(t)) })
	}

	t.Run("EnrollmentID for a device enrollment", func(t *testing.T) {
		f := newCoreFixture(t, func(c *enroll.Config) { c.Corporate = enroll.CorporateDeviceEnrollment })
		e, cert := f.issuedAs(t, "alice", enroll.OwnershipCorporate)
		err := coreDevice{f: f, cert: cert, enrollmentID: "UE-CORP"}.checkin(t, "Authenticate")
		refused(t, f, "EnrollmentID check-in for a device enrollment", err, e)
		d := coreDevice{f: f, cert: cert, udid: "00008110-000A1B2C3D4E801E"}
		enrolled(t, d)
		if f.state(t, e.ID) != enroll.StateEnrolled {
			t.Fatal("corporate device enrollment by UDID did not finish")
		}
	})
}

// poll sends a command result (Idle, or a status for command uuid) and
// returns the HTTP status and the next command, if any.
func (d *portalDevice) poll(t *testing.T, status, uuid string) (int, []byte) {
	t.Helper()
	msg := map[string]any{"Status": status, "EnrollmentID": d.enrollmentID}
	if uuid != "" {
		msg["CommandUUID"] = uuid
	}
	return d.put(t, "application/x-apple-aspen-mdm", msg)
}

// wantCheckin fails unless a check-in of d answers want.
func (d *portalDevice) wantCheckin(t *testing.T, messageType string, extra map[string]any, want int) {
	t.Helper()
	if st := d.checkin(t, messageType, extra); st != want {
		t.Fatalf("%s of %s: %d, want %d", messageType, d.enrollmentID, st, want)
	}
}

// TestTakeoverRefused is the attack end to end with the MDM server:
// Alice's device is enrolled (profile-based); Mallory, with her own
// invitation and the identity SCEP issued for her challenge (and, in the
// account-driven flow, her own access token), sends Alice's EnrollmentID.
func TestTakeoverRefused(t *testing.T) {
	tests := []struct {
		name    string
		revoked bool // Alice's enrollment is revoked before the attack
		mallory func(t *testing.T, h *harness, devCA *portalDeviceCA) (*enroll.Invitation, *portalDevice)
	}{
		{"profile-based attacker", false, func(t *testing.T, h *harness, _ *portalDeviceCA) (*enroll.Invitation, *portalDevice) {
			inv, d, _ := portalProfileInstalled(t, h, "UE-ALICE")
			return inv, d
		}},
		{"account-driven attacker", false, func(t *testing.T, h *harness, devCA *portalDeviceCA) (*enroll.Invitation, *portalDevice) {
			return portalAccountInstall(t, h, devCA, "UE-ALICE")
		}},
		{"attacker after the victim was revoked", true, func(t *testing.T, h *harness, _ *portalDeviceCA) (*enroll.Invitation, *portalDevice) {
			inv, d, _ := portalProfileInstalled(t, h, "UE-ALICE")
			return inv, d
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			devCA := newPortalDeviceCA(t)
			h := newHarness(t, harnessOptions{deviceRoots: devCA.pool()})
			aliceInv, alice, _ := portalProfileInstalled(t, h, "UE-ALICE")
			alice.wantCheckin(t, "Authenticate", nil, http.StatusOK)
			alice.wantCheckin(t, "TokenUpdate", map[string]any{"Token": []byte{1, 2, 3, 4}, "PushMagic": "alice-magic"}, http.StatusOK)
			h.wantState(t, aliceInv.EnrollmentID, enroll.StateEnrolled)
			if tt.revoked {
				if _, err := h.svc.Revoke(ctx, enroll.Meta{Actor: "admin"}, aliceInv.EnrollmentID, "lost"); err != nil {
					t.Fatal(err)
				}
			}
			before, err := h.mdm.Enrollment(ctx, "UE-ALICE")
			if err != nil {
				t.Fatal(err)
			}

			malloryInv, mallory := tt.mallory(t, h, devCA)
			malloryFrom, err := h.svc.Get(ctx, malloryInv.EnrollmentID)
			if err != nil {
				t.Fatal(err)
			}
			mallory.wantCheckin(t, "Authenticate", nil, http.StatusForbidden)
			mallory.wantCheckin(t, "TokenUpdate", map[string]any{"Token": []byte{6, 6, 6}, "PushMagic": "mallory-magic"}, http.StatusForbidden)
			if st, _ := mallory.poll(t, "Idle", ""); st != http.StatusForbidden {
				t.Fatalf("Mallory's poll as Alice: %d, want 403", st)
			}

			after, err := h.mdm.Enrollment(ctx, "UE-ALICE")
			if err != nil {
				t.Fatal(err)
			}
			if after.Certificate != before.Certificate || !bytes.Equal(after.Token, before.Token) || after.PushMagic != before.PushMagic ||
				after.CheckedOut != before.CheckedOut || !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Fatalf("Alice's mdm record changed:\n got %+v\nwant %+v", after, before)
			}
			if m, err := h.svc.Get(ctx, malloryInv.EnrollmentID); err != nil || m.Version != malloryFrom.Version || m.DeviceID != "" {
				t.Fatalf("Mallory's enrollment changed: %+v (%v)", m, err)
			}
			if tt.revoked {
				h.wantState(t, aliceInv.EnrollmentID, enroll.StateRevoked)
				return
			}
			h.wantState(t, aliceInv.EnrollmentID, enroll.StateEnrolled)

			// A command for Alice goes to Alice's device only.
			cmd, err := mdm.NewCommand("CMD-FOR-ALICE", map[string]any{"RequestType": "ProfileList"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.mdm.Enqueue(ctx, cmd, "UE-ALICE"); err != nil {
				t.Fatal(err)
			}
			if st, body := mallory.poll(t, "Idle", ""); st != http.StatusForbidden || bytes.Contains(body, []byte(cmd.UUID)) {
				t.Fatalf("Mallory's poll as Alice after the enqueue: %d %q", st, body)
			}
			if st, body := alice.poll(t, "Idle", ""); st != http.StatusOK || !bytes.Contains(body, []byte(cmd.UUID)) {
				t.Fatalf("Alice's poll: %d %q, want her command", st, body)
			}
			if st, _ := mallory.poll(t, "Acknowledged", cmd.UUID); st != http.StatusForbidden {
				t.Fatalf("Mallory answering Alice's command: %d, want 403", st)
			}
			if st, body := alice.poll(t, "Acknowledged", cmd.UUID); st != http.StatusOK || len(body) != 0 {
				t.Fatalf("Alice's answer: %d %q", st, body)
			}
			if res, err := h.mdm.Result(ctx, "UE-ALICE", cmd.UUID); err != nil || res.Status != mdm.StatusAcknowledged {
				t.Fatalf("Alice's result: %+v, %v", res, err)
			}
			alice.wantCheckin(t, "TokenUpdate", map[string]any{"Token": []byte{1, 2, 3, 4}, "PushMagic": "alice-magic"}, http.StatusOK)

			// Mallory's own device, with its own EnrollmentID, still enrolls.
			mallory.enrollmentID = "UE-MALLORY"
			mallory.wantCheckin(t, "Authenticate", nil, http.StatusOK)
			mallory.wantCheckin(t, "TokenUpdate", map[string]any{"Token": []byte{6, 6, 6}, "PushMagic": "mallory-magic"}, http.StatusOK)
			h.wantState(t, malloryInv.EnrollmentID, enroll.StateEnrolled)
		})
	}
}

// TestUserEnrollmentIdentityForm: a BYOD enrollment's device that names
// itself by UDID and serial number is refused with nothing stored; the
// record it gets with its EnrollmentID holds no serial number, and the User
// Enrollment command policy applies to it because the type mdm stores
// comes from a check-in whose form the Service checked against the
// enrollment.
func TestUserEnrollmentIdentityForm(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, harnessOptions{})
	inv, d, _ := portalProfileInstalled(t, h, "UE-BYOD")
	const udid = "00008110-000A1B2C3D4E801E"
	asDevice := map[string]any{"EnrollmentID": "", "UDID": udid, "SerialNumber": "F2LX1234ABCD"}
	d.wantCheckin(t, "Authenticate", asDevice, http.StatusForbidden)
	if _, err := h.mdm.Enrollment(ctx, udid); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("refused UDID Authenticate stored a record: %v", err)
	}
	h.wantState(t, inv.EnrollmentID, enroll.StateProfileIssued)

	d.wantCheckin(t, "Authenticate", map[string]any{"SerialNumber": "F2LX1234ABCD", "ProductName": "iPhone15,2"}, http.StatusOK)
	d.wantCheckin(t, "TokenUpdate", map[string]any{"Token": []byte{1, 2}, "PushMagic": "magic"}, http.StatusOK)
	rec, err := h.mdm.Enrollment(ctx, "UE-BYOD")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Type != mdm.UserEnrollmentDevice || rec.SerialNumber != "" || rec.ProductName != "iPhone15,2" {
		t.Fatalf("User Enrollment record: type %s serial %q product %q", rec.Type, rec.SerialNumber, rec.ProductName)
	}
	for _, rt := range []string{"EraseDevice", "DeviceLocation"} {
		cmd, err := mdm.NewCommand("CMD-"+rt, map[string]any{"RequestType": rt})
		if err != nil {
			t.Fatal(err)
		}
		var pe *mdm.PolicyError
		if _, err := h.mdm.Enqueue(ctx, cmd, "UE-BYOD"); !errors.As(err, &pe) {
			t.Fatalf("Enqueue %s to a User Enrollment: %v, want a *mdm.PolicyError", rt, err)
		}
	}
	// A later check-in in the device-enrollment form is refused too.
	d.wantCheckin(t, "TokenUpdate", map[string]any{"EnrollmentID": "", "UDID": udid, "Token": []byte{1, 2}, "PushMagic": "magic"}, http.StatusForbidden)
	if st, body := d.poll(t, "Idle", ""); st != http.StatusOK || len(body) != 0 {
		t.Fatalf("Idle: %d %q, want 200 and no command", st, body)
	}
}
