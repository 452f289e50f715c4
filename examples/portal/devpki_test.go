package main

import (
	"bytes"
	"crypto/x509"
	"testing"
)

func TestDevPKI(t *testing.T) {
	dir := t.TempDir()
	first, created, err := loadOrCreatePKI(dir, []string{"127.0.0.1"})
	if err != nil || !created {
		t.Fatalf("first start: created %v, err %v", created, err)
	}
	for name, c := range map[string]*x509.Certificate{"profile signer": first.Signer, "TLS": first.TLS.Leaf} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: first.Roots(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s certificate does not chain to the CA: %v", name, err)
		}
	}
	if err := first.TLS.Leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}

	again, created, err := loadOrCreatePKI(dir, []string{"127.0.0.1"})
	if err != nil || created {
		t.Fatalf("second start: created %v, err %v", created, err)
	}
	if !bytes.Equal(again.CA.Raw, first.CA.Raw) || !bytes.Equal(again.TLS.Leaf.Raw, first.TLS.Leaf.Raw) {
		t.Fatal("a second start replaced certificates it should have loaded")
	}

	// A new public host gets a new TLS certificate under the same CA.
	moved, created, err := loadOrCreatePKI(dir, []string{"enroll.example.com"})
	if err != nil || !created {
		t.Fatalf("new host: created %v, err %v", created, err)
	}
	if !bytes.Equal(moved.CA.Raw, first.CA.Raw) || !bytes.Equal(moved.Signer.Raw, first.Signer.Raw) {
		t.Error("a new host replaced the CA or the profile signer")
	}
	if err := moved.TLS.Leaf.VerifyHostname("enroll.example.com"); err != nil {
		t.Error(err)
	}
}
