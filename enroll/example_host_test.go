package enroll_test

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/enrollkit/enrollkit/apns"
	"github.com/enrollkit/enrollkit/credentials"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
	"github.com/enrollkit/enrollkit/scep"
	"github.com/enrollkit/enrollkit/server"
	"github.com/enrollkit/enrollkit/store/sqlite"
)

// Host stand-ins for the example: a host implements these against its own
// user directory and mail.
var (
	myUsers     enroll.Authenticator = enroll.AuthenticatorFunc(nil)
	myDirectory enroll.Directory
	myMailer    enroll.Notifier = enroll.NotifierFunc(nil)
)

// A host adds User Enrollment to its server: one database, the host's users
// and mail, a device CA, pushes through APNs, and package server's
// composition of the enrollment Service, the portal, the SCEP endpoint that
// issues device identities and the MDM service tied to the enrollments.
// Account-driven requests must come from Apple's device CA. The README's
// integration snippet is this function's body.
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

	srv, err := server.New(db.Enroll(), db.MDM(), server.Config{
		PublicURL: "https://enroll.example.com", // portal, MDM, SCEP and invitation links below it
		Enroll: enroll.Config{
			Authenticator: myUsers,     // corporate credentials → user
			Directory:     myDirectory, // user ↔ Managed Apple Account
			Notifier:      myMailer,    // mails the invitation (inv.Text(): both ways to enroll) and QR code
			Profile:       enroll.ProfileConfig{Topic: pusher.Topic()},
			Signer:        signer,
		},
		Portal: enroll.PortalConfig{SessionKey: []byte("32 or more random bytes, the same on every replica")},
		CA:     deviceCA,                   // issues device identities over SCEP; MDM trusts only it
		MDM:    mdm.Config{Pusher: pusher}, // enroll vets and observes every device request
	})
	if err != nil {
		log.Fatal(err)
	}
	// Invite users with srv.Enroll.CreateInvitation, queue commands with
	// srv.MDM.Enqueue.
	go srv.RunSweeps(ctx, 0, nil) // expiry, re-pushes after lost responses, retention
	log.Fatal(http.ListenAndServeTLS(":443", "tls.pem", "tls.key", srv))
}
