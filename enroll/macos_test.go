package enroll_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
)

// accountDriven returns an account-driven enrollment of username in
// TokenIssued with its access token and an identity certificate, recorded
// for it when record is set.
func (f *coreFixture) accountDriven(t *testing.T, username string, record bool) (*enroll.Enrollment, string, []byte) {
	t.Helper()
	ctx := context.Background()
	e := f.toConsented(t, f.invite(t, username), username, enroll.OwnershipEmployee)
	tok, err := f.svc.IssueAccessToken(ctx, coreMeta, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	cert := coreDeviceCert(t, "mac-"+username)
	if record {
		if _, err := f.svc.RecordCertificate(ctx, coreMeta, e.ID, cert); err != nil {
			t.Fatal(err)
		}
	}
	return f.get(t, e.ID), tok.Token, cert
}

// TestMacChannelsAccountDriven checks the account-driven rules for a Mac:
// its device channel sends no bearer token and is tied to the enrollment
// by the recorded certificate alone; its user channel carries the token;
// an iPhone must always carry it.
func TestMacChannelsAccountDriven(t *testing.T) {
	const mac, iphone = "Mac14,2", "iPhone15,4"
	tests := []struct {
		name string
		run  func(t *testing.T, f *coreFixture)
	}{
		{"Mac enrolls with its device channel tied by the recorded certificate", func(t *testing.T, f *coreFixture) {
			e, tok, cert := f.accountDriven(t, "alice", true)
			dev := coreDevice{f: f, cert: cert, enrollmentID: "UE-MAC", product: mac}
			usr := coreDevice{f: f, cert: cert, enrollmentID: "UE-MAC", product: mac, user: "USER-1", bearer: tok}
			for _, step := range []struct {
				d coreDevice
				m string
			}{{dev, "Authenticate"}, {dev, "TokenUpdate"}, {usr, "TokenUpdate"}, {dev, "Idle"}, {usr, "Idle"}} {
				if err := step.d.checkin(t, step.m); err != nil {
					t.Fatalf("%s (user channel %v): %v", step.m, step.d.user != "", err)
				}
			}
			if st := f.state(t, e.ID); st != enroll.StateEnrolled {
				t.Fatalf("state %s, want enrolled", st)
			}
			noToken := usr
			noToken.bearer = ""
			coreWantReject(t, "user channel without its token", noToken.checkin(t, "Idle"), http.StatusUnauthorized)
			wrong := dev
			wrong.bearer = "not-the-token"
			coreWantReject(t, "device channel with a wrong token", wrong.checkin(t, "Idle"), http.StatusUnauthorized)
			if err := usr.checkin(t, "CheckOut"); err != nil {
				t.Fatal(err)
			}
			if st := f.state(t, e.ID); st != enroll.StateEnrolled {
				t.Fatalf("a user channel's CheckOut moved the enrollment to %s", st)
			}
			if err := dev.checkin(t, "CheckOut"); err != nil {
				t.Fatal(err)
			}
			if st := f.state(t, e.ID); st != enroll.StateRemoved {
				t.Fatalf("after the device channel's CheckOut: %s, want removed", st)
			}
		}},
		{"Mac without a recorded certificate is refused", func(t *testing.T, f *coreFixture) {
			e, _, cert := f.accountDriven(t, "alice", false)
			err := coreDevice{f: f, cert: cert, enrollmentID: "UE-MAC", product: mac}.checkin(t, "Authenticate")
			coreWantReject(t, "Authenticate without token or recorded certificate", err, http.StatusForbidden)
			coreWantErr(t, "Authenticate without token or recorded certificate", err, enroll.ErrDeviceMismatch)
			if got := f.get(t, e.ID); got.Version != e.Version {
				t.Fatalf("refused Authenticate changed the enrollment: %+v", got)
			}
		}},
		{"iPhone must send its token", func(t *testing.T, f *coreFixture) {
			e, tok, cert := f.accountDriven(t, "alice", true)
			d := coreDevice{f: f, cert: cert, enrollmentID: "UE-PHONE", product: iphone}
			coreWantReject(t, "iPhone Authenticate without token", d.checkin(t, "Authenticate"), http.StatusUnauthorized)
			if got := f.get(t, e.ID); got.Version != e.Version {
				t.Fatalf("refused Authenticate changed the enrollment: %+v", got)
			}
			d.bearer = tok
			if err := d.checkin(t, "Authenticate"); err != nil {
				t.Fatal(err)
			}
			// After an iPhone's Authenticate the stored record says iPhone:
			// dropping the token later is refused too.
			d.bearer = ""
			coreWantReject(t, "iPhone Idle without token", d.checkin(t, "Idle"), http.StatusUnauthorized)
		}},
		{"device without a product name must send its token", func(t *testing.T, f *coreFixture) {
			_, _, cert := f.accountDriven(t, "alice", true)
			err := coreDevice{f: f, cert: cert, enrollmentID: "UE-X"}.checkin(t, "Authenticate")
			coreWantReject(t, "Authenticate without token or product", err, http.StatusUnauthorized)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newCoreFixture(t)) })
	}
}
