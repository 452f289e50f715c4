package enroll_test

import (
	"fmt"
	"net/http"

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
