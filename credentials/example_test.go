package credentials_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	vault "github.com/sosedoff/ansible-vault-go"

	"github.com/enrollkit/enrollkit/credentials"
)

// makeKeyAndCert stands in for what an operator provides: a PKCS#8 PEM
// private key and a self-signed certificate for it.
func makeKeyAndCert() (keyPEM, certPEM []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "Example Profile Signer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	cder, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cder})
	return keyPEM, certPEM
}

// writeKeyAndCert writes them to dir as signer.key and signer.crt.
func writeKeyAndCert(dir string) (keyPEM, certPEM []byte) {
	keyPEM, certPEM = makeKeyAndCert()
	os.WriteFile(filepath.Join(dir, "signer.key"), keyPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "signer.crt"), certPEM, 0o644)
	return keyPEM, certPEM
}

// Load a private key from a PEM file as a crypto.Signer.
func ExampleLoadSigner() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	writeKeyAndCert(dir)

	signer, err := credentials.LoadSigner(context.Background(), filepath.Join(dir, "signer.key"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%T\n", signer)
	// Output: *ecdsa.PrivateKey
}

// Parse a PEM private key already in memory.
func ExampleParseSigner() {
	keyPEM, _ := makeKeyAndCert()
	signer, err := credentials.ParseSigner(context.Background(), keyPEM)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(signer.Public().(*ecdsa.PublicKey).Curve.Params().Name)
	// Output: P-256
}

// Load a key and its certificate as an Identity: the signer with its chain,
// checked to belong together and to be valid now.
func ExampleLoader_LoadIdentity() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	writeKeyAndCert(dir)

	var l credentials.Loader
	id, err := l.LoadIdentity(context.Background(), filepath.Join(dir, "signer.key"), filepath.Join(dir, "signer.crt"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(id.Leaf().Subject.CommonName, len(id.Chain))
	// Output: Example Profile Signer 1
}

// Load a tls.Certificate from a PEM bundle kept in an Ansible Vault file,
// with the vault password in an environment variable, as for the MDM push
// certificate of an APNs client.
func ExampleLoader_LoadTLSCertificate() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	keyPEM, certPEM := makeKeyAndCert()
	// What `ansible-vault encrypt push.pem` produces:
	vault.EncryptFile(filepath.Join(dir, "push.pem.vault"), string(keyPEM)+string(certPEM), "correct horse")
	os.Setenv("EXAMPLE_VAULT_PASSWORD", "correct horse")
	defer os.Unsetenv("EXAMPLE_VAULT_PASSWORD")

	l := credentials.Loader{VaultPassword: credentials.PasswordEnv("EXAMPLE_VAULT_PASSWORD")}
	cert, err := l.LoadTLSCertificate(context.Background(), filepath.Join(dir, "push.pem.vault"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cert.Leaf.Subject.CommonName)

	l.VaultPassword = credentials.PasswordString("wrong")
	_, err = l.LoadTLSCertificate(context.Background(), filepath.Join(dir, "push.pem.vault"))
	fmt.Println(errors.Is(err, credentials.ErrWrongVaultPassword))
	// Output:
	// Example Profile Signer
	// true
}

func ExampleSniff() {
	fmt.Println(credentials.Sniff([]byte("$ANSIBLE_VAULT;1.1;AES256\n6162")))
	fmt.Println(credentials.Sniff([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n")))
	fmt.Println(credentials.Sniff([]byte("hello")))
	// Output:
	// Ansible Vault
	// PEM
	// unknown
}
