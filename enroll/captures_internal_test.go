package enroll

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// GenuineDeviceBody is a CMS-signed body a genuine Apple device posted to
// another open-source MDM server, kept byte-for-byte in testdata/captures
// (the README there names its project, upstream path, commit and licence).
type GenuineDeviceBody struct {
	// File is the path under testdata/captures.
	File string
	// From says where it was captured, for failure messages.
	From string
	// Product and Version are its PRODUCT and VERSION.
	Product, Version string
	// Expired says the signer certificate has expired since the capture.
	Expired bool
}

// GenuineDeviceBodies are the captures the Apple device chain must accept.
var GenuineDeviceBodies = []GenuineDeviceBody{
	{File: "zentral/ota_playload_phase_2", From: "zentral tests/mdm/testdata: VirtualMac2,1 on macOS 13.0, over-the-air phase 2 device attributes",
		Product: "VirtualMac2,1", Version: "22A380", Expired: true},
}

// Read returns the capture's bytes.
func (g GenuineDeviceBody) Read(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "captures", g.File))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestGenuineDeviceBodies checks real devices' signed bodies against the
// embedded Apple device chain, the Portal's default: they verify with no
// host roots and no opt-out, although their signer certificates have
// expired since and Apple's intermediates long before (validity is ignored
// only inside the pinned chain). crypto/x509's path validation refuses them
// even at a moment when the signer was valid, which is why the chain is
// pinned; a different pin, or a changed body, is refused.
func TestGenuineDeviceBodies(t *testing.T) {
	other := IssueCert(t, "Other Device CA", nil, true)
	appleRoot, _ := appleCertPools()
	for _, g := range GenuineDeviceBodies {
		t.Run(g.File, func(t *testing.T) {
			body := g.Read(t)
			mi, err := parseMachineInfo(body, machineInfoOptions{Pinned: appleDeviceCAs()})
			if err != nil {
				t.Fatalf("%s: refused under the pinned Apple chain: %v", g.From, err)
			}
			if mi.Product != g.Product || mi.Version != g.Version {
				t.Errorf("%s: PRODUCT %q VERSION %q, want %q %q", g.From, mi.Product, mi.Version, g.Product, g.Version)
			}
			if mi.Signer.Issuer.CommonName != "Apple iPhone Device CA" || mi.Signer.SignatureAlgorithm != x509.SHA1WithRSA {
				t.Errorf("%s: signer issued by %q with %v", g.From, mi.Signer.Issuer.CommonName, mi.Signer.SignatureAlgorithm)
			}
			// An expired signer verifies by the pinned-chain rule (no
			// validity dates inside the pinned chain), not by being current.
			if expired := mi.Signer.NotAfter.Before(time.Now()); expired != g.Expired {
				t.Errorf("%s: signer valid until %v: expired %v, want %v", g.From, mi.Signer.NotAfter, expired, g.Expired)
			}

			whileValid := mi.Signer.NotBefore.Add(time.Hour)
			changed := bytes.Clone(body)
			changed[bytes.Index(changed, []byte(g.Product))] ^= 0x20 // the PRODUCT's first letter's case
			for _, tc := range []struct {
				name string
				body []byte
				opts machineInfoOptions
			}{
				{"path validation to Apple Root CA", body, machineInfoOptions{Roots: appleRoot, Now: whileValid}},
				{"pinned to another CA", body, machineInfoOptions{Pinned: []*x509.Certificate{other.Cert}}},
				{"changed body", changed, machineInfoOptions{Pinned: appleDeviceCAs()}},
			} {
				if bytes.Equal(tc.body, body) != (tc.name != "changed body") {
					t.Fatalf("%s: the body was not changed", tc.name)
				}
				_, err := parseMachineInfo(tc.body, tc.opts)
				if !errors.Is(err, ErrInvalidInput) {
					t.Errorf("%s: %s: %v, want a refusal", g.From, tc.name, err)
				}
			}
		})
	}
}

// TestGenuineDeviceSigners checks device identity certificates Apple issued
// under Apple iPhone Device CA (testdata/captures) against the pinned Apple
// chain: an expired SHA-1 one and a current SHA-256 one both chain by
// signature, crypto/x509 refuses both, and neither chains to another pin.
func TestGenuineDeviceSigners(t *testing.T) {
	other := IssueCert(t, "Other Device CA", nil, true)
	for _, tt := range []struct {
		file, from string
		alg        x509.SignatureAlgorithm
	}{
		{"micromdm/appleca_signed.pem", "micromdm pkg/crypto/testdata: a Mac's device identity, 2018", x509.SHA1WithRSA},
		{"micromdm/appleca_signed_newer.pem", "micromdm pkg/crypto/testdata: an Apple TV's MachineInfo signer, 2024", x509.SHA256WithRSA},
	} {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "captures", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			blk, _ := pem.Decode(b)
			if blk == nil {
				t.Fatal("no PEM block")
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if c.SignatureAlgorithm != tt.alg || c.IsCA {
				t.Errorf("%s: %v, CA %v", tt.from, c.SignatureAlgorithm, c.IsCA)
			}
			if err := verifyPinned(c, appleDeviceCAs(), nil); err != nil {
				t.Fatalf("%s: does not chain to the pinned Apple chain: %v", tt.from, err)
			}
			if err := verifyPinned(c, []*x509.Certificate{other.Cert}, appleDeviceCAs()); err == nil {
				t.Fatalf("%s: chains to another pin", tt.from)
			}
			roots, inter := appleCertPools()
			if _, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: c.NotBefore.Add(time.Hour),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
				t.Fatalf("%s: crypto/x509 accepts it; the pinned check may no longer be needed", tt.from)
			}
		})
	}
}

// appleCertPools returns Apple's device chain as crypto/x509 pools: Apple
// Root CA as the root, the two CAs below it as intermediates.
func appleCertPools() (roots, intermediates *x509.CertPool) {
	roots, intermediates = x509.NewCertPool(), x509.NewCertPool()
	for _, c := range appleDeviceCAs() {
		if c.Subject.CommonName == "Apple Root CA" {
			roots.AddCert(c)
		} else {
			intermediates.AddCert(c)
		}
	}
	return roots, intermediates
}
