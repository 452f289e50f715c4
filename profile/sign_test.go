package profile_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/profile"
)

// testEnrollment is the server side shared by the tests.
func testEnrollment() profile.EnrollmentSpec {
	return profile.EnrollmentSpec{
		Identifier:   "com.example.mdm.enroll",
		Seed:         "enrollment-42",
		DisplayName:  "Example Corp Work Profile",
		Organization: "Example Corp",
		Description:  "Manages work apps and data on this device.",
		Topic:        "com.apple.mgmt.External.5e6a9f3c-1111-4b4b-9c9c-0123456789ab",
		ServerURL:    "https://mdm.example.com/mdm/command",
		CheckInURL:   "https://mdm.example.com/mdm/checkin",
		SignMessage:  true,
		Identity: &profile.SCEP{
			URL:       "https://mdm.example.com/scep",
			Name:      "Example CA",
			Subject:   profile.CommonName("enrollment-42"),
			Challenge: "one-time-challenge",
			Keysize:   2048,
			KeyType:   "RSA",
			KeyUsage:  5,
		},
	}
}

func testProfile(tb testing.TB) *profile.Profile {
	tb.Helper()
	p, err := profile.NewAccountDrivenUserEnrollment(testEnrollment(), "jane@example.com")
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestSignParseRoundTrip(t *testing.T) {
	for _, kind := range []string{"rsa", "ecdsa"} {
		for _, opaque := range []bool{false, true} {
			name := kind
			if opaque {
				name += "/opaque-signer"
			}
			t.Run(name, func(t *testing.T) {
				ca := testPKI(t, kind, "Corp")
				key := ca.leafKey
				if opaque {
					key = opaqueSigner{key}
				}
				p := testProfile(t)
				signed, err := profile.SignProfile(p, key, ca.chain())
				if err != nil {
					t.Fatal(err)
				}
				got, err := profile.Parse(signed, profile.ParseOptions{Roots: ca.roots(), RequireSignature: true})
				if err != nil {
					t.Fatal(err)
				}
				if !got.Signed || got.Format != profile.XML {
					t.Errorf("Signed=%v Format=%v, want true xml", got.Signed, got.Format)
				}
				if len(got.Chain) != 3 || !got.Chain[0].Equal(ca.leaf) || !got.Chain[1].Equal(ca.inter) || !got.Chain[2].Equal(ca.root) {
					t.Errorf("chain has %d certificates, want leaf, intermediate, root", len(got.Chain))
				}
				want, _ := profile.Marshal(p)
				if !bytes.Equal(got.Content, want) {
					t.Error("signed content differs from the marshalled profile")
				}
				if m := got.Profile.MDM(); m == nil || m.AssignedManagedAppleID != "jane@example.com" {
					t.Errorf("decoded MDM payload = %+v", m)
				}

				// Without roots the chain comes from the signature alone.
				got, err = profile.Parse(signed, profile.ParseOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Chain) != 2 || !got.Chain[1].Equal(ca.inter) {
					t.Errorf("unverified chain has %d certificates, want leaf and intermediate", len(got.Chain))
				}
			})
		}
	}
}

func TestParseRejects(t *testing.T) {
	ca := testPKI(t, "ecdsa", "Corp")
	foreign := testPKI(t, "ecdsa", "Foreign")
	p := testProfile(t)
	signed, err := profile.SignProfile(p, ca.leafKey, ca.chain())
	if err != nil {
		t.Fatal(err)
	}
	unsigned, _ := profile.Marshal(p)

	tampered := bytes.Clone(signed)
	i := bytes.Index(tampered, []byte("jane@example.com"))
	if i < 0 {
		t.Fatal("content not found in the signature")
	}
	tampered[i] = 'J'

	selfSigned, err := profile.SignProfile(p, foreign.leafKey, foreign.chain())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		in   []byte
		opts profile.ParseOptions
		want error
	}{
		{"tampered content", tampered, profile.ParseOptions{}, profile.ErrSignature},
		{"foreign CA", selfSigned, profile.ParseOptions{Roots: ca.roots()}, profile.ErrUntrusted},
		{"expired at check time", signed, profile.ParseOptions{Roots: ca.roots(), CurrentTime: time.Now().Add(72 * time.Hour)}, profile.ErrUntrusted},
		{"unsigned but required", unsigned, profile.ParseOptions{RequireSignature: true}, profile.ErrUnsigned},
		{"too large", signed, profile.ParseOptions{MaxSize: 100}, profile.ErrTooLarge},
		{"empty", nil, profile.ParseOptions{}, profile.ErrNotProfile},
		{"truncated signature", signed[:len(signed)/2], profile.ParseOptions{}, profile.ErrNotProfile},
		{"deep nesting", bytes.Repeat([]byte{0x30, 0x80}, 1000), profile.ParseOptions{}, profile.ErrNotProfile},
		{"not a plist", []byte("hello"), profile.ParseOptions{}, profile.ErrNotProfile},
		{"plist array", []byte(`<plist version="1.0"><array/></plist>`), profile.ParseOptions{}, profile.ErrNotProfile},
		{"other plist dictionary", []byte(`<plist version="1.0"><dict><key>PayloadType</key><string>com.apple.mdm</string></dict></plist>`), profile.ParseOptions{}, profile.ErrNotProfile},
		{"openstep plist", []byte(`{ PayloadType = Configuration; }`), profile.ParseOptions{}, profile.ErrNotProfile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := profile.Parse(tt.in, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Errorf("Parse returned a result with error %v", err)
			}
		})
	}

	var se *profile.SizeError
	if _, err := profile.Parse(signed, profile.ParseOptions{MaxSize: 100}); !errors.As(err, &se) || se.Limit != 100 || se.Size != int64(len(signed)) {
		t.Errorf("size error = %#v", err)
	}
}

func TestNewSignerRejects(t *testing.T) {
	rsaCA := testPKI(t, "rsa", "Corp")
	ecCA := testPKI(t, "ecdsa", "Corp")
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	cases := map[string]error{}
	_, err := profile.NewSigner(nil, rsaCA.chain())
	cases["nil key"] = err
	_, err = profile.NewSigner(rsaCA.leafKey, nil)
	cases["no chain"] = err
	_, err = profile.NewSigner(ecCA.leafKey, rsaCA.chain())
	cases["key does not match"] = err
	_, err = profile.NewSigner(edKey, rsaCA.chain())
	cases["ed25519 key"] = err
	_, err = profile.NewSigner(rsaCA.leafKey, append(rsaCA.chain()[:1:1], ecCA.inter))
	cases["broken chain"] = err
	_, err = profile.Sign([]byte("x"), rsaCA.leafKey, append(rsaCA.chain()[:1:1], nil))
	cases["nil intermediate"] = err
	for name, err := range cases {
		if !errors.Is(err, profile.ErrSigner) {
			t.Errorf("%s: error = %v, want ErrSigner", name, err)
		}
	}
}

func TestSignerDeterministicRSA(t *testing.T) {
	// RSA PKCS #1 v1.5 is deterministic: with a fixed signing time the same
	// profile gives the same bytes.
	ca := testPKI(t, "rsa", "Corp")
	s, err := profile.NewSigner(ca.leafKey, ca.chain())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.Now = func() time.Time { return at }
	a, err := s.SignProfile(testProfile(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.SignProfile(testProfile(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two signatures of the same profile at the same time differ")
	}
}
