package enroll_test

import (
	"context"
	"fmt"
	"log"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/store/memory"
)

// The whole profile-based flow as the portal drives it, step by step:
// invite, open the link, sign in, passcode, information screen, terms,
// download link, profile.
func ExampleService() {
	ctx := context.Background()
	var delivered *enroll.Invitation
	cfg := coreConfig() // Authenticator, Directory, Signer, Identity, Profile, Terms
	cfg.Notifier = enroll.NotifierFunc(func(ctx context.Context, inv *enroll.Invitation) error {
		delivered = inv // a real Notifier mails inv.Text() (both ways to enroll) and inv.QRCode
		return nil
	})
	svc, err := enroll.New(memory.NewEnrollStore(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	meta := enroll.Meta{ClientIP: "198.51.100.7", UserAgent: "Safari"}

	if _, err := svc.CreateInvitation(ctx, enroll.Meta{Actor: "admin"}, enroll.User{ID: "u-alice", Name: "Alice"}); err != nil {
		log.Fatal(err)
	}
	e, err := svc.OpenInvitation(ctx, meta, delivered.Token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(e.State)
	e, _ = svc.Authenticate(ctx, meta, e.ID, "alice", "correct horse", enroll.OwnershipEmployee)
	fmt.Println(e.State)
	_, err = svc.SubmitPasscode(ctx, meta, e.ID, "00000000")
	fmt.Println(err)
	e, _ = svc.SubmitPasscode(ctx, meta, e.ID, delivered.Passcode)
	fmt.Println(e.State)
	svc.AcknowledgeInfo(ctx, meta, e.ID)
	terms := svc.Terms()
	e, _ = svc.AcceptTerms(ctx, meta, e.ID, enroll.Consent{Version: terms.Version, Digest: terms.Digest()})
	fmt.Println(e.State)
	link, _ := svc.IssueDownloadLink(ctx, meta, e.ID)
	fmt.Println(link.Enrollment.State, link.ExpiresAt.Sub(link.Enrollment.UpdatedAt))
	prof, err := svc.DownloadProfile(ctx, meta, link.Token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(prof.ContentType)
	_, err = svc.DownloadProfile(ctx, meta, link.Token)
	fmt.Println(err)
	// Output:
	// invited
	// authenticated
	// enroll: submit passcode: enroll: wrong passcode; 4 attempts left
	// passcode-verified
	// consented
	// profile-issued 8m0s
	// application/x-apple-aspen-config
	// enroll: download profile: enroll: profile download link has already been used
}

// A host SCEP server checks each request's challenge with RedeemChallenge
// before signing, and reports the certificate it issued with
// RecordCertificate, so that the device's Authenticate is tied to its
// enrollment.
func ExampleService_RedeemChallenge() {
	ctx := context.Background()
	svc, err := enroll.New(memory.NewEnrollStore(), coreConfig())
	if err != nil {
		log.Fatal(err)
	}
	// What the SCEP server's challenge check does:
	verify := func(challenge string) (string, error) {
		e, err := svc.RedeemChallenge(ctx, enroll.Meta{Actor: "scep"}, challenge)
		if err != nil {
			return "", err // do not issue a certificate
		}
		return e.ID, nil
	}
	_, err = verify("a challenge nobody issued")
	fmt.Println(err)
	// Output:
	// enroll: redeem challenge: enroll: identity challenge is not valid
}

func ExampleTransitions() {
	for _, tr := range enroll.Transitions()[:3] {
		fmt.Printf("%s --%s--> %s\n", tr.From, tr.Event, tr.To)
	}
	_, err := enroll.Next(enroll.StateEnrolled, enroll.EventConsent)
	fmt.Println(err)
	// Output:
	// invited --authenticate--> authenticated
	// authenticated --passcode-rejected--> authenticated
	// authenticated --lock--> locked
	// enroll: event "consent" not allowed in state "enrolled"
}
