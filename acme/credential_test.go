package acme_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/acme/acmetest"
	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

var _ ddm.AssetSource = (*acme.Credentials)(nil)

// TestMemoryCredentialStore runs the credential identifier suite on the
// in-memory store.
func TestMemoryCredentialStore(t *testing.T) {
	acmetest.RunCredentialStore(t, func(t *testing.T) (acme.CredentialStore, acme.CredentialStore) {
		s := acme.NewMemoryCredentialStore()
		return s, s
	})
}

// devices is an acme.Devices of fixed records.
type devices map[mdm.EnrollmentID]*mdm.EnrollmentRecord

func (d devices) Enrollment(_ context.Context, id mdm.EnrollmentID) (*mdm.EnrollmentRecord, error) {
	if r, ok := d[id]; ok {
		c := *r
		return &c, nil
	}
	return nil, mdm.ErrNotFound
}

// TestCredentials checks the identifiers of ACME credential assets: the
// document, single use, expiry, replacement by a newer download, the
// enrollment's state, and that enroll's identifiers are not redeemed.
func TestCredentials(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	devs := devices{
		"enrolled":    {ID: "enrolled", Enrolled: true},
		"checked-out": {ID: "checked-out", Enrolled: true, CheckedOut: true},
		"pending":     {ID: "pending"},
	}
	creds, err := acme.NewCredentials(devs, acme.CredentialsConfig{DirectoryURL: "https://mdm.example.com/acme-credential/directory",
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	identifier := func(t *testing.T, enrollment mdm.EnrollmentID, asset string) string {
		t.Helper()
		data, ct, err := creds.AssetData(ctx, enrollment, asset)
		if err != nil || ct != "application/json" {
			t.Fatalf("AssetData = %q, %v", ct, err)
		}
		var doc struct {
			DirectoryURL, ClientIdentifier, KeyType string
			KeySize                                 int
			HardwareBound, Attest                   bool
			Subject                                 [][][]string
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.DirectoryURL != "https://mdm.example.com/acme-credential/directory" || !strings.HasPrefix(doc.ClientIdentifier, acme.CredentialPrefix) ||
			doc.KeyType != "ECSECPrimeRandom" || doc.KeySize != 384 || !doc.HardwareBound || !doc.Attest ||
			len(doc.Subject) != 1 || doc.Subject[0][0][0] != "CN" || doc.Subject[0][0][1] != string(enrollment) {
			t.Fatalf("document %s", data)
		}
		return doc.ClientIdentifier
	}
	redeem := func(id string) error {
		e, err := creds.RedeemChallenge(ctx, enroll.Meta{}, id)
		if err == nil && e.ID == "" {
			t.Fatal("redeemed for no enrollment")
		}
		return err
	}

	t.Run("once", func(t *testing.T) {
		id := identifier(t, "enrolled", "a")
		if err := redeem(id); err != nil {
			t.Fatalf("first redemption: %v", err)
		}
		if err := redeem(id); !errors.Is(err, enroll.ErrChallengeInvalid) {
			t.Fatalf("second redemption: %v", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		fresh := identifier(t, "enrolled", "b")
		replaced := identifier(t, "enrolled", "c")
		identifier(t, "enrolled", "c") // a newer download voids replaced
		expired := identifier(t, "enrolled", "d")
		leaving := identifier(t, "enrolled", "e")
		for _, tt := range []struct{ name, id string }{
			{"replaced by a newer download", replaced},
			{"an identity's identifier", "acme." + strings.TrimPrefix(fresh, acme.CredentialPrefix)},
			{"unknown", acme.CredentialPrefix + "unknown"},
			{"empty", ""},
		} {
			if err := redeem(tt.id); !errors.Is(err, enroll.ErrChallengeInvalid) {
				t.Errorf("%s: %v", tt.name, err)
			}
		}
		now = now.Add(acme.DefaultCredentialTTL)
		if err := redeem(expired); !errors.Is(err, enroll.ErrChallengeInvalid) {
			t.Errorf("expired: %v", err)
		}
		now = now.Add(-acme.DefaultCredentialTTL)
		devs["enrolled"].CheckedOut = true
		if err := redeem(leaving); !errors.Is(err, enroll.ErrChallengeInvalid) {
			t.Errorf("checked out since: %v", err)
		}
		devs["enrolled"].CheckedOut = false
		if err := redeem(fresh); err != nil {
			t.Errorf("the fresh identifier after the refusals: %v", err)
		}
	})
	t.Run("not enrolled", func(t *testing.T) {
		for _, id := range []mdm.EnrollmentID{"checked-out", "pending", "unknown"} {
			if _, _, err := creds.AssetData(ctx, id, "a"); !errors.Is(err, acme.ErrNotFound) {
				t.Errorf("AssetData for %s: %v", id, err)
			}
		}
	})
}
