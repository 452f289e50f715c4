package acme_test

import (
	"log"
	"net/http"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/scep"
)

// A host mounts the ACME endpoint beside its SCEP endpoint, with the same
// CA, so that mdm verifies both kinds of device identity with one root.
// Attestations chain to Apple's root unless Config.AttestationRoots says
// otherwise.
func ExampleNewHandler() {
	var svc *enroll.Service // the host's enrollment service, made by enroll.New
	ca, err := scep.GenerateCA("Example Corp Device CA")
	if err != nil {
		log.Fatal(err)
	}
	h, err := acme.NewHandler(svc, ca, acme.Config{
		BaseURL: "https://mdm.example.com/acme",
		Chain:   nil, // the issued certificate alone; mdm knows the CA
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/acme/", h)
	// The device's ACME payload names h.DirectoryURL():
	// https://mdm.example.com/acme/directory
}
