package enroll_test

import (
	"context"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/profile"
	"github.com/enrollkit/enrollkit/store/memory"
)

const acmeDirectory = "https://mdm.example.com/acme/directory"

// identityPayload returns the payload the profile's MDM payload names as
// its identity.
func identityPayload(t testing.TB, p *profile.Profile) profile.Payload {
	t.Helper()
	m := p.MDM()
	if m == nil {
		t.Fatal("profile has no MDM payload")
	}
	pl := p.Payload(m.IdentityCertificateUUID)
	if pl == nil {
		t.Fatalf("IdentityCertificateUUID %q names no payload", m.IdentityCertificateUUID)
	}
	return pl
}

// TestACMEIdentity checks the ACME payload of Config.ACME in the profiles
// of both flows, and which devices get SCEP instead with SCEPFallback.
func TestACMEIdentity(t *testing.T) {
	const (
		iOS15 = "Mozilla/5.0 (iPhone; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1"
		iOS17 = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
		mac   = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	)
	tests := []struct {
		name      string
		fallback  bool
		accountUA string // account-driven when set (its UA tells nothing)
		ua        string
		wantACME  bool
	}{
		{name: "profile-based iOS 17", ua: iOS17, wantACME: true},
		{name: "profile-based iOS 15 without fallback", ua: iOS15, wantACME: true},
		{name: "profile-based Mac without fallback", ua: mac, wantACME: true},
		{name: "account-driven without fallback", accountUA: "MDM/1.0", wantACME: true},
		{name: "profile-based iOS 17 with fallback", fallback: true, ua: iOS17, wantACME: true},
		{name: "profile-based iOS 15 with fallback", fallback: true, ua: iOS15},
		{name: "profile-based Mac with fallback", fallback: true, ua: mac},
		{name: "account-driven, release unknown, with fallback", fallback: true, accountUA: "MDM/1.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newCoreFixture(t, func(c *enroll.Config) {
				c.ACME = enroll.ACMEConfig{DirectoryURL: acmeDirectory, SCEPFallback: tc.fallback}
				if !tc.fallback {
					c.SCEP = enroll.SCEPConfig{}
				}
			})
			inv := f.invite(t, "alice")
			e := f.toConsented(t, inv, "alice", enroll.OwnershipEmployee)
			var prof *enroll.SignedProfile
			var err error
			if tc.accountUA != "" {
				tok, err := f.svc.IssueAccessToken(ctx, coreMeta, e.ID)
				if err != nil {
					t.Fatal(err)
				}
				prof, err = f.svc.FetchProfile(ctx, enroll.Meta{UserAgent: tc.accountUA}, tok.Token)
				if err != nil {
					t.Fatal(err)
				}
			} else {
				link, err := f.svc.IssueDownloadLink(ctx, coreMeta, e.ID)
				if err != nil {
					t.Fatal(err)
				}
				prof, err = f.svc.DownloadProfile(ctx, enroll.Meta{UserAgent: tc.ua}, link.Token)
			}
			if err != nil {
				t.Fatal(err)
			}
			var challenge string
			switch pl := identityPayload(t, coreParseProfile(t, prof.Data)).(type) {
			case *profile.ACME:
				if !tc.wantACME {
					t.Fatal("got an ACME payload, want SCEP")
				}
				if pl.DirectoryURL != acmeDirectory || !pl.HardwareBound || !pl.Attest ||
					pl.KeyType != profile.KeyTypeEC || pl.KeySize != enroll.DefaultACMEKeySize || len(pl.Subject) == 0 {
					t.Fatalf("ACME payload = %+v", pl)
				}
				challenge = pl.ClientIdentifier
				// The SCEP server cannot redeem an ACME identifier.
				_, err := f.svc.RedeemChallenge(ctx, enroll.Meta{}, challenge)
				coreWantErr(t, "ACME identifier over SCEP", err, enroll.ErrChallengeInvalid)
				got, err := f.svc.ACME().RedeemChallenge(ctx, enroll.Meta{}, challenge)
				if err != nil || got.ID != e.ID {
					t.Fatalf("ACME redeem = %v, %v", got, err)
				}
				_, err = f.svc.ACME().RedeemChallenge(ctx, enroll.Meta{}, challenge)
				coreWantErr(t, "second redemption", err, enroll.ErrChallengeInvalid)
			case *profile.SCEP:
				if tc.wantACME {
					t.Fatal("got a SCEP payload, want ACME")
				}
				challenge = pl.Challenge
				// The ACME server cannot redeem a SCEP challenge.
				_, err := f.svc.ACME().RedeemChallenge(ctx, enroll.Meta{}, challenge)
				coreWantErr(t, "SCEP challenge over ACME", err, enroll.ErrChallengeInvalid)
				if _, err := f.svc.RedeemChallenge(ctx, enroll.Meta{}, challenge); err != nil {
					t.Fatalf("SCEP redeem: %v", err)
				}
			default:
				t.Fatalf("identity payload is %T", pl)
			}
			if strings.HasPrefix(challenge, "acme.") != tc.wantACME {
				t.Fatalf("challenge %q", challenge)
			}
		})
	}
}

// TestACMEConfigRefused checks the settings New refuses.
func TestACMEConfigRefused(t *testing.T) {
	tests := []struct {
		name string
		edit func(*enroll.Config)
	}{
		{"fallback without SCEP URL", func(c *enroll.Config) {
			c.SCEP = enroll.SCEPConfig{}
			c.ACME = enroll.ACMEConfig{DirectoryURL: acmeDirectory, SCEPFallback: true}
		}},
		{"RSA-sized key", func(c *enroll.Config) { c.ACME = enroll.ACMEConfig{DirectoryURL: acmeDirectory, KeySize: 2048} }},
		{"521-bit key", func(c *enroll.Config) { c.ACME = enroll.ACMEConfig{DirectoryURL: acmeDirectory, KeySize: 521} }},
		{"ACME and Identity", func(c *enroll.Config) {
			c.SCEP = enroll.SCEPConfig{}
			c.ACME = enroll.ACMEConfig{DirectoryURL: acmeDirectory}
			c.Identity = &enroll.SCEPChallenges{}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := coreConfig()
			tc.edit(&cfg)
			if _, err := enroll.New(memory.NewEnrollStore(), cfg); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
}
