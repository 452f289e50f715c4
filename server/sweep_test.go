package server_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/internal/testenv"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/scep"
	"github.com/enrollkit/enrollkit/server"
	"github.com/enrollkit/enrollkit/store/memory"
)

type users struct{}

func (users) ManagedAppleID(context.Context, string) (string, error) {
	return "alice@example.appleaccount.com", nil
}
func (users) UserID(context.Context, string) (string, error) { return "alice", nil }

// TestSweep: one Server.Sweep runs both Services' sweeps: an invitation
// nobody opened expires, and is deleted with its audit trail a year later;
// a command past its expiry gets StatusExpired.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	ca, err := scep.GenerateCA("Test Device CA")
	if err != nil {
		t.Fatal(err)
	}
	clk := testenv.NewClock(time.Now())
	cfg := validConfig(t, ca)
	cfg.Enroll.Directory, cfg.Enroll.Now = users{}, clk.Now
	cfg.Enroll.Notifier = enroll.NotifierFunc(func(context.Context, *enroll.Invitation) error { return nil })
	cfg.MDM.Now = clk.Now
	es, ms := memory.NewEnrollStore(), memory.NewMDMStore()
	srv, err := server.New(es, ms, cfg)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := srv.Enroll.CreateInvitation(ctx, enroll.Meta{Actor: "admin"}, enroll.User{ID: "alice", Name: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ms.PutEnrollment(ctx, &mdm.EnrollmentRecord{ID: "UE-1", Type: mdm.UserEnrollmentDevice, UpdatedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	cmd, _ := mdm.NewCommand("c1", map[string]any{"RequestType": "ProfileList"})
	cmd.ExpiresAt = clk.Now().Add(time.Hour)
	if _, err := srv.MDM.Enqueue(ctx, cmd, "UE-1"); err != nil {
		t.Fatal(err)
	}

	clk.Advance(enroll.DefaultInvitationTTL + time.Second)
	if err := srv.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if e, err := es.Get(ctx, inv.EnrollmentID); err != nil || e.State != enroll.StateExpired {
		t.Fatalf("invitation after the sweep: %+v, %v; want expired", e, err)
	}
	if r, err := srv.MDM.Result(ctx, "UE-1", "c1"); err != nil || r.Status != mdm.StatusExpired {
		t.Fatalf("command after the sweep: %+v, %v; want StatusExpired", r, err)
	}
	clk.Advance(enroll.DefaultAuditRetention + time.Second)
	if err := srv.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := es.Audit(ctx, inv.EnrollmentID); !errors.Is(err, enroll.ErrNotFound) {
		t.Fatalf("audit trail a year after the expiry: %v, want ErrNotFound", err)
	}
	if _, err := srv.MDM.Result(ctx, "UE-1", "c1"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("expired command's result a year later: %v, want ErrNotFound", err)
	}
}

// cancelOnPrune cancels a context when the MDM sweep reaches Prune.
type cancelOnPrune struct {
	*memory.MDMStore
	cancel context.CancelFunc
	calls  int
}

func (s *cancelOnPrune) Prune(ctx context.Context, before mdm.Cutoffs, limit int) (int, error) {
	s.calls++
	s.cancel()
	return s.MDMStore.Prune(ctx, before, limit)
}

// TestRunSweeps: RunSweeps sweeps at once, and returns when its context
// ends.
func TestRunSweeps(t *testing.T) {
	ca, err := scep.GenerateCA("Test Device CA")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ms := &cancelOnPrune{MDMStore: memory.NewMDMStore(), cancel: cancel}
	srv, err := server.New(memory.NewEnrollStore(), ms, validConfig(t, ca))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.RunSweeps(ctx, time.Hour, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("RunSweeps = %v, want context.Canceled", err)
	}
	if ms.calls != 1 {
		t.Fatalf("RunSweeps swept %d times before its context ended, want 1", ms.calls)
	}
}
