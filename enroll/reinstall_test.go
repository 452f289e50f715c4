package enroll_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
)

// reinstallStop is where a device's first installation was interrupted (a
// crash of the server or the device, a lost response).
type reinstallStop int

const (
	stopDownloaded reinstallStop = iota // the profile was served, nothing more
	stopRedeemed                        // the SCEP challenge was redeemed, no certificate recorded
	stopBound                           // the identity certificate was recorded, no Authenticate
	stopCheckedIn                       // Authenticate was accepted, TokenUpdate never arrived
)

var reinstallStops = []struct {
	name string
	stop reinstallStop
}{
	{"after download", stopDownloaded},
	{"after challenge redeemed", stopRedeemed},
	{"after certificate bound", stopBound},
	{"after Authenticate", stopCheckedIn},
}

// firstInstall plays a device installing profile data up to stop. It
// returns the profile's SCEP challenge and, from stopBound on, the device
// holding the certificate issued for it.
func (h *harness) firstInstall(t *testing.T, data []byte, stop reinstallStop, enrollmentID, bearer string) (string, *portalDevice) {
	t.Helper()
	parsed, _ := h.parseProfile(t, data)
	challenge := ""
	for _, pl := range parsed.Profile.Payloads {
		if s, ok := pl.(*profile.SCEP); ok {
			challenge = s.Challenge
		}
	}
	switch stop {
	case stopDownloaded:
		return challenge, nil
	case stopRedeemed:
		if _, err := h.svc.RedeemChallenge(context.Background(), enroll.Meta{Actor: "scep"}, challenge); err != nil {
			t.Fatalf("redeem challenge: %v", err)
		}
		return challenge, nil
	}
	dev := h.installProfile(t, data, enrollmentID, bearer)
	if stop == stopCheckedIn {
		if st := dev.checkin(t, "Authenticate", nil); st != http.StatusOK {
			t.Fatalf("first Authenticate: %d", st)
		}
	}
	return challenge, dev
}

// wantOldIdentityRefused checks that the identity of an interrupted
// installation no longer works: its challenge is not redeemed, and its
// certificate (with its EnrollmentID and access token) does not check in.
// Refusals change nothing.
func (h *harness) wantOldIdentityRefused(t *testing.T, id, challenge string, dev *portalDevice) {
	t.Helper()
	ctx := context.Background()
	before, err := h.svc.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.RedeemChallenge(ctx, enroll.Meta{Actor: "scep"}, challenge); !errors.Is(err, enroll.ErrChallengeInvalid) {
		t.Fatalf("the earlier profile's challenge: %v, want ErrChallengeInvalid", err)
	}
	if dev != nil {
		for _, mt := range []string{"Authenticate", "TokenUpdate"} {
			// 404 when the earlier device never sent Authenticate: mdm
			// has no record of it.
			if st := dev.checkin(t, mt, map[string]any{"Token": []byte{9}, "PushMagic": "old"}); st != http.StatusForbidden && st != http.StatusUnauthorized && st != http.StatusNotFound {
				t.Fatalf("%s with the earlier certificate: %d, want 401, 403 or 404", mt, st)
			}
		}
	}
	if after, _ := h.svc.Get(ctx, id); after.Version != before.Version {
		t.Fatalf("a refused old identity changed the enrollment (version %d → %d)", before.Version, after.Version)
	}
}

// finishReinstall installs the re-issued profile data as a device with a
// new EnrollmentID and checks that the enrollment ends enrolled with it,
// the passcode state as it was before.
func (h *harness) finishReinstall(t *testing.T, id string, data []byte, enrollmentID, bearer string, passcodeBefore enroll.Enrollment) *portalDevice {
	t.Helper()
	dev := h.installProfile(t, data, enrollmentID, bearer)
	if st := dev.checkin(t, "Authenticate", nil); st != http.StatusOK {
		t.Fatalf("Authenticate of the re-installed device: %d", st)
	}
	if st := dev.checkin(t, "TokenUpdate", map[string]any{"Token": []byte{1, 2, 3, 4}, "PushMagic": "magic"}); st != http.StatusOK {
		t.Fatalf("TokenUpdate of the re-installed device: %d", st)
	}
	e, err := h.svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if e.State != enroll.StateEnrolled || e.DeviceID != enrollmentID || e.CertificateHash != mdm.FingerprintOf(dev.id.Cert.Raw).String() {
		t.Fatalf("after re-installing: state %s device %q certificate %q", e.State, e.DeviceID, e.CertificateHash)
	}
	if !reflect.DeepEqual(e.Passcode, passcodeBefore.Passcode) {
		t.Fatalf("re-installing changed the passcode state: %+v, was %+v", e.Passcode, passcodeBefore.Passcode)
	}
	return dev
}

// TestReinstallProfileBased interrupts a profile-based installation at each
// step boundary; the user opens the invitation again in a new browser,
// signs in, downloads a new profile with a fresh challenge, and the device
// installs it from scratch (with a new EnrollmentID) and ends enrolled.
// The earlier profile's challenge and certificate are refused from the
// moment the new profile is served.
func TestReinstallProfileBased(t *testing.T) {
	for _, tt := range reinstallStops {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			inv, data := portalDownloaded(t, h, h.browser())
			challenge, old := h.firstInstall(t, data, tt.stop, "UE-FIRST", "")
			before, _ := h.svc.Get(context.Background(), inv.EnrollmentID)

			// The device starts over: the invitation in a new browser.
			b2 := h.browser()
			p := b2.get(inv.URL)
			portalWantPath(t, p, "signin")
			p = b2.submit(p, janeCredentials)
			portalWantStatus(t, p, http.StatusOK)
			portalWantPath(t, p, "download")
			h.wantState(t, inv.EnrollmentID, enroll.StateProfileIssued)
			resp, data := portalFetch(t, p.link)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("download of the new profile: %d", resp.StatusCode)
			}
			if again, _ := portalFetch(t, p.link); again.StatusCode != http.StatusGone {
				t.Fatalf("the new link served twice: %d", again.StatusCode)
			}
			h.wantOldIdentityRefused(t, inv.EnrollmentID, challenge, old)
			h.finishReinstall(t, inv.EnrollmentID, data, "UE-SECOND", "", *before)
			h.wantOldIdentityRefused(t, inv.EnrollmentID, challenge, old)

			// An enrolled enrollment is finished: signing in again is
			// refused and changes nothing.
			b3 := h.browser()
			portalWantStatus(t, b3.get(inv.URL), http.StatusForbidden)
			h.wantState(t, inv.EnrollmentID, enroll.StateEnrolled)
		})
	}
}

// TestReinstallAccountDriven interrupts an account-driven installation at
// each step boundary; the device runs the flow again (discovery, BaseURL,
// the portal in a new web view, a new access token), installs the new
// profile with a new EnrollmentID and ends enrolled. The earlier access
// token, challenge and certificate are refused.
func TestReinstallAccountDriven(t *testing.T) {
	for _, tt := range reinstallStops {
		t.Run(tt.name, func(t *testing.T) {
			h, inv, devCA, tok, data := portalAccountServed(t)
			challenge, old := h.firstInstall(t, data, tt.stop, "UE-FIRST", tok)
			before, _ := h.svc.Get(context.Background(), inv.EnrollmentID)

			// The device starts over from Settings.
			baseURL, webURL := portalDiscover(t, h, devCA)
			b := h.browser()
			p := b.get(webURL)
			portalWantPath(t, p, "signin")
			p = b.submit(p, janeCredentials)
			portalWantStatus(t, p, http.StatusOK)
			tok2 := portalWantHandoff(t, b.submit(p, nil))
			h.wantState(t, inv.EnrollmentID, enroll.StateTokenIssued)
			if resp, _ := portalPostBaseURL(t, baseURL, devCA.machineInfo(t), tok); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("the earlier access token at the BaseURL: %d, want 401", resp.StatusCode)
			}
			resp, data := portalPostBaseURL(t, baseURL, devCA.machineInfo(t), tok2)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("BaseURL with the new token: %d", resp.StatusCode)
			}
			h.wantOldIdentityRefused(t, inv.EnrollmentID, challenge, old)
			h.finishReinstall(t, inv.EnrollmentID, data, "UE-SECOND", tok2, *before)
			h.wantOldIdentityRefused(t, inv.EnrollmentID, challenge, old)
		})
	}
}

// TestReinstallFromCheckedIn checks the Service's side of a re-install from
// StateCheckedIn: the new link or token moves the enrollment back through
// the table with an audit event and forgets the earlier identity; the other
// flow's step is refused and changes nothing; discovery finds an
// account-driven enrollment in this state and not a profile-based one.
func TestReinstallFromCheckedIn(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		flow  enroll.Flow
		issue func(f *coreFixture, id string) error
		other func(f *coreFixture, id string) error
		to    enroll.State
		event enroll.Event
		found bool
	}{
		{
			flow: enroll.FlowProfile,
			issue: func(f *coreFixture, id string) error {
				_, err := f.svc.IssueDownloadLink(ctx, coreMeta, id)
				return err
			},
			other: func(f *coreFixture, id string) error {
				_, err := f.svc.IssueAccessToken(ctx, coreMeta, id)
				return err
			},
			to: enroll.StateProfileIssued, event: enroll.EventIssueProfile,
		},
		{
			flow: enroll.FlowAccountDriven,
			issue: func(f *coreFixture, id string) error {
				_, err := f.svc.IssueAccessToken(ctx, coreMeta, id)
				return err
			},
			other: func(f *coreFixture, id string) error {
				_, err := f.svc.IssueDownloadLink(ctx, coreMeta, id)
				return err
			},
			to: enroll.StateTokenIssued, event: enroll.EventIssueToken, found: true,
		},
	}
	for _, tt := range tests {
		t.Run(string(tt.flow), func(t *testing.T) {
			f := newCoreFixture(t)
			inv := f.invite(t, "alice")
			id := inv.EnrollmentID
			f.toConsented(t, inv, "alice", enroll.OwnershipEmployee)
			e, err := f.store.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			e.State, e.Flow = enroll.StateCheckedIn, tt.flow
			e.ChallengeHash, e.ChallengeUsed = "aa", true
			e.CertificateHash, e.DeviceID = "bb", "UE-OLD"
			if tt.flow == enroll.FlowAccountDriven {
				e.AccessTokenHash = "cc"
			}
			if err := f.store.Update(ctx, e, e.Version); err != nil {
				t.Fatal(err)
			}

			got, err := f.svc.LookupAccount(ctx, "alice@appleid.example.com")
			if tt.found && (err != nil || got.ID != id) {
				t.Fatalf("LookupAccount: %v, %v; want the checked-in enrollment", got, err)
			}
			if !tt.found && !errors.Is(err, enroll.ErrNotFound) {
				t.Fatalf("LookupAccount of a profile-based enrollment: %v, want ErrNotFound", err)
			}

			err = tt.other(f, id)
			var te *enroll.TransitionError
			if !errors.As(err, &te) || te.From != enroll.StateCheckedIn {
				t.Fatalf("the other flow's step: %v, want a *TransitionError", err)
			}
			if now, _ := f.store.Get(ctx, id); now.Version != e.Version {
				t.Fatal("a refused step changed the enrollment")
			}

			if _, err := f.svc.Authenticate(ctx, coreMeta, id, "alice", corePassword, enroll.OwnershipEmployee); err != nil {
				t.Fatalf("signing in again in checked-in: %v", err)
			}
			if err := tt.issue(f, id); err != nil {
				t.Fatalf("issuing again: %v", err)
			}
			now, err := f.store.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if now.State != tt.to || now.CertificateHash != "" || now.DeviceID != "" || now.ChallengeHash != "" || now.ChallengeUsed || now.AccessTokenHash == "cc" {
				t.Fatalf("after issuing again: %+v", now)
			}
			if _, err := f.store.Find(ctx, enroll.IndexDevice, "UE-OLD"); !errors.Is(err, enroll.ErrNotFound) {
				t.Fatalf("the earlier EnrollmentID still finds the enrollment: %v", err)
			}
			last := lastAudit(t, f.svc, id)
			if last.Event != tt.event || last.From != enroll.StateCheckedIn || last.To != tt.to || last.Detail == "" {
				t.Fatalf("audit event of issuing again: %+v", last)
			}
		})
	}
}

// staleProvider is SCEPChallenges whose lookup, once id is set, answers
// with that enrollment for any challenge: as a lookup that ran just before
// a newer profile replaced the challenge would.
type staleProvider struct {
	*enroll.SCEPChallenges
	id string
}

func (p *staleProvider) ChallengeEnrollment(ctx context.Context, challenge string) (string, error) {
	if p.id != "" {
		return p.id, nil
	}
	return p.SCEPChallenges.ChallengeEnrollment(ctx, challenge)
}

// TestRedeemReplacedChallenge: the challenge of a profile that a newer one
// replaced is refused even when its lookup raced the replacement, and the
// newer profile's challenge still works.
func TestRedeemReplacedChallenge(t *testing.T) {
	ctx := context.Background()
	sp := &staleProvider{}
	f := newCoreFixture(t, func(c *enroll.Config) { c.SCEP, c.Identity = enroll.SCEPConfig{}, sp })
	var err error
	if sp.SCEPChallenges, err = enroll.NewSCEPChallenges(f.store, enroll.SCEPConfig{URL: "https://mdm.example.com/scep", Now: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	inv := f.invite(t, "alice")
	id := inv.EnrollmentID
	f.toConsented(t, inv, "alice", enroll.OwnershipEmployee)
	challenge := func() string {
		link, err := f.svc.IssueDownloadLink(ctx, coreMeta, id)
		if err != nil {
			t.Fatal(err)
		}
		p, err := f.svc.DownloadProfile(ctx, coreMeta, link.Token)
		if err != nil {
			t.Fatal(err)
		}
		return coreSCEP(t, coreParseProfile(t, p.Data)).Challenge
	}
	first := challenge()
	second := challenge()
	sp.id = id
	before, _ := f.store.Get(ctx, id)
	if _, err := f.svc.RedeemChallenge(ctx, enroll.Meta{Actor: "scep"}, first); !errors.Is(err, enroll.ErrChallengeInvalid) {
		t.Fatalf("replaced challenge: %v, want ErrChallengeInvalid", err)
	}
	if after, _ := f.store.Get(ctx, id); after.Version != before.Version {
		t.Fatal("a refused challenge changed the enrollment")
	}
	if _, err := f.svc.RedeemChallenge(ctx, enroll.Meta{Actor: "scep"}, second); err != nil {
		t.Fatalf("the newest challenge: %v", err)
	}
}
