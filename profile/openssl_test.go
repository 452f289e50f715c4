package profile_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/internal/testenv"
	"github.com/enrollkit/enrollkit/profile"
)

func runOpenSSL(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestOpenSSLVerifiesOurSignature proves that OpenSSL accepts what Sign
// produces, with SHA-256 and the intermediate carried in the signature.
func TestOpenSSLVerifiesOurSignature(t *testing.T) {
	bin := testenv.LookPath(t, "openssl")
	for _, kind := range []string{"rsa", "ecdsa"} {
		t.Run(kind, func(t *testing.T) {
			ca := testPKI(t, kind, "Corp")
			dir := t.TempDir()
			p := testProfile(t)
			signed, err := profile.SignProfile(p, opaqueSigner{ca.leafKey}, ca.chain())
			if err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(dir, "signed.mobileconfig")
			if err := os.WriteFile(in, signed, 0o600); err != nil {
				t.Fatal(err)
			}
			rootFile := writePEM(t, dir, "root.pem", []*x509.Certificate{ca.root}, nil)
			out := runOpenSSL(t, bin, "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", rootFile, "-purpose", "any")
			want, _ := profile.Marshal(p)
			if !bytes.Equal(out, want) {
				t.Error("openssl's verified content differs from the profile")
			}

			printed := string(runOpenSSL(t, bin, "cms", "-cmsout", "-print", "-inform", "DER", "-in", in))
			for _, w := range []string{"sha256", "Profile Signing", "Intermediate CA", "messageDigest", "signingTime"} {
				if !strings.Contains(printed, w) {
					t.Errorf("openssl -cmsout -print lacks %q", w)
				}
			}
			if strings.Contains(printed, "sha1") {
				t.Error("signature mentions sha1")
			}

			// A foreign root must not verify.
			foreign := testPKI(t, kind, "Foreign")
			foreignFile := writePEM(t, dir, "foreign.pem", []*x509.Certificate{foreign.root}, nil)
			cmd := exec.Command(bin, "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", foreignFile, "-purpose", "any", "-out", os.DevNull)
			if err := cmd.Run(); err == nil {
				t.Error("openssl verified our signature against a foreign root")
			}
		})
	}
}

// TestWeVerifyOpenSSLSignature proves Parse accepts what OpenSSL signs,
// in DER and in streamed (indefinite-length BER) form.
func TestWeVerifyOpenSSLSignature(t *testing.T) {
	bin := testenv.LookPath(t, "openssl")
	for _, kind := range []string{"rsa", "ecdsa"} {
		for _, mode := range []string{"der", "ber-stream", "ber-stream-large", "binary-plist"} {
			t.Run(kind+"/"+mode, func(t *testing.T) {
				ca := testPKI(t, kind, "Corp")
				dir := t.TempDir()
				p := testProfile(t)
				if mode == "ber-stream-large" {
					// Larger than openssl's 4096-byte stream chunks.
					p.Payloads = append(p.Payloads, &profile.Generic{
						Header:      profile.Header{PayloadIdentifier: "com.example.blob", PayloadUUID: "B10B", PayloadVersion: 1},
						PayloadType: "com.example.blob",
						Content:     map[string]any{"Blob": bytes.Repeat([]byte{0xA5}, 20000)},
					})
				}
				format := profile.XML
				if mode == "binary-plist" {
					format = profile.Binary
				}
				content, err := profile.MarshalFormat(p, format)
				if err != nil {
					t.Fatal(err)
				}
				in := filepath.Join(dir, "profile.plist")
				if err := os.WriteFile(in, content, 0o600); err != nil {
					t.Fatal(err)
				}
				signerFile := writePEM(t, dir, "signer.pem", ca.chain()[:1], ca.leafKey)
				interFile := writePEM(t, dir, "inter.pem", ca.chain()[1:], nil)
				out := filepath.Join(dir, "signed.der")
				args := []string{"cms", "-sign", "-nodetach", "-binary", "-outform", "DER", "-md", "sha256",
					"-in", in, "-signer", signerFile, "-certfile", interFile, "-out", out}
				if strings.HasPrefix(mode, "ber-stream") {
					args = append(args, "-stream")
				}
				runOpenSSL(t, bin, args...)
				signed, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(mode, "ber-stream") && !bytes.Contains(signed[:4], []byte{0x80}) {
					t.Fatalf("openssl -stream did not produce indefinite-length BER: % x", signed[:4])
				}
				got, err := profile.Parse(signed, profile.ParseOptions{Roots: ca.roots(), RequireSignature: true})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Content, content) || got.Format != format {
					t.Errorf("content or format (%v) differs", got.Format)
				}
				if len(got.Chain) != 3 {
					t.Errorf("chain has %d certificates, want 3", len(got.Chain))
				}

				// A foreign root must not verify it.
				foreign := testPKI(t, kind, "Foreign")
				if _, err := profile.Parse(signed, profile.ParseOptions{Roots: foreign.roots()}); !errors.Is(err, profile.ErrUntrusted) {
					t.Errorf("foreign root: error = %v, want ErrUntrusted", err)
				}
				// Nor may tampered content.
				tampered := bytes.Clone(signed)
				i := bytes.Index(tampered, []byte("PayloadContent"))
				if i < 0 {
					t.Fatal("content not found in the signature")
				}
				tampered[i] = 'X'
				if _, err := profile.Parse(tampered, profile.ParseOptions{}); !errors.Is(err, profile.ErrSignature) {
					t.Errorf("tampered: error = %v, want ErrSignature", err)
				}
			})
		}
	}
}

// TestParseRejectsOpenSSLShapes covers signatures a profile must not
// take: detached (no content) and with two signers.
func TestParseRejectsOpenSSLShapes(t *testing.T) {
	bin := testenv.LookPath(t, "openssl")
	ca := testPKI(t, "ecdsa", "Corp")
	other := testPKI(t, "ecdsa", "Foreign")
	dir := t.TempDir()
	content, _ := profile.Marshal(testProfile(t))
	in := filepath.Join(dir, "profile.plist")
	if err := os.WriteFile(in, content, 0o600); err != nil {
		t.Fatal(err)
	}
	signer := writePEM(t, dir, "signer.pem", ca.chain()[:1], ca.leafKey)
	second := writePEM(t, dir, "second.pem", other.chain()[:1], other.leafKey)
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"detached", []string{"-signer", signer}, profile.ErrNotProfile},
		{"two signers", []string{"-nodetach", "-signer", signer, "-signer", second}, profile.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, tt.name+".der")
			args := append([]string{"cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256", "-in", in, "-out", out}, tt.args...)
			runOpenSSL(t, bin, args...)
			signed, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := profile.Parse(signed, profile.ParseOptions{}); !errors.Is(err, tt.want) {
				t.Errorf("error = %v, want %v", err, tt.want)
			}
		})
	}
}
