package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
)

// TestServeSweeps runs the server as main does over a database holding an
// invitation that nobody opened and that expired while the server was
// down: the server's sweep expires it without any request touching it.
func TestServeSweeps(t *testing.T) {
	data := t.TempDir()
	cfg, _, err := parseFlags([]string{"-data", data}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	st, err := newStack(t.Context(), cfg, io.Discard, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	stale := &enroll.Enrollment{ID: "0123456789abcdef0123456789abcdef", State: enroll.StateInvited, UserID: "dave",
		InvitationHash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		CreatedAt:      now.Add(-100 * time.Hour), UpdatedAt: now.Add(-100 * time.Hour), ExpiresAt: now.Add(-28 * time.Hour)}
	if err := st.stores.enroll.Create(t.Context(), stale); err != nil {
		t.Fatal(err)
	}

	_, _, stderr, stop := runServer(t, data)
	state := enroll.StateInvited
	for deadline := time.Now().Add(30 * time.Second); state != enroll.StateExpired && time.Now().Before(deadline); {
		e, err := st.stores.enroll.Get(t.Context(), stale.ID)
		if err != nil {
			t.Fatal(err)
		}
		if state = e.State; state != enroll.StateExpired {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if state != enroll.StateExpired {
		t.Fatalf("the stale invitation is %s after the server started, want expired by its sweep:\n%s", state, stderr.String())
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
}
