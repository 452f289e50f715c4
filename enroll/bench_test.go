package enroll_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/passcode"
)

// BenchmarkProfileFlow runs invitation → sign-in → passcode → info → terms
// → download link → signed profile on the memory store. Passcode hashing
// uses cheap argon2id parameters here, so the figure is the flow's own
// cost (state machine, store, profile build and ECDSA signature).
func BenchmarkProfileFlow(b *testing.B) {
	f := newCoreFixture(b)
	f.cfg.Notifier = nil
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		inv := f.invite(b, "alice")
		e := f.toConsented(b, inv, "alice", enroll.OwnershipEmployee)
		link, err := f.svc.IssueDownloadLink(ctx, coreMeta, e.ID)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.svc.DownloadProfile(ctx, coreMeta, link.Token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSubmitPasscodeDefault is one passcode check with the passcode
// package's default argon2id parameters (19 MiB, 2 passes): the cost a
// portal pays per submission.
func BenchmarkSubmitPasscodeDefault(b *testing.B) {
	f := newCoreFixture(b, func(c *enroll.Config) { c.PasscodeParams = passcode.DefaultParams() })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		inv := f.invite(b, "alice")
		if _, err := f.svc.Authenticate(ctx, coreMeta, inv.EnrollmentID, "alice", corePassword, enroll.OwnershipEmployee); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := f.svc.SubmitPasscode(ctx, coreMeta, inv.EnrollmentID, inv.Passcode); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateAgain is signing in again on a consented enrollment
// (a lost portal session): the Authenticator call, the state check and one
// compare-and-swap with its audit event on the memory store. The audit
// trail grows by one event per iteration.
func BenchmarkAuthenticateAgain(b *testing.B) {
	f := newCoreFixture(b)
	ctx := context.Background()
	inv := f.invite(b, "alice")
	f.toConsented(b, inv, "alice", enroll.OwnershipEmployee)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.svc.Authenticate(ctx, coreMeta, inv.EnrollmentID, "alice", corePassword, enroll.OwnershipEmployee); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrecheckEnrolled is the hook's cost on every MDM request of an
// enrolled account-driven device: device look-up and bearer token check.
func BenchmarkPrecheckEnrolled(b *testing.B) {
	f := newCoreFixture(b)
	ctx := context.Background()
	// Some unrelated enrollments in the store.
	for range 100 {
		f.invite(b, "alice")
	}
	inv := f.invite(b, "bob")
	e := f.toConsented(b, inv, "bob", enroll.OwnershipEmployee)
	tok, err := f.svc.IssueAccessToken(ctx, coreMeta, e.ID)
	if err != nil {
		b.Fatal(err)
	}
	dev := coreDevice{f: f, cert: coreDeviceCert(b, "bob"), enrollmentID: "UE-BENCH", bearer: tok.Token}
	if err := dev.checkin(b, "Authenticate"); err != nil {
		b.Fatal(err)
	}
	if err := dev.checkin(b, "TokenUpdate"); err != nil {
		b.Fatal(err)
	}
	hr := httptest.NewRequest(http.MethodPut, "https://mdm.example.com/mdm", nil)
	hr.Header.Set("Authorization", "Bearer "+tok.Token)
	r := &mdm.Request{
		HTTP:        hr,
		Enrollment:  mdm.Channel{ID: "UE-BENCH", Type: mdm.UserEnrollmentDevice},
		Result:      &mdm.CommandResult{Identifiers: mdm.Identifiers{EnrollmentID: "UE-BENCH"}, Status: "Acknowledged"},
		Fingerprint: mdm.FingerprintOf(dev.cert),
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := f.svc.Precheck(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
