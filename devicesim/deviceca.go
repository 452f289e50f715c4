package devicesim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"github.com/enrollkit/enrollkit/internal/pemca"
)

// DeviceCA stands in for Apple's device identity hierarchy (Apple Root CA →
// Apple iPhone Device CA → device). A server under test trusts Root (see
// RootPEM) where in production it would trust Apple's root, and checks the
// account-driven enrollment request's signer against it.
type DeviceCA struct {
	// Root is the self-signed root certificate.
	Root *x509.Certificate
	// Intermediate is the "iPhone Device CA" that issues device identities.
	Intermediate *x509.Certificate

	rootKey *ecdsa.PrivateKey
	intKey  *ecdsa.PrivateKey
}

// NewDeviceCA creates a fresh root and intermediate with new keys.
func NewDeviceCA() (*DeviceCA, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devicesim: device CA key: %w", err)
	}
	intKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devicesim: device CA key: %w", err)
	}
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "Simulated Apple Root CA", Organization: []string{"enrollkit devicesim"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, fmt.Errorf("devicesim: device CA root: %w", err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	intTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "Simulated Apple iPhone Device CA", Organization: []string{"enrollkit devicesim"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	intDER, err := x509.CreateCertificate(rand.Reader, intTmpl, root, &intKey.PublicKey, rootKey)
	if err != nil {
		return nil, fmt.Errorf("devicesim: device CA intermediate: %w", err)
	}
	inter, _ := x509.ParseCertificate(intDER)
	return &DeviceCA{Root: root, Intermediate: inter, rootKey: rootKey, intKey: intKey}, nil
}

// RootPEM returns the root certificate in PEM form, the file a server is
// configured with in place of Apple's root.
func (ca *DeviceCA) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Root.Raw})
}

// Pool returns a pool holding only the root.
func (ca *DeviceCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Root)
	return p
}

// MarshalPEM returns the root, the intermediate and both private keys in
// PEM form, for LoadDeviceCA. Keep the result private: it can mint device
// identities.
func (ca *DeviceCA) MarshalPEM() ([]byte, error) {
	out, err := pemca.Marshal([]*x509.Certificate{ca.Root, ca.Intermediate}, []*ecdsa.PrivateKey{ca.rootKey, ca.intKey})
	if err != nil {
		return nil, fmt.Errorf("devicesim: device CA: %w", err)
	}
	return out, nil
}

// LoadDeviceCA reads what MarshalPEM wrote.
func LoadDeviceCA(data []byte) (*DeviceCA, error) {
	certs, keys, err := pemca.Load(data, 2, 2)
	if err != nil {
		return nil, fmt.Errorf("devicesim: device CA: %w", err)
	}
	return &DeviceCA{Root: certs[0], Intermediate: certs[1], rootKey: keys[0], intKey: keys[1]}, nil
}

// NewIdentity issues a device identity: an RSA key and a leaf certificate
// under Intermediate whose subject names no serial number or UDID.
func (ca *DeviceCA) NewIdentity() (*x509.Certificate, *rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("devicesim: device identity key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "Simulated iPhone", OrganizationalUnit: []string{"devicesim"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Intermediate, &key.PublicKey, ca.intKey)
	if err != nil {
		return nil, nil, fmt.Errorf("devicesim: device identity: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("devicesim: device identity: %w", err)
	}
	return cert, key, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("devicesim: crypto/rand failed: " + err.Error())
	}
	return n.Add(n, big.NewInt(1))
}
