package apns_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"time"

	vault "github.com/sosedoff/ansible-vault-go"

	"github.com/enrollkit/enrollkit/apns"
	"github.com/enrollkit/enrollkit/credentials"
	"github.com/enrollkit/enrollkit/mdm"
)

// pushCertificatePEM stands in for the MDM push certificate an operator
// renews every year at the Apple Push Certificates Portal, with its key.
func pushCertificatePEM(topic string) []byte {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject: pkix.Name{
			CommonName: "APSP:" + topic,
			ExtraNames: []pkix.AttributeTypeAndValue{
				{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: topic},
			},
		},
		NotBefore: time.Now().Add(-time.Hour),
		NotAfter:  time.Now().Add(365 * 24 * time.Hour),
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	return append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
}

// Load the push certificate from an Ansible Vault file with package
// credentials, the vault password coming from the environment, and build a
// client from it. The topic comes from the certificate.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "apns-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "push.pem.vault")
	// What `ansible-vault encrypt push.pem` produces.
	vault.EncryptFile(path, string(pushCertificatePEM("com.apple.mgmt.External.2b5c8a1e-4f3d-4e6a-9b1c-7d8e9f0a1b2c")), "correct horse")
	os.Setenv("ENROLLKIT_VAULT_PASSWORD", "correct horse")

	loader := credentials.Loader{VaultPassword: credentials.PasswordEnv("ENROLLKIT_VAULT_PASSWORD")}
	cert, err := loader.LoadTLSCertificate(context.Background(), path)
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := apns.New(cert, apns.Options{}) // production APNs, a week's expiration, priority 10
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	fmt.Println(client.Topic())
	// Output: com.apple.mgmt.External.2b5c8a1e-4f3d-4e6a-9b1c-7d8e9f0a1b2c
}

// A certificate that is not an MDM push certificate is refused with a
// TopicError.
func ExampleTopic() {
	block, _ := pem.Decode(pushCertificatePEM("com.example.app")[len("-----BEGIN PRIVATE KEY-----"):])
	cert, _ := x509.ParseCertificate(block.Bytes)
	_, err := apns.Topic(cert)
	fmt.Println(errors.Is(err, apns.ErrTopic))
	fmt.Println(err)
	// Output:
	// true
	// apns: certificate topic "com.example.app" does not start with "com.apple.mgmt."
}

// Push a batch of devices and act on each result: forget dead tokens, alert
// on certificate problems, try the others again later.
func ExampleClient_Push() {
	var client *apns.Client // from apns.New
	var targets []mdm.PushTarget

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results, err := client.Push(ctx, targets)
	if err != nil {
		log.Printf("push: %v", err) // the call ended early; results say which went out
	}
	for _, r := range results {
		switch {
		case r.Err == nil:
			// APNs accepted it; r.ID names it.
		case errors.Is(r.Err, mdm.ErrPushTokenDead):
			// Stop pushing this token until the next TokenUpdate.
		case errors.Is(r.Err, apns.ErrCertificate):
			log.Printf("renew the push certificate: %v", r.Err)
		case errors.Is(r.Err, apns.ErrUnavailable):
			// Transient: push again later.
		}
	}
}
