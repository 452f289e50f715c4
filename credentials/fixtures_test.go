package credentials

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/sosedoff/ansible-vault-go"

	"github.com/enrollkit/enrollkit/internal/testenv"
)

// now is the instant every fixture is checked against.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return now }

// rsaKey is generated once: RSA key generation is slow under -race.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func newKey(t *testing.T, kind string) crypto.Signer {
	t.Helper()
	switch kind {
	case "rsa":
		return rsaKey()
	case "ecdsa":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	t.Fatalf("unknown key kind %q", kind)
	return nil
}

// pki is a root CA, an intermediate and a leaf.
type pki struct {
	rootKey, interKey, leafKey crypto.Signer
	root, inter, leaf          *x509.Certificate
}

type certOpts struct {
	notBefore, notAfter time.Time
}

func issue(t *testing.T, cn string, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer, ca bool, o certOpts) *x509.Certificate {
	t.Helper()
	if o.notBefore.IsZero() {
		o.notBefore = now.Add(-24 * time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = now.Add(365 * 24 * time.Hour)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Example Corp"}},
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		BasicConstraintsValid: true,
		IsCA:                  ca,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newPKI(t *testing.T, leafKind string, leaf certOpts) *pki {
	t.Helper()
	p := &pki{rootKey: newKey(t, "ecdsa"), interKey: newKey(t, "ecdsa"), leafKey: newKey(t, leafKind)}
	p.root = issue(t, "Example Root CA", p.rootKey.Public(), nil, p.rootKey, true, certOpts{})
	p.inter = issue(t, "Example Intermediate CA", p.interKey.Public(), p.root, p.rootKey, true, certOpts{})
	p.leaf = issue(t, "Example Leaf", p.leafKey.Public(), p.inter, p.interKey, false, leaf)
	return p
}

func certPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func pkcs8DER(t *testing.T, k crypto.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func sec1DER(t *testing.T, k crypto.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func keyPEM(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func x25519PKCS8(t *testing.T) []byte {
	t.Helper()
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pkcs8DER(t, k)
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func encryptVault(t *testing.T, plain []byte, password string) []byte {
	t.Helper()
	s, err := vault.Encrypt(string(plain), password)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s + "\n")
}

// exportPKCS12 writes a PKCS#12 file with openssl pkcs12 -export. extra are
// further openssl arguments, such as the legacy algorithm choices.
func exportPKCS12(t *testing.T, key crypto.PrivateKey, leaf *x509.Certificate, chain []*x509.Certificate, password string, extra ...string) []byte {
	t.Helper()
	openssl := testenv.LookPath(t, "openssl")
	dir := t.TempDir()
	keyPath := writeFile(t, dir, "key.pem", keyPEM(t, "PRIVATE KEY", pkcs8DER(t, key)))
	leafPath := writeFile(t, dir, "leaf.pem", certPEM(leaf))
	out := filepath.Join(dir, "id.p12")
	args := []string{"pkcs12", "-export", "-inkey", keyPath, "-in", leafPath, "-out", out, "-passout", "pass:" + password}
	if len(chain) > 0 {
		args = append(args, "-certfile", writeFile(t, dir, "chain.pem", certPEM(chain...)))
	}
	args = append(args, extra...)
	cmd := exec.Command(openssl, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// legacyPKCS12 are the algorithms of PKCS#12 files from older tools
// (SHA-1 MAC, 3DES), which OpenSSL 3's default provider still writes.
var legacyPKCS12 = []string{"-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES", "-macalg", "sha1"}

func x509MarshalPKCS1(k crypto.Signer) []byte {
	return x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))
}

func bigOne() *big.Int { return big.NewInt(1) }
