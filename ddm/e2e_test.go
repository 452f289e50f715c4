package ddm_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enrollkittest"
	"github.com/enrollkit/enrollkit/mdm"
)

// The declarations of the walk-through: passcode settings and a mail
// account for every BYOD device, and a software update enforcement,
// which User Enrollment does not allow.
var (
	passcode = &ddm.Declaration{Identifier: "passcode", Type: "com.apple.configuration.passcode.settings",
		Payload: json.RawMessage(`{"MinimumLength": 6, "RequireAlphanumericPasscode": false}`)}
	mailIdentity = &ddm.Declaration{Identifier: "mail-identity", Type: "com.apple.asset.useridentity",
		Payload: json.RawMessage(`{"FullName": "Alice Example", "EmailAddress": "alice@example.com"}`)}
	mail = &ddm.Declaration{Identifier: "mail", Type: "com.apple.configuration.account.mail",
		Payload: json.RawMessage(`{"VisibleName": "Work", "UserIdentityAssetReference": "mail-identity",
			"IncomingServer": {"ServerType": "IMAP", "HostName": "imap.example.com", "Port": 993, "AuthenticationMethod": "Password",
				"AuthenticationCredentialsAssetReference": "mail-password"},
			"OutgoingServer": {"HostName": "smtp.example.com", "Port": 587, "AuthenticationMethod": "Password"}}`)}
	byod = &ddm.Declaration{Identifier: "byod", Type: "com.apple.activation.simple",
		Payload: json.RawMessage(`{"StandardConfigurations": ["passcode", "mail"]}`)}
	update = &ddm.Declaration{Identifier: "update", Type: "com.apple.configuration.softwareupdate.enforcement.specific",
		Payload: json.RawMessage(`{"TargetOSVersion": "17.6", "TargetLocalDateTime": "2026-12-31T10:00:00"}`)}
	updateActivation = &ddm.Declaration{Identifier: "update-activation", Type: "com.apple.activation.simple",
		Payload: json.RawMessage(`{"StandardConfigurations": ["update"]}`)}
)

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEndToEnd(t *testing.T) {
	for _, flow := range []string{"profile-based", "account-driven"} {
		t.Run(flow, func(t *testing.T) { testEndToEnd(t, flow) })
	}
}

func testEndToEnd(t *testing.T, flow string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The mail password is an asset whose data the device downloads with
	// its MDM identity.
	secret := []byte(`{"UserName":"alice","Password":"mail secret"}`)
	var (
		askedMu sync.Mutex
		asked   []mdm.EnrollmentID // the enrollments the source was asked for
	)
	srv := enrollkittest.NewServer(t, enrollkittest.Options{Logger: testLogger(t),
		Assets: ddm.AssetSourceFunc(func(_ context.Context, enrollment mdm.EnrollmentID, id string) ([]byte, string, error) {
			askedMu.Lock()
			asked = append(asked, enrollment)
			askedMu.Unlock()
			if id != "mail-password" {
				return nil, "", ddm.ErrNotFound
			}
			return secret, "application/json", nil
		})})
	mailPassword := &ddm.Declaration{Identifier: "mail-password", Type: "com.apple.asset.credential.userpassword",
		Payload: json.RawMessage(`{"Reference": {"DataURL": "` + srv.AssetURL("mail-password") + `", "ContentType": "application/json"}}`)}
	inv := srv.Invite(t, enrollkittest.DemoUser)
	phone := srv.NewDevice(t)
	var err error
	if flow == "profile-based" {
		err = phone.EnrollWithInvitation(ctx, inv.URL, enrollkittest.DemoCredentials(inv))
	} else {
		err = phone.EnrollWithAccount(ctx, enrollkittest.DemoManagedAppleID, srv.URL, enrollkittest.DemoCredentials(inv))
	}
	if err != nil {
		t.Fatal(err)
	}
	enr, _ := phone.Enrollment()
	id := mdm.EnrollmentID(enr.EnrollmentID)
	done := make(chan error, 1)
	go func() { done <- phone.Run(ctx) }() // woken by the push sent at TokenUpdate
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("device: %v", err)
		}
	}()

	// Enrolling turned declarative management on: the device synced the
	// default status subscription and reported its OS release.
	eventually(t, "the first sync and status report", func() bool {
		st, err := srv.DDM.Status(ctx, id)
		return err == nil && string(st.Items["device.operating-system.version"]) == `"17.5.1"`
	})
	if got := phone.Declarations()[ddm.DefaultSubscriptionsIdentifier]; !got.Active || got.Valid != "valid" {
		t.Fatalf("default subscription on the device: %+v", got)
	}

	for _, d := range []*ddm.Declaration{passcode, mailIdentity, mailPassword, mail, byod, update, updateActivation} {
		if err := srv.DDM.PutDeclaration(ctx, d); err != nil {
			t.Fatalf("PutDeclaration(%s): %v", d.Identifier, err)
		}
	}
	if err := srv.DDM.PutSet(ctx, "all BYOD", []string{"byod", "update-activation"}); err != nil {
		t.Fatal(err)
	}
	// Before assigning, the host sees what would be withheld and why.
	preview, err := srv.DDM.Preview(ctx, ddm.Assignment{Enrollment: id, Sets: []string{"all BYOD"}})
	if err != nil {
		t.Fatal(err)
	}
	wantWithheld := []ddm.Withheld{
		{Identifier: "update", Type: update.Type, Reason: ddm.ReasonEnrollmentType},
		{Identifier: "update-activation", Type: updateActivation.Type, Reason: ddm.ReasonDependency},
	}
	checkWithheld(t, preview.Withheld, wantWithheld)
	_, syncsBefore := phone.DeclarationsToken()
	if err := srv.DDM.Assign(ctx, ddm.Assignment{Enrollment: id, Sets: []string{"all BYOD"}}); err != nil {
		t.Fatal(err)
	}
	// The assignment queued DeclarativeManagement and pushed; the device
	// synced, applied and reported.
	eventually(t, "the device to apply the assignment", func() bool {
		return phone.Declarations()["mail"].Active && phone.Declarations()["passcode"].Active
	})
	held := phone.Declarations()
	for _, never := range []string{"update", "update-activation"} {
		if _, ok := held[never]; ok {
			t.Fatalf("withheld declaration %s reached the device", never)
		}
	}
	if a := held["mail-identity"]; !a.Active || a.Valid != "valid" {
		t.Fatalf("the mail account's asset: %+v", a)
	}
	if a := held["mail-password"]; !a.Active || a.Valid != "valid" || string(a.Data) != string(secret) {
		t.Fatalf("the mail password asset: %+v", a)
	}
	askedMu.Lock()
	if len(asked) == 0 || asked[0] != id {
		t.Fatalf("the asset source was asked for %v, want %s", asked, id)
	}
	askedMu.Unlock()
	checkAssetURL(t, srv, srv.AssetURL("mail-password"), phone)

	sync, err := srv.DDM.Sync(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	checkWithheld(t, sync.Withheld, wantWithheld)
	if tok, n := phone.DeclarationsToken(); tok != sync.DeclarationsToken || n <= syncsBefore {
		t.Fatalf("device token %q after %d syncs, server %q", tok, n, sync.DeclarationsToken)
	}
	eventually(t, "the status of the assigned declarations", func() bool {
		st, err := srv.DDM.Status(ctx, id)
		return err == nil && st.Declarations["mail"].Active && st.Declarations["passcode"].Valid == "valid" &&
			st.Declarations["passcode"].ServerToken == passcode.ServerToken()
	})

	// A change is pushed, and the device syncs the new tokens.
	changed := *passcode
	changed.Payload = json.RawMessage(`{"MinimumLength": 8}`)
	tokBefore, n := phone.DeclarationsToken()
	if err := srv.DDM.PutDeclaration(ctx, &changed); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the re-sync after a change", func() bool {
		return phone.Declarations()["passcode"].ServerToken == changed.ServerToken()
	})
	if tok, m := phone.DeclarationsToken(); tok == tokBefore || m <= n {
		t.Fatalf("after a change: token %q (was %q), %d syncs (were %d)", tok, tokBefore, m, n)
	}
	eventually(t, "the status of the changed declaration", func() bool {
		st, err := srv.DDM.Status(ctx, id)
		return err == nil && st.Declarations["passcode"].ServerToken == changed.ServerToken()
	})
	var dm int
	for _, c := range phone.Commands() {
		if c.RequestType == "DeclarativeManagement" {
			if c.Status != "Acknowledged" {
				t.Fatalf("DeclarativeManagement answered %s", c.Status)
			}
			dm++
		}
	}
	if dm < 3 {
		t.Fatalf("%d DeclarativeManagement commands (enrollment, assignment, change), want 3 or more", dm)
	}
}

func checkWithheld(t *testing.T, got, want []ddm.Withheld) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("withheld = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Identifier != want[i].Identifier || got[i].Reason != want[i].Reason || got[i].Type != want[i].Type || got[i].Detail == "" {
			t.Fatalf("withheld[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// testLogger logs to t until t's cleanups have run: a connection the
// server closed may log from its own goroutine after the test ended, which
// t.Log would turn into a panic.
func testLogger(t *testing.T) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p))
	}
	return len(p), nil
}

// checkAssetURL checks who may download asset data: the device it is
// served to, with its MDM identity, and nobody else.
func checkAssetURL(t *testing.T, srv *enrollkittest.Server, u string, phone *devicesim.Device) {
	t.Helper()
	get := func(method string, signer *devicesim.Device) int {
		req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if signer != nil {
			enr, _ := signer.Enrollment()
			sig, err := devicesim.MdmSignature(nil, enr.Certificate, enr.Key, devicesim.SignatureOptions{})
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Mdm-Signature", sig)
			if enr.AccessToken != "" {
				req.Header.Set("Authorization", "Bearer "+enr.AccessToken)
			}
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("GET", phone); code != http.StatusOK {
		t.Fatalf("the device's own asset: %d", code)
	}
	if code := get("GET", nil); code != http.StatusUnauthorized {
		t.Fatalf("unsigned: %d, want 401", code)
	}
	if code := get("POST", phone); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d, want 405", code)
	}
	other := srv.NewDevice(t)
	inv := srv.Invite(t, enrollkittest.DemoUser)
	if err := other.EnrollWithInvitation(t.Context(), inv.URL, enrollkittest.DemoCredentials(inv)); err != nil {
		t.Fatal(err)
	}
	if code := get("GET", other); code != http.StatusNotFound {
		t.Fatalf("another enrollment's device: %d, want 404", code)
	}
}
