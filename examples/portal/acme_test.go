package main

import (
	"crypto/ecdsa"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/acme/acmetest"
	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
)

// TestACMEEnrollmentEndToEnd runs the example server with -acme and a test
// attestation root: a simulated iPhone enrolls through the portal with an
// attested Secure Enclave key and answers commands with it.
func TestACMEEnrollmentEndToEnd(t *testing.T) {
	root, err := acmetest.NewRoot("example test Attestation Root CA")
	if err != nil {
		t.Fatal(err)
	}
	rootFile := filepath.Join(t.TempDir(), "attestation-root.pem")
	if err := os.WriteFile(rootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, "-tls", "-acme", "-acme-attestation-root", rootFile)
	var inv invitationOut
	if code := ts.admin(t, "POST", "/invitations", map[string]string{"user": "alice"}, &inv); code != http.StatusCreated {
		t.Fatalf("invite: %d", code)
	}
	d, err := devicesim.New(devicesim.Options{HTTPClient: ts.client, ProfileRoots: ts.st.pki.Roots(), AttestationRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	ts.apns.Add(d)
	if err := d.EnrollWithInvitation(t.Context(), inv.URL, devicesim.Credentials{
		Username: "alice", Password: "correct horse", Passcode: inv.Passcode,
	}); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if e := ts.enrollment(t, inv.EnrollmentID); e.State != enroll.StateEnrolled {
		t.Fatalf("state after enrollment = %s", e.State)
	}
	de, _ := d.Enrollment()
	if _, ok := de.Key.(*ecdsa.PrivateKey); !ok {
		t.Fatalf("identity key is %T, want the ECDSA Secure Enclave key of an ACME identity", de.Key)
	}
	if err := de.Certificate.CheckSignatureFrom(ts.st.pki.CA); err != nil {
		t.Fatalf("identity not issued by the development CA: %v", err)
	}
	exerciseMDM(t, ts, d, inv.EnrollmentID)
}

// TestACMEFlags checks that the ACME settings need -acme.
func TestACMEFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-acme-attestation-root", "root.pem"},
		{"-acme-scep-fallback"},
	} {
		if _, _, err := parseFlags(args, io.Discard); err == nil || !strings.Contains(err.Error(), "need -acme") {
			t.Errorf("parseFlags(%q) = %v", args, err)
		}
	}
}
