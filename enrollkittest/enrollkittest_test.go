package enrollkittest_test

import (
	"context"
	"errors"
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
