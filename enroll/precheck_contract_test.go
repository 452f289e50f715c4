package enroll_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/memory"
)

// raceHooks make two Authenticates for one device id interleave as badly
// as two replicas could: each request's Precheck waits until both were
// vetted, and a second write of the device's mdm record waits until an
// Authenticate was observed (so it would land after the first request
// finished).
type raceHooks struct {
	mdm.Store // the MDM server's store
	svc       *enroll.Service
	device    mdm.EnrollmentID

	mu       sync.Mutex
	vetted   int
	writes   int
	bothDone chan struct{} // closed when both Authenticates were vetted
	observed chan struct{} // closed after the first observed Authenticate
}

// raceWait bounds every wait, so that an interleaving the code under test
// does not reach cannot hang the test.
const raceWait = 2 * time.Second

func wait(c chan struct{}) {
	select {
	case <-c:
	case <-time.After(raceWait):
	}
}

// Precheck implements mdm.Prechecker.
func (h *raceHooks) Precheck(ctx context.Context, r *mdm.Request) error {
	err := h.svc.Precheck(ctx, r)
	if _, ok := r.Message.(*mdm.Authenticate); ok && r.Enrollment.ID == h.device {
		h.mu.Lock()
		if h.vetted++; h.vetted == 2 {
			close(h.bothDone)
		}
		h.mu.Unlock()
		wait(h.bothDone)
	}
	return err
}

// Observe implements mdm.Observer.
func (h *raceHooks) Observe(ctx context.Context, ev *mdm.Event) error {
	err := h.svc.Observe(ctx, ev)
	if ev.Kind == mdm.EventAuthenticate && err == nil {
		h.mu.Lock()
		select {
		case <-h.observed:
		default:
			close(h.observed)
		}
		h.mu.Unlock()
	}
	return err
}

// PutEnrollment implements mdm.Store.
func (h *raceHooks) PutEnrollment(ctx context.Context, rec *mdm.EnrollmentRecord) error {
	if rec.ID == h.device {
		h.mu.Lock()
		h.writes++
		later := h.writes > 1
		h.mu.Unlock()
		if later {
			wait(h.observed)
		}
	}
	return h.Store.PutEnrollment(ctx, rec)
}

// TestRacingAuthenticateOneWinner: two enrollments' devices send
// Authenticate for one device id at once, through the MDM server, in the
// worst interleaving. Exactly one wins, and it wins in both stores: mdm's
// record for the device is bound to the winner's certificate and the
// winner finishes enrolling; the loser is refused and leaves nothing
// behind. This is why Precheck records the check-in (see enroll's
// Precheck and mdm.Prechecker): the claim on the device id is settled by
// the enroll Store before mdm writes anything, which an Observer after
// mdm's write could not do.
func TestRacingAuthenticateOneWinner(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, harnessOptions{})
	invA, a, _ := portalProfileInstalled(t, h, "UE-RACE")
	invB, b, _ := portalProfileInstalled(t, h, "UE-RACE")

	rs := &raceHooks{Store: memory.NewMDMStore(), svc: h.svc, device: "UE-RACE",
		bothDone: make(chan struct{}), observed: make(chan struct{})}
	srv, err := mdm.NewService(rs, mdm.Config{
		Roots:      []*x509.Certificate{h.idCA.Cert},
		Prechecker: rs,
		Observer:   rs,
		Now:        h.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.mux.Handle("/race/", srv)
	for _, d := range []*portalDevice{a, b} {
		d.checkInURL = h.srv.URL + "/race/checkin"
	}

	var wg sync.WaitGroup
	status := make([]int, 2)
	for i, d := range []*portalDevice{a, b} {
		wg.Go(func() { status[i] = d.checkin(t, "Authenticate", nil) })
	}
	wg.Wait()
	winner, loser, winInv, loseInv := a, b, invA, invB
	switch {
	case status[0] == http.StatusOK && status[1] == http.StatusForbidden:
	case status[1] == http.StatusOK && status[0] == http.StatusForbidden:
		winner, loser, winInv, loseInv = b, a, invB, invA
	default:
		t.Fatalf("racing Authenticates answered %v, want one 200 and one 403", status)
	}

	rec, err := rs.Store.Enrollment(ctx, "UE-RACE")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Certificate != mdm.FingerprintOf(winner.id.Cert.Raw) {
		t.Error("mdm's record for the device is bound to the losing enrollment's certificate")
	}
	if _, err := rs.Store.EnrollmentByCertificate(ctx, mdm.FingerprintOf(loser.id.Cert.Raw)); err == nil {
		t.Error("the losing certificate is bound in mdm")
	}
	h.wantState(t, loseInv.EnrollmentID, enroll.StateProfileIssued)
	winner.wantCheckin(t, "TokenUpdate", map[string]any{"Token": []byte{1, 2}, "PushMagic": "magic"}, http.StatusOK)
	h.wantState(t, winInv.EnrollmentID, enroll.StateEnrolled)
	loser.wantCheckin(t, "TokenUpdate", map[string]any{"Token": []byte{6, 6}, "PushMagic": "magic"}, http.StatusForbidden)
}

// failingPut is an mdm store whose next PutEnrollment fails, as a database
// that went away for a moment would.
type failingPut struct {
	mdm.Store
	fail atomic.Bool
}

var errMDMStoreDown = errors.New("test mdm store is down")

func (s *failingPut) PutEnrollment(ctx context.Context, rec *mdm.EnrollmentRecord) error {
	if s.fail.CompareAndSwap(true, false) {
		return errMDMStoreDown
	}
	return s.Store.PutEnrollment(ctx, rec)
}

// TestAuthenticateAfterMDMStoreFailed: Precheck recorded the check-in, then
// the MDM server failed to store its record (500). The device's repeated
// Authenticate is approved again, as mdm.Prechecker requires, and the
// device finishes enrolling.
func TestAuthenticateAfterMDMStoreFailed(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, harnessOptions{})
	inv, d, _ := portalProfileInstalled(t, h, "UE-RETRY")
	ms := &failingPut{Store: memory.NewMDMStore()}
	srv, err := mdm.NewService(ms, mdm.Config{
		Roots:      []*x509.Certificate{h.idCA.Cert},
		Prechecker: h.svc,
		Observer:   h.svc,
		Now:        h.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.mux.Handle("/retry/", srv)
	d.checkInURL = h.srv.URL + "/retry/checkin"

	ms.fail.Store(true)
	d.wantCheckin(t, "Authenticate", nil, http.StatusInternalServerError)
	if _, err := ms.Enrollment(ctx, "UE-RETRY"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("mdm record after the failed write: %v", err)
	}
	h.wantState(t, inv.EnrollmentID, enroll.StateCheckedIn)
	d.wantCheckin(t, "Authenticate", nil, http.StatusOK)
	d.wantCheckin(t, "TokenUpdate", map[string]any{"Token": []byte{1, 2}, "PushMagic": "magic"}, http.StatusOK)
	h.wantState(t, inv.EnrollmentID, enroll.StateEnrolled)
}

// TestMDMRefusesServiceWithoutPrecheck: the Service as an mdm Observer
// without its Precheck would ignore every device (only Precheck records
// the check-in), so mdm refuses that wiring at construction; with the
// Service among the Prechecks it is accepted.
func TestMDMRefusesServiceWithoutPrecheck(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	roots := []*x509.Certificate{h.idCA.Cert}
	host := mdm.PrecheckFunc(func(context.Context, *mdm.Request) error { return nil })
	for _, tt := range []struct {
		name string
		pre  mdm.Prechecker
		ok   bool
	}{
		{"nil", nil, false},
		{"named none", mdm.NoPrechecker, false},
		{"host's only", host, false},
		{"service", h.svc, true},
		{"host's, then the service", mdm.Prechecks{host, h.svc}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mdm.NewService(memory.NewMDMStore(), mdm.Config{Roots: roots, Prechecker: tt.pre, Observer: h.svc})
			if (err == nil) != tt.ok {
				t.Fatalf("NewService: %v, want ok %v", err, tt.ok)
			}
		})
	}
}
