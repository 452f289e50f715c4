package enroll_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/profile"
)

// Host I/O tests: a step's calls to the host (the Authenticator, the
// IdentityProvider, the profile signer) happen once per request, however
// often the compare-and-swap behind the step is retried, and a step whose
// enrollment moved while the host was called fails with a typed error
// instead of calling the host again.

// conflictStore fails the next Updates with ErrVersionConflict before they
// reach the store, as a store whose other writers keep winning the
// compare-and-swap would.
type conflictStore struct {
	enroll.Store
	conflicts atomic.Int64
}

func (c *conflictStore) Update(ctx context.Context, e *enroll.Enrollment, expected int64, events ...enroll.AuditEvent) error {
	if c.conflicts.Add(-1) >= 0 {
		return enroll.ErrVersionConflict
	}
	return c.Store.Update(ctx, e, expected, events...)
}

// hostCalls counts the calls a Service makes to the host and runs during,
// if set, inside the first call of each kind: another request changing the
// enrollment while the host works.
type hostCalls struct {
	auth, identity, sign atomic.Int64
	duringAuth           func()
	duringIdentity       func()
}

// countingIdentity is an IdentityProvider that counts Identity calls.
type countingIdentity struct {
	*enroll.SCEPChallenges
	calls *hostCalls
}

func (c countingIdentity) Identity(ctx context.Context, e *enroll.Enrollment) (profile.Payload, error) {
	if c.calls.identity.Add(1) == 1 && c.calls.duringIdentity != nil {
		c.calls.duringIdentity()
	}
	return c.SCEPChallenges.Identity(ctx, e)
}

// countingKey is a signing key that counts its signatures: one per
// profile signed.
type countingKey struct {
	crypto.Signer
	calls *hostCalls
}

func (k countingKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	k.calls.sign.Add(1)
	return k.Signer.Sign(r, digest, opts)
}

// hostIOFixture is a core fixture whose Service counts its host calls in
// calls and whose store injects conflicts through cs.
type hostIOFixture struct {
	*coreFixture
	cs     *conflictStore
	calls  *hostCalls
	signer *x509.Certificate // the profile signer's certificate
}

func newHostIOFixture(t *testing.T) *hostIOFixture {
	t.Helper()
	calls := &hostCalls{}
	f := newCoreFixture(t)
	cs := &conflictStore{Store: f.store}
	cert := coreSignerCert(t)
	signer, err := profile.NewSigner(countingKey{Signer: cert.Key, calls: calls}, []*x509.Certificate{cert.Cert})
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.cfg
	cfg.Authenticator = enroll.AuthenticatorFunc(func(ctx context.Context, username, password string) (enroll.User, error) {
		if calls.auth.Add(1) == 1 && calls.duringAuth != nil {
			calls.duringAuth()
		}
		return coreAuthenticate(ctx, username, password)
	})
	cfg.Signer = signer
	sc, err := enroll.NewSCEPChallenges(cs, enroll.SCEPConfig{URL: "https://mdm.example.com/scep", Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg.SCEP, cfg.Identity = enroll.SCEPConfig{}, countingIdentity{SCEPChallenges: sc, calls: calls}
	if f.svc, err = enroll.New(cs, cfg); err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	return &hostIOFixture{coreFixture: f, cs: cs, calls: calls, signer: cert.Cert}
}

// reset forgets the calls counted so far and injects conflicts in front
// of the next writes.
func (h *hostIOFixture) reset(conflicts int64) {
	h.calls.auth.Store(0)
	h.calls.identity.Store(0)
	h.calls.sign.Store(0)
	h.cs.conflicts.Store(conflicts)
}

// coreSignerCert returns a profile signing certificate and key for one
// test.
func coreSignerCert(t *testing.T) *enroll.CertKey {
	t.Helper()
	c, err := enroll.NewCert("Example Corp profile signing", nil, false, coreStart.Add(-time.Hour), coreStart.Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// servedChallengeStored fails unless the challenge in the served profile
// is the one the enrollment stores (as its hash).
func servedChallengeStored(t *testing.T, f *hostIOFixture, p *enroll.SignedProfile) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(f.signer)
	parsed, err := profile.Parse(p.Data, profile.ParseOptions{Roots: roots, RequireSignature: true, CurrentTime: coreStart})
	if err != nil {
		t.Fatalf("served profile: %v", err)
	}
	sum := sha256.Sum256([]byte(coreSCEP(t, parsed.Profile).Challenge))
	e, err := f.svc.Get(context.Background(), p.Enrollment.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.ChallengeHash != hex.EncodeToString(sum[:]) || e.ChallengeUsed {
		t.Fatalf("stored challenge %q (used %v) is not the served profile's", e.ChallengeHash, e.ChallengeUsed)
	}
}

// issued returns a consented enrollment of user with a download link
// (FlowProfile) or an access token (FlowAccountDriven), and the token.
func (f *hostIOFixture) issued(t *testing.T, user string, flow enroll.Flow) (string, string) {
	t.Helper()
	ctx := context.Background()
	e := f.toConsented(t, f.invite(t, user), user, enroll.OwnershipEmployee)
	if flow == enroll.FlowAccountDriven {
		tok, err := f.svc.IssueAccessToken(ctx, coreMeta, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		return e.ID, tok.Token
	}
	link, err := f.svc.IssueDownloadLink(ctx, coreMeta, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	return e.ID, link.Token
}

// The steps that call the host, as the tests run them on enrollment id
// with the token. signIn signs alice in.
func signIn(f *hostIOFixture, id, _ string) (*enroll.Enrollment, *enroll.SignedProfile, error) {
	e, err := f.svc.Authenticate(context.Background(), coreMeta, id, "alice", corePassword, enroll.OwnershipEmployee)
	return e, nil, err
}

func download(f *hostIOFixture, _, token string) (*enroll.Enrollment, *enroll.SignedProfile, error) {
	p, err := f.svc.DownloadProfile(context.Background(), coreMeta, token)
	if err != nil {
		return nil, nil, err
	}
	return p.Enrollment, p, nil
}

func fetch(f *hostIOFixture, _, token string) (*enroll.Enrollment, *enroll.SignedProfile, error) {
	p, err := f.svc.FetchProfile(context.Background(), coreMeta, token)
	if err != nil {
		return nil, nil, err
	}
	return p.Enrollment, p, nil
}

// hostStep is one of signIn, download and fetch.
type hostStep func(f *hostIOFixture, id, token string) (*enroll.Enrollment, *enroll.SignedProfile, error)

func TestHostIOOncePerRequest(t *testing.T) {
	ctx := context.Background()
	// Each step runs with conflicts version conflicts injected in front of
	// its writes: the state change is retried, the host calls are not.
	const conflicts = 5
	tests := []struct {
		name string
		// setup brings an enrollment to the step and returns its ID and
		// the token the step needs.
		setup func(t *testing.T, f *hostIOFixture) (string, string)
		step  hostStep
		// want is the enrollment's state afterwards; "" means the step
		// fails with ErrBadCredentials and writes nothing.
		want enroll.State
		// auth, identity and sign are the host calls the step makes.
		auth, identity, sign int64
	}{
		{"sign-in", func(t *testing.T, f *hostIOFixture) (string, string) {
			return f.invite(t, "alice").EnrollmentID, ""
		}, signIn, enroll.StateAuthenticated, 1, 0, 0},
		{"wrong password", func(t *testing.T, f *hostIOFixture) (string, string) {
			return f.invite(t, "alice").EnrollmentID, ""
		}, func(f *hostIOFixture, id, _ string) (*enroll.Enrollment, *enroll.SignedProfile, error) {
			_, err := f.svc.Authenticate(ctx, coreMeta, id, "alice", "wrong", enroll.OwnershipEmployee)
			return nil, nil, err
		}, "", 1, 0, 0},
		{"sign-in again", func(t *testing.T, f *hostIOFixture) (string, string) {
			id, _ := f.issued(t, "alice", enroll.FlowProfile)
			return id, ""
		}, signIn, enroll.StateProfileIssued, 1, 0, 0},
		{"profile download", func(t *testing.T, f *hostIOFixture) (string, string) {
			return f.issued(t, "alice", enroll.FlowProfile)
		}, download, enroll.StateProfileIssued, 0, 1, 1},
		{"profile fetch replacing an identity", func(t *testing.T, f *hostIOFixture) (string, string) {
			id, token := f.issued(t, "bob", enroll.FlowAccountDriven)
			// A first profile and its certificate: the next fetch
			// replaces that identity.
			if _, err := f.svc.FetchProfile(ctx, coreMeta, token); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.RecordCertificate(ctx, enroll.Meta{}, id, coreDeviceCert(t, "first")); err != nil {
				t.Fatal(err)
			}
			return id, token
		}, fetch, enroll.StateTokenIssued, 0, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHostIOFixture(t)
			id, token := tt.setup(t, f)
			f.reset(conflicts)
			e, p, err := tt.step(f, id, token)
			switch {
			case tt.want == "":
				coreWantErr(t, tt.name, err, enroll.ErrBadCredentials)
			case err != nil || e.State != tt.want:
				t.Fatalf("%s: %v, %v; want state %s", tt.name, e, err, tt.want)
			case f.cs.conflicts.Load() >= 0:
				t.Fatal("injected conflicts left: the step did not retry its write")
			}
			if p != nil {
				servedChallengeStored(t, f, p)
				if e.CertificateHash != "" {
					t.Fatal("the earlier certificate was not forgotten")
				}
			}
			if a, i, s := f.calls.auth.Load(), f.calls.identity.Load(), f.calls.sign.Load(); a != tt.auth || i != tt.identity || s != tt.sign {
				t.Fatalf("Authenticator, Identity, signer called %d, %d, %d times; want %d, %d, %d", a, i, s, tt.auth, tt.identity, tt.sign)
			}
		})
	}
}

func TestHostIOStateMoved(t *testing.T) {
	ctx := context.Background()
	// While the host works, another request changes the enrollment. The
	// step calls the host no second time: it stores its change if the
	// other one left it valid, and otherwise fails with the typed error
	// and stores nothing.
	tests := []struct {
		name string
		// setup returns the enrollment's ID and the token the step needs,
		// and says what the other request does during the host call.
		setup func(t *testing.T, f *hostIOFixture) (string, string)
		step  hostStep
		want  error // nil: the step succeeds
		// auth and identity are the host calls the step makes.
		auth, identity int64
	}{
		{"info acknowledged during sign-in again", func(t *testing.T, f *hostIOFixture) (string, string) {
			inv := f.invite(t, "alice")
			id := inv.EnrollmentID
			if _, err := f.svc.Authenticate(ctx, coreMeta, id, "alice", corePassword, enroll.OwnershipEmployee); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.SubmitPasscode(ctx, coreMeta, id, inv.Passcode); err != nil {
				t.Fatal(err)
			}
			f.calls.duringAuth = func() {
				if _, err := f.svc.AcknowledgeInfo(ctx, coreMeta, id); err != nil {
					t.Error(err)
				}
			}
			return id, ""
		}, signIn, nil, 1, 0},
		{"revoked during sign-in", func(t *testing.T, f *hostIOFixture) (string, string) {
			id := f.invite(t, "alice").EnrollmentID
			f.calls.duringAuth = func() { f.revoke(t, id) }
			return id, ""
		}, signIn, enroll.ErrRevoked, 1, 0},
		{"link replaced during download", func(t *testing.T, f *hostIOFixture) (string, string) {
			id, token := f.issued(t, "alice", enroll.FlowProfile)
			f.calls.duringIdentity = func() {
				if _, err := f.svc.IssueDownloadLink(ctx, coreMeta, id); err != nil {
					t.Error(err)
				}
			}
			return id, token
		}, download, enroll.ErrNotFound, 0, 1},
		{"profile input changed during fetch", func(t *testing.T, f *hostIOFixture) (string, string) {
			id, token := f.issued(t, "bob", enroll.FlowAccountDriven)
			f.calls.duringIdentity = func() {
				// Another writer of the store changes what the profile
				// is built from.
				x := f.get(t, id)
				x.ManagedAppleID = "robert@appleid.example.com"
				if err := f.store.Update(ctx, x, x.Version); err != nil {
					t.Error(err)
				}
			}
			return id, token
		}, fetch, enroll.ErrVersionConflict, 0, 1},
		{"revoked during fetch", func(t *testing.T, f *hostIOFixture) (string, string) {
			id, token := f.issued(t, "bob", enroll.FlowAccountDriven)
			f.calls.duringIdentity = func() { f.revoke(t, id) }
			return id, token
		}, fetch, enroll.ErrRevoked, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHostIOFixture(t)
			id, token := tt.setup(t, f)
			f.reset(0)
			before, err := f.svc.Audit(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := tt.step(f, id, token); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if a, i := f.calls.auth.Load(), f.calls.identity.Load(); a != tt.auth || i != tt.identity {
				t.Fatalf("Authenticator, Identity called %d, %d times; want %d, %d", a, i, tt.auth, tt.identity)
			}
			if tt.want == nil {
				return
			}
			after, err := f.svc.Audit(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			// Only the other request's events were added.
			for _, ev := range after[len(before):] {
				switch ev.Event {
				case enroll.EventAuthenticate, enroll.EventDownloadProfile, enroll.EventFetchProfile:
					t.Fatalf("the step stored %s after its enrollment moved", ev.Event)
				}
			}
		})
	}
}

// revoke revokes enrollment id, as an administrator would.
func (f *coreFixture) revoke(t *testing.T, id string) {
	t.Helper()
	if _, err := f.svc.Revoke(context.Background(), enroll.Meta{Actor: "admin"}, id, "test"); err != nil {
		t.Error(err)
	}
}

// get returns enrollment id.
func (f *coreFixture) get(t *testing.T, id string) *enroll.Enrollment {
	t.Helper()
	e, err := f.svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
