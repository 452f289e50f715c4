package profile_test

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

	"github.com/enrollkit/enrollkit/credentials"
	"github.com/enrollkit/enrollkit/profile"
)

// exampleEnrollment is what a server knows about itself and one
// enrollment.
func exampleEnrollment() profile.EnrollmentSpec {
	return profile.EnrollmentSpec{
		Identifier:   "com.example.mdm.enroll",
		Seed:         "enrollment-42", // the enrollment's ID: fixes the UUIDs
		DisplayName:  "Example Corp Work Profile",
		Organization: "Example Corp",
		Topic:        "com.apple.mgmt.External.5e6a9f3c-1111-4b4b-9c9c-0123456789ab",
		ServerURL:    "https://mdm.example.com/mdm/command",
		CheckInURL:   "https://mdm.example.com/mdm/checkin",
		SignMessage:  true,
		Identity: &profile.SCEP{
			URL:       "https://mdm.example.com/scep",
			Subject:   profile.CommonName("enrollment-42"),
			Challenge: "one-time-challenge",
			Keysize:   2048,
		},
	}
}

func printProfile(p *profile.Profile) {
	fmt.Println(p.PayloadIdentifier, p.PayloadUUID)
	for _, pl := range p.Payloads {
		h := pl.PayloadHeader()
		fmt.Println(" ", pl.Type(), h.PayloadIdentifier, h.PayloadUUID)
	}
}

// A profile-based User Enrollment profile (iOS 13–17), served from the
// portal as a .mobileconfig download.
func ExampleNewUserEnrollment() {
	p, err := profile.NewUserEnrollment(exampleEnrollment(), "jane@example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	printProfile(p)
	m := p.MDM()
	fmt.Printf("ManagedAppleID=%s AccessRights=%d\n", m.ManagedAppleID, m.AccessRights)
	// Output:
	// com.example.mdm.enroll 79EA9B93-8B06-5C31-964B-483C59D00B13
	//   com.apple.mdm com.example.mdm.enroll.mdm 3FE9C5E7-8C7F-53E6-A9F3-73AB2EBE3C38
	//   com.apple.security.scep com.example.mdm.enroll.identity 93DDE233-55F1-5B52-A2C9-8D7C0EE96C4D
	// ManagedAppleID=jane@example.com AccessRights=0
}

// The profile of an account-driven User Enrollment (iOS 15+), returned to
// the device after the portal hand-off. AccessRights must stay absent.
func ExampleNewAccountDrivenUserEnrollment() {
	p, err := profile.NewAccountDrivenUserEnrollment(exampleEnrollment(), "jane@example.com")
	if err != nil {
		fmt.Println(err)
		return
	}
	m := p.MDM()
	fmt.Println(m.EnrollmentMode, m.AssignedManagedAppleID, m.IdentityCertificateUUID == p.Payloads[1].PayloadHeader().PayloadUUID)

	// Setting AccessRights on a BYOD profile is refused with a typed error
	// naming the field.
	m.AccessRights = profile.AllRights
	err = p.Validate(profile.ValidateOptions{})
	var fe *profile.FieldError
	fmt.Println(errors.Is(err, profile.ErrAccessRightsForbidden), errors.As(err, &fe) && fe.Field == "PayloadContent[0].AccessRights")
	// Output:
	// BYOD jane@example.com true
	// true true
}

// A device enrollment profile for a corporate-owned device, trusting the
// server's own CA. AccessRights is required.
func ExampleNewDeviceEnrollment() {
	_, err := profile.NewDeviceEnrollment(exampleEnrollment(), 0)
	fmt.Println(err)

	p, err := profile.NewDeviceEnrollment(exampleEnrollment(), profile.AllRights)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.MDM().AccessRights)
	// Output:
	// profile: PayloadContent[0].AccessRights: AccessRights is required for device enrollment
	// 8191
}

// Sign a profile and read it back as a device does, verifying the chain.
func ExampleSignProfile() {
	key, chain, roots := exampleCA()
	p, _ := profile.NewAccountDrivenUserEnrollment(exampleEnrollment(), "jane@example.com")
	signed, err := profile.SignProfile(p, key, chain)
	if err != nil {
		fmt.Println(err)
		return
	}
	got, err := profile.Parse(signed, profile.ParseOptions{Roots: roots, RequireSignature: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got.Signed, got.Chain[0].Subject.CommonName, got.Profile.MDM().AssignedManagedAppleID)
	// Output: true Example Profile Signer jane@example.com
}

// Load the signing identity with package credentials — a PEM key and
// certificate here; PKCS#12 and Ansible Vault files work the same — and
// sign with it. Any crypto.Signer works, including HSM and KMS keys.
func ExampleNewSigner_credentials() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	keyFile, certFile := writeExampleIdentity(dir)

	id, err := credentials.LoadIdentity(context.Background(), keyFile, certFile)
	if err != nil {
		fmt.Println(err)
		return
	}
	signer, err := profile.NewSigner(id.Signer, id.Chain)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := profile.NewAccountDrivenUserEnrollment(exampleEnrollment(), "jane@example.com")
	signed, err := signer.SignProfile(p)
	if err != nil {
		fmt.Println(err)
		return
	}
	got, err := profile.Parse(signed, profile.ParseOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got.Chain[0].Subject.CommonName)
	// Output: Example Profile Signer
}

// exampleCA returns a key with a self-signed certificate and a pool
// trusting it.
func exampleCA() (*ecdsa.PrivateKey, []*x509.Certificate, *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Example Profile Signer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return key, []*x509.Certificate{cert}, roots
}

// writeExampleIdentity writes a PKCS #8 key and its certificate as PEM
// files, as an operator would provide them.
func writeExampleIdentity(dir string) (keyFile, certFile string) {
	key, chain, _ := exampleCA()
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile, certFile = filepath.Join(dir, "signer.key"), filepath.Join(dir, "signer.crt")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0].Raw}), 0o644)
	return keyFile, certFile
}
