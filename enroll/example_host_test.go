package enroll_test

import (
	"context"
	"crypto/x509"
	"log"
	"net/http"
	"os"

	"github.com/enrollkit/enrollkit/apns"
	"github.com/enrollkit/enrollkit/credentials"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
	"github.com/enrollkit/enrollkit/scep"
	"github.com/enrollkit/enrollkit/store/sqlite"
)

// Host stand-ins for the example: a host implements these against its own
// user directory and mail.
var (
	myUsers     enroll.Authenticator = enroll.AuthenticatorFunc(nil)
	myDirectory enroll.Directory
	myMailer    enroll.Notifier = enroll.NotifierFunc(nil)
)

// A host adds User Enrollment to its server: one database, the enrollment
// Service with the host's users and mail, the portal, the MDM service tied
// to the enrollments, the SCEP endpoint that issues device identities, and
// pushes through APNs. The README's integration snippet is this function's
// body.
func Example_host() {
	ctx := context.Background()

	db, err := sqlite.Open(ctx, "enrollkit.db", sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	push, err := credentials.LoadIdentity(ctx, "push.pem") // PEM, PKCS#12 or Ansible Vault
	if err != nil {
		log.Fatal(err)
	}
	pusher, err := apns.New(push.TLSCertificate(), apns.Options{})
	if err != nil {
		log.Fatal(err)
	}
	signing, err := credentials.LoadIdentity(ctx, "profile-signer.pem", "profile-signer.key")
	if err != nil {
		log.Fatal(err)
	}
	signer, err := profile.NewSigner(signing.Signer, signing.Chain)
	if err != nil {
		log.Fatal(err)
	}
	caPEM, err := os.ReadFile("device-ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	caKeyPEM, err := os.ReadFile("device-ca.key")
	if err != nil {
		log.Fatal(err)
	}
	deviceCA, err := scep.ParseCA(caPEM, caKeyPEM) // or scep.GenerateCA("Example Corp Device CA")
	if err != nil {
		log.Fatal(err)
	}

	svc, err := enroll.New(db.Enroll(), enroll.Config{
		Authenticator: myUsers,     // corporate credentials → user
		Directory:     myDirectory, // user ↔ Managed Apple ID
		Notifier:      myMailer,    // mails the invitation link, QR code and passcode
		PortalURL:     "https://enroll.example.com/portal",
		Profile: enroll.ProfileConfig{
			ServerURL: "https://enroll.example.com/mdm",
			Topic:     pusher.Topic(),
		},
		Signer: signer,
		SCEP:   enroll.SCEPConfig{URL: "https://enroll.example.com/scep"},
	})
	if err != nil {
		log.Fatal(err)
	}
	portal, err := enroll.NewPortal(svc, enroll.PortalConfig{
		SessionKey: []byte("32 or more random bytes, the same on every replica"),
	})
	if err != nil {
		log.Fatal(err)
	}
	mdmService, err := mdm.NewService(db.MDM(), mdm.Options{
		Roots:      []*x509.Certificate{deviceCA.Certificate}, // the CA that issues device identities
		Prechecker: svc,                                       // a check-in must belong to its enrollment
		Observer:   svc,                                       // Authenticate, TokenUpdate, CheckOut move the state machine
		Pusher:     pusher,
	})
	if err != nil {
		log.Fatal(err)
	}
	scepHandler, err := scep.NewHandler(svc, deviceCA, scep.Config{}) // single-use challenges, certificates bound
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/portal/", portal)
	mux.Handle(enroll.WellKnownPath, portal.WellKnownHandler())
	mux.Handle("/mdm", mdmService)
	mux.Handle("/scep", scepHandler)
	log.Fatal(http.ListenAndServeTLS(":443", "tls.pem", "tls.key", mux))
}
