package enrollkittest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enrollkittest"
	"github.com/enrollkit/enrollkit/mdm"
)

type hostDirectory struct{}

func (hostDirectory) ManagedAppleID(_ context.Context, id string) (string, error) {
	if id == "e-42" {
		return "bob@corp.example", nil
	}
	return "", enroll.ErrUnknownUser
}

func (hostDirectory) UserID(_ context.Context, maid string) (string, error) {
	if strings.EqualFold(maid, "bob@corp.example") {
		return "e-42", nil
	}
	return "", enroll.ErrUnknownUser
}

// TestHostUsersAndPush runs the server with a host's own Authenticator and
// Directory, and checks that a queued command goes out through the real
// push client to the APNs stand-in, which wakes the device.
func TestHostUsersAndPush(t *testing.T) {
	ctx := t.Context()
	srv := enrollkittest.NewServer(t, enrollkittest.Options{
		Authenticator: enroll.AuthenticatorFunc(func(_ context.Context, u, p string) (enroll.User, error) {
			if u == "bob" && p == "hunter2" {
				return enroll.User{ID: "e-42", Name: "Bob"}, nil
			}
			return enroll.User{}, enroll.ErrBadCredentials
		}),
		Directory: hostDirectory{},
	})
	bob := enroll.User{ID: "e-42", Name: "Bob"}
	inv := srv.Invite(t, bob)
	phone := srv.NewDevice(t)
	if err := phone.EnrollWithInvitation(ctx, inv.URL, enrollkittest.DemoCredentials(inv)); !errors.Is(err, devicesim.ErrPortal) {
		t.Fatalf("the demo user signed in to a host's directory: %v", err)
	}
	if err := phone.EnrollWithAccount(ctx, "bob@corp.example", srv.URL, devicesim.Credentials{Username: "bob", Password: "hunter2", Passcode: inv.Passcode}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- phone.Run(runCtx) }()
	enr, _ := phone.Enrollment()
	cmd, _ := mdm.NewCommand("pushed-1", map[string]any{"RequestType": "ProfileList"})
	if res, err := srv.MDM.Enqueue(ctx, cmd, mdm.EnrollmentID(enr.EnrollmentID)); err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("Enqueue = %v, %v", res, err)
	}
	for len(phone.Commands()) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("pushed device did not answer")
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop()
	<-done
	if p := srv.Push.Pushes(); len(p) == 0 || !p[len(p)-1].Delivered {
		t.Fatalf("pushes %+v", p)
	}
}

// TestMacChannels enrolls a Mac in both flows: profile-based on macOS 14
// and account-driven on macOS 15, where the device channel sends no bearer
// token and the user channel does. Commands queued for each channel are
// pushed to that channel's token and answered over it, and removing the
// enrollment ends it.
func TestMacChannels(t *testing.T) {
	for _, tc := range []struct {
		name, os      string
		accountDriven bool
	}{
		{"profile-based macOS 14", "14.6.1", false},
		{"account-driven macOS 15", "15.1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			srv := enrollkittest.NewServer(t, enrollkittest.Options{})
			inv := srv.Invite(t, enrollkittest.DemoUser)
			mac := srv.NewDeviceWith(t, devicesim.Options{ProductName: "Mac14,2", OSVersion: tc.os, BuildVersion: "24B83"})
			var err error
			if tc.accountDriven {
				err = mac.EnrollWithAccount(ctx, enrollkittest.DemoManagedAppleID, srv.URL, enrollkittest.DemoCredentials(inv))
			} else {
				err = mac.EnrollWithInvitation(ctx, inv.URL, enrollkittest.DemoCredentials(inv))
			}
			if err != nil {
				t.Fatal(err)
			}
			enr, _ := mac.Enrollment()
			if enr.EnrollmentUserID == "" || enr.AccountDriven != tc.accountDriven {
				t.Fatalf("enrollment %+v: want a user channel", enr)
			}
			device := mdm.EnrollmentID(enr.EnrollmentID)
			user := mdm.EnrollmentID(enr.EnrollmentID + ":" + enr.EnrollmentUserID)
			for _, id := range []mdm.EnrollmentID{device, user} {
				rec, err := srv.MDM.Enrollment(ctx, id)
				if err != nil || !rec.Enrolled {
					t.Fatalf("mdm record %s = %+v, %v", id, rec, err)
				}
			}
			e, err := srv.Enroll.Get(ctx, inv.EnrollmentID)
			if err != nil || e.State != enroll.StateEnrolled || e.DeviceID != enr.EnrollmentID {
				t.Fatalf("enrollment = %+v, %v", e, err)
			}

			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- mac.Run(runCtx) }()
			for i, id := range []mdm.EnrollmentID{device, user} {
				cmd, _ := mdm.NewCommand(fmt.Sprintf("mac-%d", i), map[string]any{"RequestType": "ProfileList"})
				if res, err := srv.MDM.Enqueue(ctx, cmd, id); err != nil || len(res) != 1 || res[0].Err != nil {
					t.Fatalf("Enqueue for %s = %v, %v", id, res, err)
				}
				for {
					r, err := srv.MDM.Result(ctx, id, cmd.UUID)
					if err == nil && r.Status == mdm.StatusAcknowledged {
						break
					}
					if err != nil && !errors.Is(err, mdm.ErrNotFound) {
						t.Fatal(err)
					}
					select {
					case <-ctx.Done():
						t.Fatalf("the Mac did not answer the command for %s: %+v", id, r)
					case <-time.After(10 * time.Millisecond):
					}
				}
				if !slices.ContainsFunc(mac.Commands(), func(c devicesim.CommandRecord) bool { return c.CommandUUID == cmd.UUID }) {
					t.Fatalf("the Mac has no record of answering %s", cmd.UUID)
				}
			}
			stop()
			<-done
			if err := mac.Remove(ctx); err != nil {
				t.Fatal(err)
			}
			if e, err := srv.Enroll.Get(ctx, e.ID); err != nil || e.State != enroll.StateRemoved {
				t.Fatalf("after CheckOut: %+v, %v", e, err)
			}
		})
	}
}

// TestRevokeUnenrolls revokes enrolled devices in both flows: a device that
// is online is pushed a RemoveProfile for its enrollment profile, removes
// it and checks out, and the enrollment ends as removed; a device that
// comes back after its enrollment was ended is told it is not recognized
// and unenrolls.
func TestRevokeUnenrolls(t *testing.T) {
	for _, accountDriven := range []bool{false, true} {
		t.Run(fmt.Sprintf("account-driven=%v", accountDriven), func(t *testing.T) {
			ctx := t.Context()
			srv := enrollkittest.NewServer(t, enrollkittest.Options{})
			enrolled := func() (*devicesim.Device, *enroll.Invitation) {
				t.Helper()
				inv := srv.Invite(t, enrollkittest.DemoUser)
				d := srv.NewDevice(t)
				var err error
				if accountDriven {
					err = d.EnrollWithAccount(ctx, enrollkittest.DemoManagedAppleID, srv.URL, enrollkittest.DemoCredentials(inv))
				} else {
					err = d.EnrollWithInvitation(ctx, inv.URL, enrollkittest.DemoCredentials(inv))
				}
				if err != nil {
					t.Fatal(err)
				}
				return d, inv
			}

			online, inv := enrolled()
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- online.Run(runCtx) }()
			e, err := srv.Enroll.Revoke(ctx, enroll.Meta{Actor: "admin"}, inv.EnrollmentID, "left")
			if err != nil || e.State != enroll.StateUnenrolling {
				t.Fatalf("Revoke = %+v, %v", e, err)
			}
			for {
				if e, err = srv.Enroll.Get(ctx, inv.EnrollmentID); err != nil || e.State == enroll.StateRemoved {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("the device did not unenroll: %+v", e)
				case <-time.After(10 * time.Millisecond):
				}
			}
			stop()
			<-done
			if _, ok := online.Enrollment(); ok || err != nil {
				t.Fatalf("device still enrolled after RemoveProfile (%v)", err)
			}
			// Besides declarative management's sync, the one command is the
			// removal of the enrollment profile.
			cmds := slices.DeleteFunc(online.Commands(), func(c devicesim.CommandRecord) bool { return c.RequestType == "DeclarativeManagement" })
			if len(cmds) != 1 || cmds[0].RequestType != "RemoveProfile" || cmds[0].Status != "Acknowledged" {
				t.Fatalf("commands %+v", cmds)
			}

			// A device that was away while its enrollment ended learns it at
			// its next request.
			away, inv := enrolled()
			for range 2 { // asked to unenroll, then ended at once
				if _, err := srv.Enroll.Revoke(ctx, enroll.Meta{Actor: "admin"}, inv.EnrollmentID, "lost"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := away.Poll(ctx); !errors.Is(err, devicesim.ErrUnrecognized) {
				t.Fatalf("Poll after the enrollment ended: %v, want ErrUnrecognized", err)
			}
			if _, ok := away.Enrollment(); ok {
				t.Fatal("device still enrolled after the server said it does not recognize it")
			}
		})
	}
}

// TestGetToken: with a com.apple.maid issuer, a device enrolled in either
// flow gets a token signed by the issuer's key; without one the profiles
// do not announce GetToken and the device never asks.
func TestGetToken(t *testing.T) {
	ctx := t.Context()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const serverUUID = "5d1c7e2a-8b3f-4c6d-9e0a-1f2b3c4d5e6f"
	issuer, err := mdm.NewMAIDIssuer(key, serverUUID)
	if err != nil {
		t.Fatal(err)
	}
	srv := enrollkittest.NewServer(t, enrollkittest.Options{Tokens: mdm.Tokens{mdm.TokenServiceMAID: issuer}})
	for _, tt := range []struct {
		name   string
		enroll func(d *devicesim.Device, inv *enroll.Invitation) error
	}{
		{"profile-based", func(d *devicesim.Device, inv *enroll.Invitation) error {
			return d.EnrollWithInvitation(ctx, inv.URL, enrollkittest.DemoCredentials(inv))
		}},
		{"account-driven", func(d *devicesim.Device, inv *enroll.Invitation) error {
			return d.EnrollWithAccount(ctx, enrollkittest.DemoManagedAppleID, srv.URL, enrollkittest.DemoCredentials(inv))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			phone := srv.NewDevice(t)
			if err := tt.enroll(phone, srv.Invite(t, enrollkittest.DemoUser)); err != nil {
				t.Fatal(err)
			}
			tok, err := phone.GetToken(ctx, mdm.TokenServiceMAID)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(string(tok), ".")
			digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
			if len(sig) != 64 || !ecdsa.Verify(&key.PublicKey, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
				t.Fatalf("token %s does not verify", tok)
			}
			if !strings.Contains(string(claims), `"iss":"`+serverUUID+`"`) {
				t.Fatalf("claims %s", claims)
			}
			if _, err := phone.GetToken(ctx, "com.apple.watch.pairing"); !errors.Is(err, devicesim.ErrUnexpectedResponse) || !strings.Contains(err.Error(), "400") {
				t.Fatalf("watch pairing: %v, want a 400", err)
			}
		})
	}

	plain := enrollkittest.NewServer(t, enrollkittest.Options{})
	phone := plain.NewDevice(t)
	inv := plain.Invite(t, enrollkittest.DemoUser)
	if err := phone.EnrollWithInvitation(ctx, inv.URL, enrollkittest.DemoCredentials(inv)); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.GetToken(ctx, mdm.TokenServiceMAID); !errors.Is(err, devicesim.ErrNoTokenCapability) {
		t.Fatalf("GetToken without Tokens: %v", err)
	}
}

// TestTodaysDevices enrolls the releases people carry: iOS 17 in both
// flows, iOS 18 and 26 account-driven, and checks that a device on a
// release without profile-based User Enrollment (iOS 18, macOS 15) does not
// end up enrolled through the Safari flow.
func TestTodaysDevices(t *testing.T) {
	ctx := t.Context()
	srv := enrollkittest.NewServer(t, enrollkittest.Options{})
	tests := []struct {
		name          string
		opts          devicesim.Options
		accountDriven bool
		wantEnrolled  bool
	}{
		{"iOS 17 profile-based", devicesim.Options{OSVersion: "17.5.1"}, false, true},
		{"iOS 17 account-driven", devicesim.Options{OSVersion: "17.5.1"}, true, true},
		{"iOS 18 account-driven", devicesim.Options{ProductName: "iPhone17,1", OSVersion: "18.2.1", BuildVersion: "22C161"}, true, true},
		{"iOS 26 account-driven", devicesim.Options{ProductName: "iPhone18,1", OSVersion: "26.1", BuildVersion: "23B85"}, true, true},
		{"iPadOS 18 account-driven", devicesim.Options{ProductName: "iPad16,3", OSVersion: "18.1", BuildVersion: "22B83"}, true, true},
		{"iOS 18 profile-based", devicesim.Options{ProductName: "iPhone17,1", OSVersion: "18.2.1", BuildVersion: "22C161"}, false, false},
		{"macOS 15 profile-based", devicesim.Options{ProductName: "Mac16,1", OSVersion: "15.1", BuildVersion: "24B83"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := srv.Invite(t, enrollkittest.DemoUser)
			d := srv.NewDeviceWith(t, tt.opts)
			var err error
			if tt.accountDriven {
				err = d.EnrollWithAccount(ctx, enrollkittest.DemoManagedAppleID, srv.URL, enrollkittest.DemoCredentials(inv))
			} else {
				err = d.EnrollWithInvitation(ctx, inv.URL, enrollkittest.DemoCredentials(inv))
			}
			e, gerr := srv.Enroll.Get(ctx, inv.EnrollmentID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			_, enrolled := d.Enrollment()
			if tt.wantEnrolled {
				if err != nil || !enrolled || e.State != enroll.StateEnrolled {
					t.Fatalf("enroll: %v; device enrolled %v, enrollment %s", err, enrolled, e.State)
				}
				return
			}
			if err == nil || enrolled || e.State == enroll.StateCheckedIn || e.State == enroll.StateEnrolled {
				t.Fatalf("a release without profile-based User Enrollment got through the Safari flow: %v; device enrolled %v, enrollment %s", err, enrolled, e.State)
			}
		})
	}
}
