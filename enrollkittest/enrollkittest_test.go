package enrollkittest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math/big"
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
