package enroll_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
)

// A device's enrollment client reads the challenge of a 401 from the
// BaseURL; commas and plain spaces between parameters both work.
func ExampleParseBearerChallenge() {
	for _, h := range []string{
		`Bearer method="apple-as-web", url="https://mdm.example.com/portal/account/start"`,
		`Bearer method="apple-as-web" url="https://mdm.example.com/portal/account/start"`,
	} {
		c, err := enroll.ParseBearerChallenge(h)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(c.Method, c.URL)
	}
	// Output:
	// apple-as-web https://mdm.example.com/portal/account/start
	// apple-as-web https://mdm.example.com/portal/account/start
}

func ExampleBearerChallenge_String() {
	c := enroll.BearerChallenge{Method: enroll.BearerChallengeMethodWeb, URL: "https://mdm.example.com/portal/account/start"}
	fmt.Println(c.String())
	// Output:
	// Bearer method="apple-as-web", url="https://mdm.example.com/portal/account/start"
}

func ExampleParseWellKnownQuery() {
	q, err := enroll.ParseWellKnownQuery("user-identifier=jane%40example.com&model-family=iPhone")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(q.UserIdentifier, q.ModelFamily, q.Domain())
	_, err = enroll.ParseWellKnownQuery("user-identifier=jane")
	fmt.Println(err)
	// Output:
	// jane@example.com iPhone example.com
	// enroll: invalid input: well-known query: user-identifier is not of the form name@domain
}

// A host mounts the portal under its public URL, the Service's PortalURL,
// and discovery at the root of the Managed Apple Accounts' domain.
func ExampleNewPortal() {
	var svc *enroll.Service // enroll.New(store, enroll.Config{PortalURL: "https://enroll.example.com/portal", …})
	if svc == nil {
		return
	}
	portal, err := enroll.NewPortal(svc, enroll.PortalConfig{
		SessionKey:   []byte("32+ random bytes shared by every replica"),
		Organization: "Example Corp",
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/portal/", portal)
	mux.Handle(enroll.WellKnownPath, portal.WellKnownHandler())
	_ = http.ListenAndServe(":8443", mux)
}

// An invitation's text leads to both ways of enrolling: the Settings steps
// with the Managed Apple Account for current releases, the link for
// earlier ones.
func ExampleInvitation_Text() {
	inv := &enroll.Invitation{
		ManagedAppleID: "jane@example.com",
		URL:            "https://enroll.example.com/portal/invitation/TOKEN",
		Passcode:       "1234-5678",
		ExpiresAt:      time.Date(2026, 12, 9, 13, 30, 0, 0, time.UTC),
	}
	fmt.Print(inv.Text())
	// Output:
	// You are invited to enroll your personal iPhone, iPad or Mac for work. Your personal data stays private: only a separate work area is managed.
	//
	// iPhone or iPad with iOS or iPadOS 18 or later, or a Mac with macOS 14 or later:
	//   1. Open Settings → General → VPN & Device Management
	//      (on a Mac: System Settings → General → Device Management).
	//   2. Tap "Sign In to Work or School Account".
	//   3. Enter your Managed Apple Account: jane@example.com
	//   4. Sign in with your work username and password, and enter the passcode below when asked.
	//
	// iPhone or iPad with iOS or iPadOS 13.1 to 17, or a Mac with macOS 13 or earlier:
	//   Open this link in Safari, or scan the QR code with the camera, and follow the steps:
	//   https://enroll.example.com/portal/invitation/TOKEN
	//
	// Passcode: 1234-5678
	// Valid until: 2026-12-09 13:30 UTC
}
