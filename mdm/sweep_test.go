package mdm_test

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/internal/testenv"
	"github.com/enrollkit/enrollkit/mdm"
)

func newClock() *testenv.Clock { return testenv.NewClock(time.Now().Truncate(time.Microsecond)) }

// pushes returns how many pushes h's Pusher sent so far.
func (h *harness) pushes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.pushed)
}

// queue enqueues the ProfileList command uuid, expiring at expires unless
// it is zero, for ids.
func queue(t *testing.T, h *harness, uuid string, expires time.Time, ids ...mdm.EnrollmentID) error {
	t.Helper()
	cmd, err := mdm.NewCommand(uuid, map[string]any{"RequestType": "ProfileList"})
	if err != nil {
		t.Fatal(err)
	}
	cmd.ExpiresAt = expires
	_, err = h.svc.Enqueue(context.Background(), cmd, ids...)
	return err
}

func sweep(t *testing.T, h *harness) mdm.SweepResult {
	t.Helper()
	res, err := h.svc.Sweep(context.Background())
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	return res
}

// TestSweepRepush: a command whose response was lost is pushed again when
// its lease ends, then with a doubling back-off while the device stays
// silent; a device that asks again gets the command again, and its answer
// ends the re-pushes.
func TestSweepRepush(t *testing.T) {
	clk := newClock()
	h := newHarness(t, func(o *mdm.Config) { o.Now = clk.Now })
	d := ueDevice(t, h, "UE-LOST", 1)
	h.enroll(d)
	if err := queue(t, h, "lost-1", time.Time{}, "UE-LOST"); err != nil {
		t.Fatal(err)
	}
	d.wantPoll(t, h.svc, mdm.StatusIdle, "", "lost-1") // the response never reaches the server
	base := h.pushes()

	steps := []struct {
		advance time.Duration
		repush  bool
	}{
		{30 * time.Second, false}, // the lease runs
		{30 * time.Second, true},  // the lease ended: re-push at once
		{0, false},                // not twice
		{59 * time.Second, false}, // the first wait is a minute
		{time.Second, true},
		{119 * time.Second, false}, // then two minutes
		{time.Second, true},
		{4 * time.Minute, true}, // then four
		{7 * time.Minute, false},
		{time.Minute, true}, // then eight
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		before := h.pushes()
		res := sweep(t, h)
		if got := res.Repushed == 1 && h.pushes() == before+1; got != s.repush {
			t.Fatalf("step %d (+%v): Sweep = %+v, %d pushes; want a re-push: %v", i, s.advance, res, h.pushes()-before, s.repush)
		}
	}
	h.mu.Lock()
	last := h.pushed[len(h.pushed)-1]
	h.mu.Unlock()
	if last.EnrollmentID != "UE-LOST" || string(last.Token) != "\xde\xad\xbe\xef" {
		t.Fatalf("re-push went to %+v", last)
	}
	if got := h.pushes() - base; got != 5 {
		t.Fatalf("%d re-pushes, want 5", got)
	}
	// Woken, the device asks again and gets the command again; its answer
	// ends the re-pushes.
	d.wantPoll(t, h.svc, mdm.StatusIdle, "", "lost-1")
	d.wantPoll(t, h.svc, mdm.StatusAcknowledged, "lost-1", "")
	clk.Advance(24 * time.Hour)
	if res := sweep(t, h); res.Repushed != 0 {
		t.Fatalf("Sweep after the answer = %+v", res)
	}
}

// TestSweepWithoutPusher: without a Pusher nothing is claimed, so a Pusher
// configured later (another replica) still re-pushes.
func TestSweepWithoutPusher(t *testing.T) {
	clk := newClock()
	h := newHarness(t, func(o *mdm.Config) { o.Now = clk.Now })
	d := ueDevice(t, h, "UE-NOPUSH", 1)
	h.enroll(d)
	if err := queue(t, h, "c", time.Time{}, "UE-NOPUSH"); err != nil {
		t.Fatal(err)
	}
	d.wantPoll(t, h.svc, mdm.StatusIdle, "", "c")
	clk.Advance(2 * time.Minute)
	quiet, err := mdm.NewService(h.store, mdm.Config{Roots: []*x509.Certificate{h.ca.cert}, Prechecker: mdm.NoPrechecker, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := quiet.Sweep(context.Background()); err != nil || res.Repushed != 0 {
		t.Fatalf("Sweep without a Pusher = %+v, %v", res, err)
	}
	if res := sweep(t, h); res.Repushed != 1 {
		t.Fatalf("Sweep with a Pusher afterwards = %+v, want a re-push", res)
	}
}

// TestCommandExpiry: a command is not delivered from its ExpiresAt on; the
// next Sweep records StatusExpired as its result, which the host reads; a
// command that expired already is refused at Enqueue.
func TestCommandExpiry(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	h := newHarness(t, func(o *mdm.Config) { o.Now = clk.Now })
	d := ueDevice(t, h, "UE-EXP", 1)
	h.enroll(d)

	if err := queue(t, h, "stale", clk.Now(), "UE-EXP"); !errors.Is(err, mdm.ErrMalformed) {
		t.Fatalf("Enqueue of an expired command = %v, want ErrMalformed", err)
	}
	if err := queue(t, h, "exp-1", clk.Now().Add(time.Hour), "UE-EXP"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	d.wantPoll(t, h.svc, mdm.StatusIdle, "", "") // never delivered after its expiry
	if _, err := h.svc.Result(ctx, "UE-EXP", "exp-1"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("Result before the sweep = %v", err)
	}
	clk.Advance(time.Second)
	if res := sweep(t, h); res.Expired != 1 {
		t.Fatalf("Sweep = %+v, want one expired", res)
	}
	r, err := h.svc.Result(ctx, "UE-EXP", "exp-1")
	if err != nil || r.Status != mdm.StatusExpired || !r.Status.Final() || !r.ReceivedAt.Equal(clk.Now()) {
		t.Fatalf("Result after the sweep = %+v, %v; want StatusExpired at %v", r, err, clk.Now())
	}
	// A device cannot claim the status.
	w := d.command(t, h.svc, d.status(mdm.StatusExpired, "exp-1"))
	if w.Code != 400 {
		t.Fatalf("a device sending Status Expired: %d, want 400", w.Code)
	}
}

// TestSweepRetention: results are deleted after Retention.Results and
// checked-out records after Retention.CheckedOut (defaults 30 and 90 days);
// pending commands and live records stay.
func TestSweepRetention(t *testing.T) {
	ctx := context.Background()
	day := 24 * time.Hour
	clk := newClock()
	h := newHarness(t, func(o *mdm.Config) { o.Now = clk.Now })
	live, gone := ueDevice(t, h, "UE-LIVE", 1), ueDevice(t, h, "UE-GONE", 2)
	h.enroll(live)
	h.enroll(gone)
	for _, u := range []string{"done", "pending"} {
		if err := queue(t, h, u, time.Time{}, "UE-LIVE"); err != nil {
			t.Fatal(err)
		}
	}
	live.wantPoll(t, h.svc, mdm.StatusIdle, "", "done")
	live.wantPoll(t, h.svc, mdm.StatusAcknowledged, "done", "pending")
	live.wantPoll(t, h.svc, mdm.StatusNotNow, "pending", "")
	if w := gone.checkin(t, h.svc, gone.checkOut()); w.Code != 200 {
		t.Fatalf("CheckOut: %d", w.Code)
	}

	clk.Advance(30*day - time.Second)
	if res := sweep(t, h); res.Pruned != 0 {
		t.Fatalf("Sweep before 30 days = %+v", res)
	}
	clk.Advance(2 * time.Second)
	if res := sweep(t, h); res.Pruned != 1 {
		t.Fatalf("Sweep after 30 days = %+v, want the result pruned", res)
	}
	if _, err := h.svc.Result(ctx, "UE-LIVE", "done"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("result after 30 days: %v", err)
	}
	if r, err := h.svc.Result(ctx, "UE-LIVE", "pending"); err != nil || r.Status != mdm.StatusNotNow {
		t.Fatalf("NotNow result of a pending command: %+v, %v", r, err)
	}
	clk.Advance(60 * day)
	if res := sweep(t, h); res.Pruned != 1 {
		t.Fatalf("Sweep after 90 days = %+v, want the checked-out record pruned", res)
	}
	if _, err := h.svc.Enrollment(ctx, "UE-GONE"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("checked-out record after 90 days: %v", err)
	}
	if _, err := h.svc.Enrollment(ctx, "UE-LIVE"); err != nil {
		t.Fatalf("live record: %v", err)
	}
	if c, err := h.store.NextCommand(ctx, "UE-LIVE", clk.Now(), time.Minute); err == nil {
		t.Fatalf("NotNow command delivered without a reset: %s", c.UUID)
	}
	if err := h.store.ResetNotNow(ctx, []mdm.EnrollmentID{"UE-LIVE"}); err != nil {
		t.Fatal(err)
	}
	if c, err := h.store.NextCommand(ctx, "UE-LIVE", clk.Now(), time.Minute); err != nil || c.UUID != "pending" {
		t.Fatalf("pending command after 90 days: %v, %v", c, err)
	}
}

func TestRepushWait(t *testing.T) {
	tests := []struct {
		cfg  mdm.RepushConfig
		n    int
		want time.Duration
	}{
		{mdm.RepushConfig{}, 1, time.Minute},
		{mdm.RepushConfig{}, 2, 2 * time.Minute},
		{mdm.RepushConfig{}, 6, 32 * time.Minute},
		{mdm.RepushConfig{}, 7, time.Hour},
		{mdm.RepushConfig{}, 1000, time.Hour},
		{mdm.RepushConfig{Delay: 10 * time.Second, MaxDelay: 25 * time.Second}, 2, 20 * time.Second},
		{mdm.RepushConfig{Delay: 10 * time.Second, MaxDelay: 25 * time.Second}, 3, 25 * time.Second},
	}
	for _, tt := range tests {
		if got := tt.cfg.Wait(tt.n); got != tt.want {
			t.Errorf("%+v.Wait(%d) = %v, want %v", tt.cfg, tt.n, got, tt.want)
		}
	}
}
