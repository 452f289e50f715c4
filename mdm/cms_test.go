package mdm_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/internal/testenv"
	"github.com/enrollkit/enrollkit/mdm"
)

// opensslSign signs body with openssl cms -sign and the given arguments and
// returns the DER (or BER) signature.
func opensslSign(t *testing.T, openssl, dir string, body []byte, cert, key string, args ...string) []byte {
	t.Helper()
	in := filepath.Join(dir, "body")
	out := filepath.Join(dir, "sig")
	if err := os.WriteFile(in, body, 0o600); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"cms", "-sign", "-in", in, "-signer", cert, "-inkey", key, "-out", out}, args...)
	if cmd := exec.Command(openssl, argv...); true {
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	sig, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func writeKey(t *testing.T, dir, name string, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "PRIVATE KEY", der)
}

func TestOpenSSLSignatures(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	dir := t.TempDir()
	ca := newCA(t, "Example Device CA", 0)
	rsaDev := rsaKey(t, 1)
	rsaCert := ca.issue(t, "rsa device", rsaDev.Public())
	ecDev, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecCert := ca.issue(t, "ec device", ecDev.Public())
	rsaCertPath := writePEM(t, dir, "rsa.pem", "CERTIFICATE", rsaCert.Raw)
	rsaKeyPath := writeKey(t, dir, "rsa.key", rsaDev)
	ecCertPath := writePEM(t, dir, "ec.pem", "CERTIFICATE", ecCert.Raw)
	ecKeyPath := writeKey(t, dir, "ec.key", ecDev)
	body := plistDoc(`<key>MessageType</key><string>TokenUpdate</string><key>EnrollmentID</key><string>E</string><key>Token</key><data>AQI=</data><key>PushMagic</key><string>m</string>`)

	tests := []struct {
		name       string
		cert, key  string
		want       *x509.Certificate
		args       []string
		ber        bool
		wantErr    error
		noTamperOK bool
	}{
		{"sha1 stream noattr (BER)", rsaCertPath, rsaKeyPath, rsaCert, []string{"-md", "sha1", "-stream", "-noattr", "-binary", "-outform", "DER"}, true, nil, false},
		{"default attributes", rsaCertPath, rsaKeyPath, rsaCert, []string{"-binary", "-outform", "DER"}, false, nil, false},
		{"sha1 with attributes", rsaCertPath, rsaKeyPath, rsaCert, []string{"-md", "sha1", "-binary", "-outform", "DER"}, false, nil, false},
		{"sha256", rsaCertPath, rsaKeyPath, rsaCert, []string{"-md", "sha256", "-binary", "-outform", "DER"}, false, nil, false},
		{"sha256 noattr", rsaCertPath, rsaKeyPath, rsaCert, []string{"-md", "sha256", "-noattr", "-binary", "-outform", "DER"}, false, nil, false},
		{"sha1 noattr detached DER", rsaCertPath, rsaKeyPath, rsaCert, []string{"-md", "sha1", "-noattr", "-binary", "-outform", "DER"}, false, nil, false},
		{"stream with attributes (BER)", rsaCertPath, rsaKeyPath, rsaCert, []string{"-stream", "-binary", "-outform", "DER"}, true, nil, false},
		{"sha512", rsaCertPath, rsaKeyPath, rsaCert, []string{"-md", "sha512", "-binary", "-outform", "DER"}, false, nil, false},
		{"ecdsa sha256", ecCertPath, ecKeyPath, ecCert, []string{"-md", "sha256", "-binary", "-outform", "DER"}, false, nil, false},
		{"ecdsa noattr", ecCertPath, ecKeyPath, ecCert, []string{"-md", "sha256", "-noattr", "-binary", "-outform", "DER"}, false, nil, false},
		{"signer by subjectKeyIdentifier", rsaCertPath, rsaKeyPath, rsaCert, []string{"-keyid", "-md", "sha1", "-noattr", "-binary", "-outform", "DER"}, false, nil, false},
		{"sha1 stream noattr as S/MIME (detached)", rsaCertPath, rsaKeyPath, rsaCert, []string{"-md", "sha1", "-stream", "-noattr", "-binary"}, false, nil, false},
		{"no certificate", rsaCertPath, rsaKeyPath, nil, []string{"-nocerts", "-binary", "-outform", "DER"}, false, mdm.ErrNoCertificate, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sign := func(b []byte) []byte {
				sig := opensslSign(t, openssl, dir, b, tc.cert, tc.key, tc.args...)
				if !slices.Contains(tc.args, "-outform") {
					sig = smimeSignature(t, sig)
				}
				return sig
			}
			sig := sign(body)
			if isBER := sig[1] == 0x80; isBER != tc.ber {
				t.Fatalf("openssl produced BER=%v, want %v", isBER, tc.ber)
			}
			leaf, certs, err := mdm.VerifySignature(sig, body)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("VerifySignature = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifySignature: %v", err)
			}
			if !leaf.Equal(tc.want) || len(certs) != 1 {
				t.Fatalf("signer = %s (%d certificates)", leaf.Subject, len(certs))
			}
			tampered := bytes.Replace(body, []byte("AQI="), []byte("AQM="), 1)
			if _, _, err := mdm.VerifySignature(sig, tampered); !errors.Is(err, mdm.ErrBadSignature) {
				t.Fatalf("tampered body: %v, want ErrBadSignature", err)
			}
			// The same signature through the handler, as a device sends it.
			h := newHarness(t, func(o *mdm.Config) { o.Roots = []*x509.Certificate{ca.cert} })
			auth := plistDoc(`<key>MessageType</key><string>Authenticate</string><key>EnrollmentID</key><string>E</string><key>Topic</key><string>t</string>`)
			asig := sign(auth)
			wantSigned(t, h.svc, auth, asig, http.StatusOK, "handler")
			wantSigned(t, h.svc, body, sig, http.StatusOK, "handler TokenUpdate")
			wantSigned(t, h.svc, tampered, sig, http.StatusUnauthorized, "handler, tampered")
		})
	}
}

// TestOpenSSLSHA1Chain checks an identity certificate signed with SHA-1 by
// its CA, which crypto/x509 refuses in chains, and one from a foreign CA.
func TestOpenSSLSHA1Chain(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	dir := t.TempDir()
	ca := newCA(t, "Legacy SCEP CA", 0)
	caPath := writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.cert.Raw)
	caKey := writeKey(t, dir, "ca.key", ca.key)
	devKey := writeKey(t, dir, "dev.key", rsaKey(t, 1))
	run := func(args ...string) {
		t.Helper()
		if b, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, b)
		}
	}
	run("req", "-new", "-key", devKey, "-subj", "/CN=legacy device", "-out", filepath.Join(dir, "dev.csr"))
	run("x509", "-req", "-in", filepath.Join(dir, "dev.csr"), "-CA", caPath, "-CAkey", caKey, "-sha1", "-days", "1",
		"-set_serial", "4242", "-out", filepath.Join(dir, "dev.pem"))
	raw, _ := os.ReadFile(filepath.Join(dir, "dev.pem"))
	blk, _ := pem.Decode(raw)
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.SignatureAlgorithm != x509.SHA1WithRSA {
		t.Fatalf("leaf signed with %v", leaf.SignatureAlgorithm)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool(ca.cert)}); err == nil {
		t.Log("crypto/x509 now accepts SHA-1 chains; the fallback is unused")
	}
	h := newHarness(t, func(o *mdm.Config) { o.Roots = []*x509.Certificate{ca.cert} })
	auth := plistDoc(`<key>MessageType</key><string>Authenticate</string><key>EnrollmentID</key><string>LEGACY</string><key>Topic</key><string>t</string>`)
	sig := opensslSign(t, openssl, dir, auth, filepath.Join(dir, "dev.pem"), devKey, "-md", "sha1", "-stream", "-noattr", "-binary", "-outform", "DER")
	wantSigned(t, h.svc, auth, sig, http.StatusOK, "SHA-1 leaf")
	// A second request hits the verified-certificate cache.
	wantSigned(t, h.svc, auth, sig, http.StatusOK, "SHA-1 leaf, cached")
	// The same SHA-1 leaf is refused by a service trusting another CA.
	other := newHarness(t, nil)
	wantSigned(t, other.svc, auth, sig, http.StatusForbidden, "SHA-1 leaf from a foreign CA")
	if _, err := other.svc.Enrollment(context.Background(), "LEGACY"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatal("refused Authenticate was stored")
	}
}

// smimeSignature extracts the detached signature from openssl's S/MIME
// (multipart/signed) output. The signed part has no headers of its own with
// -binary, so the parts are split by hand rather than with mime/multipart.
func smimeSignature(t *testing.T, smime []byte) []byte {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(smime))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(msg.Body)
	for _, part := range strings.Split(string(rest), "--"+params["boundary"]) {
		part = strings.ReplaceAll(part, "\r\n", "\n")
		hdr, content, ok := strings.Cut(strings.TrimLeft(part, "\n"), "\n\n")
		if ok && strings.Contains(hdr, "application/pkcs7-signature") {
			sig, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(content), ""))
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}
	}
	t.Fatal("no signature part in the S/MIME output")
	return nil
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
