package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/internal/testenv"
)

// TestDeclarationsWalkThrough runs the README's walk-through through the
// admin API: passcode settings and a mail account reach the simulated
// iPhone, a software update enforcement is withheld from it, and the
// device's status comes back; on SQLite, and on two replicas sharing
// PostgreSQL behind a round-robin proxy.
func TestDeclarationsWalkThrough(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testDeclarations(t, startServer(t)) })
	t.Run("replicas", func(t *testing.T) {
		dsn := testenv.PostgresDSN(t)
		var b [6]byte
		rand.Read(b[:])
		schema := fmt.Sprintf("portal_ddm_%x", b)
		t.Cleanup(func() { dropSchema(t, dsn, schema) })
		testDeclarations(t, startReplicas(t, 2, "-postgres", dsn, "-postgres-schema", schema))
	})
}

func testDeclarations(t *testing.T, ts *testServer) {
	var inv invitationOut
	if code := ts.admin(t, "POST", "/invitations", map[string]string{"user": "alice"}, &inv); code != http.StatusCreated {
		t.Fatalf("invite: %d", code)
	}
	d := ts.newDevice(t)
	if err := d.EnrollWithInvitation(t.Context(), inv.URL, devicesim.Credentials{Username: "alice", Password: "correct horse", Passcode: inv.Passcode}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()
	defer func() { cancel(); <-runErr }()

	put := func(id, typ, payload string) {
		t.Helper()
		var out declarationJSON
		if code := ts.admin(t, "PUT", "/declarations/"+id, map[string]any{"type": typ, "payload": json.RawMessage(payload)}, &out); code != http.StatusOK || out.ServerToken == "" {
			t.Fatalf("PUT declaration %s: %d %+v", id, code, out)
		}
	}
	put("passcode", "com.apple.configuration.passcode.settings", `{"MinimumLength": 6}`)
	put("mail", "com.apple.configuration.account.mail", `{"VisibleName": "Work",
		"IncomingServer": {"ServerType": "IMAP", "HostName": "imap.example.com", "Port": 993, "AuthenticationMethod": "Password"},
		"OutgoingServer": {"HostName": "smtp.example.com", "Port": 587, "AuthenticationMethod": "Password"}}`)
	put("update", "com.apple.configuration.softwareupdate.enforcement.specific", `{"TargetOSVersion": "17.6"}`)
	put("work", "com.apple.activation.simple", `{"StandardConfigurations": ["passcode", "mail"]}`)
	put("updates", "com.apple.activation.simple", `{"StandardConfigurations": ["update"]}`)
	if code := ts.admin(t, "PUT", "/sets/all-byod", map[string]any{"declarations": []string{"work", "updates"}}, nil); code != http.StatusOK {
		t.Fatalf("PUT set: %d", code)
	}
	// Errors: a dangling reference, an unknown type, a set still in use.
	code, body := ts.adminRaw(t, "PUT", "/declarations/broken", `{"type":"com.apple.activation.simple","payload":{"StandardConfigurations":["nothing"]}}`)
	if code != http.StatusConflict {
		t.Fatalf("dangling reference: %d %s", code, body)
	}
	code, body = ts.adminRaw(t, "PUT", "/declarations/odd", `{"type":"com.apple.configuration.nothing","payload":{}}`)
	if code != http.StatusBadRequest {
		t.Fatalf("unknown type: %d %s", code, body)
	}

	var preview ddm.SyncState
	if code := ts.admin(t, "POST", "/enrollments/"+inv.EnrollmentID+"/declarations/preview", map[string]any{"sets": []string{"all-byod"}}, &preview); code != http.StatusOK {
		t.Fatalf("preview: %d", code)
	}
	var withheld []string
	for _, w := range preview.Withheld {
		withheld = append(withheld, w.Identifier+":"+string(w.Reason))
	}
	if !slices.Equal(withheld, []string{"update:enrollment-type", "updates:dependency"}) {
		t.Fatalf("preview withholds %v", withheld)
	}
	var assigned ddm.SyncState
	if code := ts.admin(t, "PUT", "/enrollments/"+inv.EnrollmentID+"/declarations", map[string]any{"sets": []string{"all-byod"}}, &assigned); code != http.StatusOK || len(assigned.Withheld) != 2 {
		t.Fatalf("assign: %d %+v", code, assigned)
	}
	if code := ts.admin(t, "DELETE", "/sets/all-byod", nil, nil); code != http.StatusConflict {
		t.Fatalf("deleting an assigned set: %d", code)
	}

	var status ddm.Status
	deadline := time.Now().Add(20 * time.Second)
	for {
		code := ts.admin(t, "GET", "/enrollments/"+inv.EnrollmentID+"/declarations/status", nil, &status)
		if code == http.StatusOK && status.Declarations["mail"].Active && status.Declarations["passcode"].Active {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status: %d %+v", code, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if string(status.Items["device.operating-system.version"]) != `"17.5.1"` {
		t.Fatalf("status items: %v", status.Items)
	}
	held := d.Declarations()
	if _, ok := held["update"]; ok {
		t.Fatal("the withheld software update enforcement reached the device")
	}
}
