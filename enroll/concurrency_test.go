package enroll_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
)

// coreReplicas returns n Services sharing f's store and clock, as replicas
// behind a load balancer would.
func coreReplicas(t *testing.T, f *coreFixture, n int) []*enroll.Service {
	t.Helper()
	out := []*enroll.Service{f.svc}
	for len(out) < n {
		svc, err := enroll.New(f.store, f.cfg)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, svc)
	}
	return out
}

// TestConcurrentWrongPasscodes races many wrong passcodes against one
// enrollment on several replicas: exactly five failures are counted (with
// 4, 3, 2, 1 and 0 attempts left), the fifth locks, everything else sees
// the lock.
func TestConcurrentWrongPasscodes(t *testing.T) {
	f := newCoreFixture(t)
	ctx := context.Background()
	inv := f.invite(t, "alice")
	if _, err := f.svc.Authenticate(ctx, coreMeta, inv.EnrollmentID, "alice", corePassword, enroll.OwnershipEmployee); err != nil {
		t.Fatal(err)
	}
	replicas := coreReplicas(t, f, 3)
	const n = 24
	enrolltest.RaceWrongPasscodes(t, n, func(i int) error {
		_, err := replicas[i%len(replicas)].SubmitPasscode(ctx, coreMeta, inv.EnrollmentID, "99999999z")
		return err
	})
	e, _ := f.svc.Get(ctx, inv.EnrollmentID)
	if e.State != enroll.StateLocked || e.Passcode.Attempts != 5 || !e.Passcode.Locked {
		t.Fatalf("after the race: state %s, passcode %v", e.State, e.Passcode)
	}
	trail, _ := f.svc.Audit(ctx, inv.EnrollmentID)
	var rejected, locks int
	for _, a := range trail {
		switch a.Event {
		case enroll.EventPasscodeRejected:
			rejected++
		case enroll.EventLock:
			locks++
		}
	}
	if rejected != 4 || locks != 1 {
		t.Fatalf("audit has %d rejections and %d locks, want 4 and 1", rejected, locks)
	}
}

// TestConcurrentRightPasscode races the right passcode (and some wrong
// ones) on several replicas: exactly one submission of the right code
// wins, and it is used once.
func TestConcurrentRightPasscode(t *testing.T) {
	f := newCoreFixture(t)
	ctx := context.Background()
	inv := f.invite(t, "alice")
	if _, err := f.svc.Authenticate(ctx, coreMeta, inv.EnrollmentID, "alice", corePassword, enroll.OwnershipEmployee); err != nil {
		t.Fatal(err)
	}
	replicas := coreReplicas(t, f, 2)
	const n = 16
	var (
		wg                   sync.WaitGroup
		mu                   sync.Mutex
		wins, wrong, refused int
	)
	for i := range n {
		code := inv.Passcode
		if i%4 == 3 {
			code = "11111111q"
		}
		wg.Go(func() {
			_, err := replicas[i%2].SubmitPasscode(ctx, coreMeta, inv.EnrollmentID, code)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, enroll.ErrWrongPasscode):
				wrong++
			case errors.Is(err, enroll.ErrInvalidTransition):
				refused++ // already verified
			default:
				t.Errorf("unexpected outcome: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || wins+wrong+refused != n || wrong > 4 {
		t.Fatalf("%d wins, %d counted wrong, %d refused; want exactly 1 win", wins, wrong, refused)
	}
	e, _ := f.svc.Get(ctx, inv.EnrollmentID)
	if e.State != enroll.StatePasscodeVerified || !e.Passcode.Used {
		t.Fatalf("after the race: %s %v", e.State, e.Passcode)
	}
}

// TestConcurrentDownload races one download link: exactly one profile is
// served.
func TestConcurrentDownload(t *testing.T) {
	f := newCoreFixture(t)
	ctx := context.Background()
	inv := f.invite(t, "alice")
	e := f.toConsented(t, inv, "alice", enroll.OwnershipEmployee)
	link, err := f.svc.IssueDownloadLink(ctx, coreMeta, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	replicas := coreReplicas(t, f, 2)
	const n = 12
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		served     int
		challenges []string
		used       int
	)
	for i := range n {
		wg.Go(func() {
			p, err := replicas[i%2].DownloadProfile(ctx, coreMeta, link.Token)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				served++
				challenges = append(challenges, coreSCEP(t, coreParseProfile(t, p.Data)).Challenge)
			case errors.Is(err, enroll.ErrLinkUsed):
				used++
			default:
				t.Errorf("unexpected outcome: %v", err)
			}
		})
	}
	wg.Wait()
	if served != 1 || used != n-1 {
		t.Fatalf("%d served, %d refused as used; want 1 and %d", served, used, n-1)
	}
	// The challenge in the served profile is the one stored.
	if _, err := f.svc.RedeemChallenge(ctx, enroll.Meta{}, challenges[0]); err != nil {
		t.Fatalf("challenge of the served profile: %v", err)
	}
}
