package cms_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/internal/cms"
	"github.com/enrollkit/enrollkit/internal/testenv"
)

func selfSigned(t *testing.T, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(300), Subject: pkix.Name{CommonName: "signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOpenSSLVerifiesEveryForm signs with every combination of options
// and key type, and has OpenSSL verify each signature (and refuse it over
// other content).
func TestOpenSSLVerifiesEveryForm(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]crypto.Signer{"rsa": rk, "ecdsa": ek}
	content := []byte("<plist><dict/></plist>\n")
	for name, key := range keys {
		cert := selfSigned(t, key)
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			for form := range 16 {
				if h != crypto.SHA256 && form != 0 && form != 15 {
					continue // every form with SHA-256; the plainest and the device's with the others
				}
				o := cms.Options{Hash: h, Detached: form&1 != 0, NoSignedAttributes: form&2 != 0,
					DeviceAlgorithms: form&4 != 0, Indefinite: form&8 != 0}
				t.Run(fmt.Sprintf("%s/%v/%+v", name, h, o), func(t *testing.T) {
					s, err := cms.NewSigner(key, []*x509.Certificate{cert}, o)
					if err != nil {
						t.Fatal(err)
					}
					sig, err := s.Sign(content, time.Now(), rand.Reader)
					if err != nil {
						t.Fatal(err)
					}
					if indefinite := sig[1] == 0x80; indefinite != o.Indefinite {
						t.Errorf("outer length %#x, indefinite %v", sig[1], o.Indefinite)
					}
					if got := bytes.Contains(sig, content); got == o.Detached {
						t.Errorf("content included: %v, detached: %v", got, o.Detached)
					}
					dir := t.TempDir()
					if err := opensslVerify(openssl, dir, sig, content, o.Detached); err != nil {
						t.Fatal(err)
					}
					if o.Detached {
						if err := opensslVerify(openssl, dir, sig, append(bytes.Clone(content), ' '), true); err == nil {
							t.Fatal("openssl verified the signature over other content")
						}
					}
				})
			}
		}
	}
}

func opensslVerify(openssl, dir string, sig, content []byte, detached bool) error {
	sp, cp := filepath.Join(dir, "sig.der"), filepath.Join(dir, "content")
	if err := os.WriteFile(sp, sig, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(cp, content, 0o600); err != nil {
		return err
	}
	args := []string{"cms", "-verify", "-binary", "-inform", "DER", "-in", sp, "-noverify", "-out", os.DevNull}
	if detached {
		args = append(args, "-content", cp)
	}
	if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("openssl cms -verify: %v: %s", err, out)
	}
	return nil
}

func TestNewSignerRefuses(t *testing.T) {
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := selfSigned(t, ek)
	tests := []struct {
		name  string
		key   crypto.Signer
		certs []*x509.Certificate
		opts  cms.Options
		want  error
	}{
		{"no certificate", ek, nil, cms.Options{}, cms.ErrNoCertificate},
		{"nil certificate", ek, []*x509.Certificate{nil}, cms.Options{}, cms.ErrNoCertificate},
		{"nil intermediate", ek, []*x509.Certificate{cert, nil}, cms.Options{}, cms.ErrNoCertificate},
		{"nil key", nil, []*x509.Certificate{cert}, cms.Options{}, cms.ErrUnsupported},
		{"MD5", ek, []*x509.Certificate{cert}, cms.Options{Hash: crypto.MD5}, cms.ErrUnsupported},
		{"Ed25519-like key", opaque{}, []*x509.Certificate{cert}, cms.Options{}, cms.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := cms.NewSigner(tt.key, tt.certs, tt.opts); !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

// opaque is a crypto.Signer whose public key is neither RSA nor ECDSA.
type opaque struct{}

func (opaque) Public() crypto.PublicKey { return "not a key" }
func (opaque) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("unused")
}
