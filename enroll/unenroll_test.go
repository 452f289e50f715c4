package enroll_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// recordingUnenroller records the devices it was asked to unenroll and
// fails while err is set.
type recordingUnenroller struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (u *recordingUnenroller) Unenroll(_ context.Context, id mdm.EnrollmentID, profileIdentifier string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls = append(u.calls, string(id)+" "+profileIdentifier)
	return u.err
}

// wantUnenroll fails unless err is a 403 that tells the device it is no
// longer recognized (or, with want false, a 403 that does not).
func wantUnenroll(t *testing.T, what string, err error, want bool) {
	t.Helper()
	var re *mdm.RejectError
	if !errors.As(err, &re) || re.Status != http.StatusForbidden || re.Unenroll != want {
		t.Fatalf("%s: err = %v (%+v), want a 403 with Unenroll %v", what, err, re, want)
	}
}

// TestRevokeEnrolledDevice: revoking an enrolled device asks it to
// unenroll, lets it poll for the command until it checks out or its
// deadline passes, and from then on tells it that it is not recognized.
func TestRevokeEnrolledDevice(t *testing.T) {
	ctx := context.Background()
	enrolled := func(t *testing.T, f *coreFixture) (*enroll.Enrollment, coreDevice) {
		t.Helper()
		e, cert := f.issued(t, "alice")
		d := coreDevice{f: f, cert: cert, enrollmentID: "UE-ALICE"}
		for _, m := range []string{"Authenticate", "TokenUpdate"} {
			if err := d.checkin(t, m); err != nil {
				t.Fatal(err)
			}
		}
		return e, d
	}
	tests := []struct {
		name string
		run  func(t *testing.T, f *coreFixture, u *recordingUnenroller)
	}{
		{"device confirms with CheckOut", func(t *testing.T, f *coreFixture, u *recordingUnenroller) {
			e, d := enrolled(t, f)
			got, err := f.svc.Revoke(ctx, enroll.Meta{}, e.ID, "left the company")
			if err != nil || got.State != enroll.StateUnenrolling || !got.ExpiresAt.Equal(coreStart.Add(enroll.DefaultUnenrollDeadline)) {
				t.Fatalf("Revoke = %+v, %v", got, err)
			}
			if len(u.calls) != 1 || u.calls[0] != "UE-ALICE "+enroll.DefaultProfileIdentifier {
				t.Fatalf("Unenroller calls %q", u.calls)
			}
			// The device fetches its RemoveProfile, then checks out.
			for _, m := range []string{"Idle", "Acknowledged", "TokenUpdate", "CheckOut"} {
				if err := d.checkin(t, m); err != nil {
					t.Fatalf("%s while unenrolling: %v", m, err)
				}
			}
			if st := f.state(t, e.ID); st != enroll.StateRemoved {
				t.Fatalf("after CheckOut: %s, want removed", st)
			}
			wantUnenroll(t, "Idle after CheckOut", d.checkin(t, "Idle"), true)
		}},
		{"deadline passes without CheckOut", func(t *testing.T, f *coreFixture, u *recordingUnenroller) {
			e, d := enrolled(t, f)
			if _, err := f.svc.Revoke(ctx, enroll.Meta{}, e.ID, "lost"); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(enroll.DefaultUnenrollDeadline)
			wantUnenroll(t, "Idle past the deadline", d.checkin(t, "Idle"), true)
			if n, err := f.svc.Sweep(ctx); err != nil || n != 1 {
				t.Fatalf("Sweep = %d, %v", n, err)
			}
			if st := f.state(t, e.ID); st != enroll.StateRemoved {
				t.Fatalf("after the deadline: %s, want removed", st)
			}
			wantUnenroll(t, "Idle after the deadline", d.checkin(t, "Idle"), true)
		}},
		{"revoking again ends it at once", func(t *testing.T, f *coreFixture, u *recordingUnenroller) {
			e, d := enrolled(t, f)
			u.err = errors.New("queue unavailable")
			got, err := f.svc.Revoke(ctx, enroll.Meta{}, e.ID, "lost")
			if !errors.Is(err, u.err) || got == nil || got.State != enroll.StateUnenrolling {
				t.Fatalf("Revoke with a failing Unenroller = %+v, %v", got, err)
			}
			if got, err := f.svc.Revoke(ctx, enroll.Meta{}, e.ID, "lost"); err != nil || got.State != enroll.StateRevoked {
				t.Fatalf("second Revoke = %+v, %v", got, err)
			}
			if len(u.calls) != 1 {
				t.Fatalf("Unenroller calls %q, want 1", u.calls)
			}
			wantUnenroll(t, "Idle after revocation", d.checkin(t, "Idle"), true)
		}},
		{"unfinished enrollment is revoked at once", func(t *testing.T, f *coreFixture, u *recordingUnenroller) {
			e, cert := f.issued(t, "alice")
			d := coreDevice{f: f, cert: cert, enrollmentID: "UE-ALICE"}
			if err := d.checkin(t, "Authenticate"); err != nil {
				t.Fatal(err)
			}
			if got, err := f.svc.Revoke(ctx, enroll.Meta{}, e.ID, "wrong user"); err != nil || got.State != enroll.StateRevoked {
				t.Fatalf("Revoke = %+v, %v", got, err)
			}
			if len(u.calls) != 0 {
				t.Fatalf("Unenroller called for an unfinished enrollment: %q", u.calls)
			}
			wantUnenroll(t, "TokenUpdate after revocation", d.checkin(t, "TokenUpdate"), true)
		}},
		{"a stranger is refused without being told to unenroll", func(t *testing.T, f *coreFixture, u *recordingUnenroller) {
			err := coreDevice{f: f, cert: coreDeviceCert(t, "stranger"), enrollmentID: "UE-X"}.checkin(t, "Idle")
			wantUnenroll(t, "unknown certificate", err, false)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &recordingUnenroller{}
			tt.run(t, newCoreFixture(t, func(c *enroll.Config) { c.Unenroller = u }), u)
		})
	}
}
