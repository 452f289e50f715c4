package main

import (
	"crypto/ecdsa"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/acme/acmetest"
	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/internal/testenv"
)

// TestACMEEnrollmentEndToEnd runs the example server with -acme and a test
// attestation root: a simulated iPhone enrolls through the portal with an
// attested Secure Enclave key and answers commands with it.
func TestACMEEnrollmentEndToEnd(t *testing.T) {
	root, rootFile := attestationRoot(t)
	testACMEProfileBased(t, startServer(t, "-tls", "-acme", "-acme-attestation-root", rootFile), root)
}

// TestACMEReplicasEndToEnd runs the same against two replicas over one
// PostgreSQL database behind a round-robin balancer: the device's ACME
// requests alternate between them, so an account, an order or a nonce one
// replica made is used on the other.
func TestACMEReplicasEndToEnd(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	var b [6]byte
	rand.Read(b[:])
	schema := fmt.Sprintf("portal_acme_replicas_%x", b)
	t.Cleanup(func() { dropSchema(t, dsn, schema) }) // after the replicas close
	root, rootFile := attestationRoot(t)
	ts := startReplicas(t, 2, "-tls", "-postgres", dsn, "-postgres-schema", schema, "-acme", "-acme-attestation-root", rootFile)
	acmeBefore := strings.Count(ts.log.String(), "acme")
	testACMEProfileBased(t, ts, root)
	for i := range ts.served {
		if got := ts.served[i].Load(); got < 5 {
			t.Errorf("replica %d served %d requests", i, got)
		}
	}
	for _, replica := range []string{"replica=0", "replica=1"} {
		if !strings.Contains(ts.log.String(), replica) {
			t.Errorf("no log of %s", replica)
		}
	}
	if strings.Count(ts.log.String(), "acme") == acmeBefore {
		t.Error("the ACME endpoint logged nothing")
	}
}

// attestationRoot makes a test attestation root and writes its
// certificate for -acme-attestation-root.
func attestationRoot(t *testing.T) (*acmetest.Root, string) {
	t.Helper()
	root, err := acmetest.NewRoot("example test Attestation Root CA")
	if err != nil {
		t.Fatal(err)
	}
	rootFile := filepath.Join(t.TempDir(), "attestation-root.pem")
	if err := os.WriteFile(rootFile, root.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return root, rootFile
}

// testACMEProfileBased: a simulated iPhone enrolls through the portal with
// a key attested under root and answers commands with it.
func testACMEProfileBased(t *testing.T, ts *testServer, root *acmetest.Root) {
	t.Helper()
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
	acmeCredential(t, ts, d, inv.EnrollmentID)
	exerciseMDM(t, ts, d, inv.EnrollmentID)
}

// acmeCredential creates an ACME credential asset through the admin API,
// installs it with a Security:Identity configuration on the enrollment's
// device, and checks that the device obtained an attested credential from
// the development CA that is not its MDM identity.
func acmeCredential(t *testing.T, ts *testServer, d *devicesim.Device, enrollmentID string) {
	t.Helper()
	if code := ts.admin(t, "PUT", "/acme-credentials/corp-identity", nil, nil); code != http.StatusOK {
		t.Fatalf("PUT acme-credentials: %d", code)
	}
	for _, decl := range []struct {
		id   string
		body map[string]any
	}{
		{"corp-identity-config", map[string]any{"type": "com.apple.configuration.security.identity", "payload": map[string]any{"CredentialAssetReference": "corp-identity"}}},
		{"corp-identity-activation", map[string]any{"type": "com.apple.activation.simple", "payload": map[string]any{"StandardConfigurations": []string{"corp-identity-config"}}}},
	} {
		if code := ts.admin(t, "PUT", "/declarations/"+decl.id, decl.body, nil); code != http.StatusOK {
			t.Fatalf("PUT declaration %s: %d", decl.id, code)
		}
	}
	if code := ts.admin(t, "PUT", "/enrollments/"+enrollmentID+"/declarations", map[string]any{"declarations": []string{"corp-identity-activation"}}, nil); code != http.StatusOK {
		t.Fatalf("assign: %d", code)
	}
	if err := d.SyncDeclarations(t.Context()); err != nil {
		t.Fatal(err)
	}
	asset := d.Declarations()["corp-identity"]
	if asset.Valid != "valid" || asset.Certificate == nil {
		t.Fatalf("ACME credential asset: valid %q, reason %q (%s)", asset.Valid, asset.Reason, asset.Detail)
	}
	if err := asset.Certificate.CheckSignatureFrom(ts.st.pki.CA); err != nil {
		t.Fatalf("credential not issued by the development CA: %v", err)
	}
	if de, _ := d.Enrollment(); de.Certificate.Equal(asset.Certificate) {
		t.Fatal("the credential replaced the MDM identity")
	}
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
