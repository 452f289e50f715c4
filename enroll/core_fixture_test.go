package enroll_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/passcode"
	"github.com/enrollkit/enrollkit/profile"
	"github.com/enrollkit/enrollkit/store/memory"
)

// coreStart is the fixed start of every fixture clock.
var coreStart = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

// testClock is a settable clock, shared by a Service and its test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// coreUsers is the fixture's corporate directory: username → user,
// password "correct horse", Managed Apple Account <id>@appleid.example.com.
var coreUsers = map[string]enroll.User{
	"alice": {ID: "u-alice", Name: "Alice", Email: "alice@example.com"},
	"bob":   {ID: "u-bob", Name: "Bob", Email: "bob@example.com"},
}

const corePassword = "correct horse"

type coreDirectory struct{}

func (coreDirectory) ManagedAppleID(_ context.Context, userID string) (string, error) {
	for name, u := range coreUsers {
		if u.ID == userID {
			return name + "@appleid.example.com", nil
		}
	}
	return "", enroll.ErrUnknownUser
}

func (coreDirectory) UserID(_ context.Context, maid string) (string, error) {
	name, ok := strings.CutSuffix(strings.ToLower(maid), "@appleid.example.com")
	if u, found := coreUsers[name]; ok && found {
		return u.ID, nil
	}
	return "", enroll.ErrUnknownUser
}

func coreAuthenticate(_ context.Context, username, password string) (enroll.User, error) {
	u, ok := coreUsers[username]
	if !ok || password != corePassword {
		return enroll.User{}, enroll.ErrBadCredentials
	}
	return u, nil
}

// coreSigner is a profile signer with a self-signed ECDSA certificate,
// made once per test binary.
var coreSigner = sync.OnceValues(func() (*profile.Signer, *x509.Certificate) {
	c, err := enroll.NewCert("Example Corp profile signing", nil, false, coreStart.Add(-time.Hour), coreStart.Add(10*365*24*time.Hour))
	if err != nil {
		panic(err)
	}
	s, err := profile.NewSigner(c.Key, []*x509.Certificate{c.Cert})
	if err != nil {
		panic(err)
	}
	return s, c.Cert
})

// coreDeviceCert returns a fresh DER certificate, standing in for an
// identity certificate a SCEP server issued.
func coreDeviceCert(t testing.TB, cn string) []byte {
	t.Helper()
	c, err := enroll.NewCert(cn, nil, false, coreStart.Add(-time.Hour), coreStart.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return c.Cert.Raw
}

// coreTerms are the fixture's terms of use.
var coreTerms = enroll.Terms{Version: "2026-05", Text: "Example Corp manages work data only."}

// coreFixture is a Service on a memory store with a settable clock and a
// notifier that keeps the invitations it was given.
type coreFixture struct {
	svc   *enroll.Service
	store *memory.EnrollStore
	clock *testClock
	cfg   enroll.Config

	mu   sync.Mutex
	sent []*enroll.Invitation
}

// coreConfig returns a complete Config for tests (without Now and
// Notifier, which newCoreFixture sets).
func coreConfig() enroll.Config {
	signer, _ := coreSigner()
	return enroll.Config{
		Authenticator:  enroll.AuthenticatorFunc(coreAuthenticate),
		Directory:      coreDirectory{},
		PortalURL:      "https://portal.example.com/enroll",
		Terms:          coreTerms,
		PasscodeParams: passcode.Params{Memory: 64, Iterations: 1},
		Profile: enroll.ProfileConfig{
			ServerURL:    "https://mdm.example.com/mdm",
			CheckInURL:   "https://mdm.example.com/checkin",
			Topic:        "com.apple.mgmt.External.0f3a9c52-1b7e-4d1e-9c55-2a1b3c4d5e6f",
			Organization: "Example Corp",
		},
		Signer: signer,
		SCEP:   enroll.SCEPConfig{URL: "https://mdm.example.com/scep"},
	}
}

func newCoreFixture(t testing.TB, edit ...func(*enroll.Config)) *coreFixture {
	t.Helper()
	f := &coreFixture{store: memory.NewEnrollStore(), clock: &testClock{t: coreStart}}
	cfg := coreConfig()
	cfg.Now = f.clock.Now
	cfg.Notifier = enroll.NotifierFunc(func(_ context.Context, inv *enroll.Invitation) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.sent = append(f.sent, inv)
		return nil
	})
	for _, fn := range edit {
		fn(&cfg)
	}
	svc, err := enroll.New(f.store, cfg)
	if err != nil {
		t.Fatalf("enroll.New: %v", err)
	}
	f.svc, f.cfg = svc, cfg
	return f
}

var coreMeta = enroll.Meta{ClientIP: "198.51.100.7", UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)"}

// invite invites the user with the given username.
func (f *coreFixture) invite(t testing.TB, username string) *enroll.Invitation {
	t.Helper()
	inv, err := f.svc.CreateInvitation(context.Background(), enroll.Meta{Actor: "admin"}, coreUsers[username])
	if err != nil {
		t.Fatalf("CreateInvitation: %v", err)
	}
	return inv
}

// toConsented walks an invitation through sign-in, passcode, info and terms.
func (f *coreFixture) toConsented(t testing.TB, inv *enroll.Invitation, username string, o enroll.Ownership) *enroll.Enrollment {
	t.Helper()
	ctx := context.Background()
	id := inv.EnrollmentID
	if _, err := f.svc.Authenticate(ctx, coreMeta, id, username, corePassword, o); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if _, err := f.svc.SubmitPasscode(ctx, coreMeta, id, inv.Passcode); err != nil {
		t.Fatalf("SubmitPasscode: %v", err)
	}
	if _, err := f.svc.AcknowledgeInfo(ctx, coreMeta, id); err != nil {
		t.Fatalf("AcknowledgeInfo: %v", err)
	}
	e, err := f.svc.AcceptTerms(ctx, coreMeta, id, enroll.Consent{Version: coreTerms.Version, Digest: coreTerms.Digest()})
	if err != nil {
		t.Fatalf("AcceptTerms: %v", err)
	}
	return e
}

// parseProfile verifies a served profile's signature and returns it.
func coreParseProfile(t testing.TB, data []byte) *profile.Profile {
	t.Helper()
	_, cert := coreSigner()
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	p, err := profile.Parse(data, profile.ParseOptions{Roots: roots, RequireSignature: true, CurrentTime: coreStart})
	if err != nil {
		t.Fatalf("profile.Parse: %v", err)
	}
	return p.Profile
}

// coreSCEP returns the SCEP payload of a profile.
func coreSCEP(t testing.TB, p *profile.Profile) *profile.SCEP {
	t.Helper()
	for _, pl := range p.Payloads {
		if s, ok := pl.(*profile.SCEP); ok {
			return s
		}
	}
	t.Fatal("profile has no SCEP payload")
	return nil
}

// lastAudit returns the newest audit event of enrollment id.
func lastAudit(t testing.TB, svc *enroll.Service, id string) enroll.AuditEvent {
	t.Helper()
	trail, err := svc.Audit(context.Background(), id)
	if err != nil || len(trail) == 0 {
		t.Fatalf("audit trail of %s: %v, %d events", id, err, len(trail))
	}
	return trail[len(trail)-1]
}

// wantErr fails unless errors.Is(err, target).
func coreWantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}
