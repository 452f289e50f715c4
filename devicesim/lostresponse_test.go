package devicesim_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enrollkittest"
	"github.com/enrollkit/enrollkit/internal/testenv"
	"github.com/enrollkit/enrollkit/mdm"
)

// TestRealServerLostResponse: an enrolled simulated iPhone carries out a
// command whose response is lost in transit. Once the command's lease
// ends, the server's Sweep pushes the device again; the device asks, gets
// the command once more, and its answer is stored. Time is the MDM
// service's injected clock.
func TestRealServerLostResponse(t *testing.T) {
	ctx := testContext(t)
	clk := testenv.NewClock(time.Now())
	srv := enrollkittest.NewServer(t, enrollkittest.Options{Now: clk.Now})
	d, _ := enrollProfileBased(t, ctx, srv)
	// The declarative management sync queued at enrollment is answered
	// first, so that only this test's command is outstanding.
	if _, err := d.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	enr, _ := d.Enrollment()
	id := mdm.EnrollmentID(enr.EnrollmentID)
	target, _ := d.PushTarget()
	before := 0
	pushesTo := func() int { // pushes to the device since the sync
		n := -before
		for _, p := range srv.Push.Pushes() {
			if bytes.Equal(p.Token, target.Token) {
				n++
			}
		}
		return n
	}
	before = pushesTo()

	cmd, err := mdm.NewCommand("C-LOST-1", map[string]any{"RequestType": "ProfileList"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.MDM.Enqueue(ctx, cmd, id); err != nil {
		t.Fatal(err)
	}
	if got := pushesTo(); got != 1 {
		t.Fatalf("%d pushes after Enqueue, want 1", got)
	}
	d.LoseResponses(1)
	if n, err := d.Poll(ctx); err != nil || n != 1 {
		t.Fatalf("Poll = %d, %v; want the command carried out", n, err)
	}
	if _, err := srv.MDM.Result(ctx, id, "C-LOST-1"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("Result after the lost response = %v, want ErrNotFound", err)
	}

	clk.Advance(30 * time.Second)
	if res, err := srv.MDM.Sweep(ctx); err != nil || res.Repushed != 0 || pushesTo() != 1 {
		t.Fatalf("Sweep during the lease = %+v, %v, %d pushes; want no re-push", res, err, pushesTo())
	}
	clk.Advance(31 * time.Second)
	if res, err := srv.MDM.Sweep(ctx); err != nil || res.Repushed != 1 || pushesTo() != 2 {
		t.Fatalf("Sweep after the lease = %+v, %v, %d pushes; want the device pushed again", res, err, pushesTo())
	}
	// Woken by the re-push, the device asks and answers this time.
	if n, err := d.Poll(ctx); err != nil || n != 1 {
		t.Fatalf("Poll after the re-push = %d, %v; want the command again", n, err)
	}
	r, err := srv.MDM.Result(ctx, id, "C-LOST-1")
	if err != nil || r.Status != mdm.StatusAcknowledged {
		t.Fatalf("Result after the re-push = %+v, %v; want Acknowledged", r, err)
	}
	var runs int
	for _, c := range d.Commands() {
		if c.CommandUUID == "C-LOST-1" {
			runs++
		}
	}
	if runs != 2 {
		t.Fatalf("the device carried the command out %d times, want 2 (lost, then redelivered)", runs)
	}
	clk.Advance(time.Hour)
	if res, err := srv.MDM.Sweep(ctx); err != nil || res.Repushed != 0 || pushesTo() != 2 {
		t.Fatalf("Sweep after the answer = %+v, %v; want no re-push", res, err)
	}
}
