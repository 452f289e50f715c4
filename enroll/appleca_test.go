package enroll

import (
	"crypto/x509"
	"testing"
	"time"
)

// TestAppleDeviceCAs checks the embedded chain: Apple Root CA, Apple iPhone
// Certification Authority and Apple iPhone Device CA, which crypto/x509
// refuses (SHA-1, expired intermediates) and the pinned check accepts.
func TestAppleDeviceCAs(t *testing.T) {
	cas := AppleDeviceCAs()
	byName := map[string]*x509.Certificate{}
	for _, c := range cas {
		byName[c.Subject.CommonName] = c
	}
	root, mid, dev := byName["Apple Root CA"], byName["Apple iPhone Certification Authority"], byName["Apple iPhone Device CA"]
	if len(cas) != 3 || root == nil || mid == nil || dev == nil {
		t.Fatalf("embedded chain: %d certificates %v", len(cas), byName)
	}
	if dev.NotAfter.After(time.Date(2014, 5, 1, 0, 0, 0, 0, time.UTC)) || root.NotAfter.Before(time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("validity: device CA until %v, root until %v", dev.NotAfter, root.NotAfter)
	}
	if err := verifyPinned(dev, []*x509.Certificate{root}, []*x509.Certificate{mid}); err != nil {
		t.Fatalf("device CA does not chain to the root by signature: %v", err)
	}
	if err := verifyPinned(dev, []*x509.Certificate{root}, nil); err == nil {
		t.Fatal("chained without the intermediate")
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	inter := x509.NewCertPool()
	inter.AddCert(mid)
	if _, err := dev.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Fatal("crypto/x509 accepts the chain; the pinned check may no longer be needed")
	}
	cas[0] = nil
	if AppleDeviceCAs()[0] == nil {
		t.Fatal("AppleDeviceCAs shares its slice")
	}
}
