package acmetest

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/enrollkit/enrollkit/internal/pemca"
)

// RootPEM returns the root certificate in PEM form, for a server's
// acme.Config.AttestationRoots (the example server's
// -acme-attestation-root).
func (r *Root) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate.Raw})
}

// MarshalPEM returns the root, the intermediate and the intermediate's
// private key in PEM form, for LoadRoot, so that a simulated device keeps
// attesting under the same root between runs. Keep the result private: it
// can attest any key.
func (r *Root) MarshalPEM() ([]byte, error) {
	out, err := pemca.Marshal([]*x509.Certificate{r.Certificate, r.Intermediate}, []*ecdsa.PrivateKey{r.interKey})
	if err != nil {
		return nil, fmt.Errorf("acmetest: attestation root: %w", err)
	}
	return out, nil
}

// LoadRoot reads what MarshalPEM wrote.
func LoadRoot(data []byte) (*Root, error) {
	certs, keys, err := pemca.Load(data, 2, 1)
	if err != nil {
		return nil, fmt.Errorf("acmetest: attestation root: %w", err)
	}
	return &Root{Certificate: certs[0], Intermediate: certs[1], interKey: keys[0]}, nil
}
