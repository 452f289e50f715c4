package scep_test

import (
	"fmt"
	"log"
	"net/http"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/scep"
)

// A host mounts the SCEP endpoint beside its portal, with a CA made in
// memory, and points enroll's SCEPChallenges at it.
func ExampleNewHandler() {
	var svc *enroll.Service // the host's enrollment service, made by enroll.New with
	// SCEP: enroll.SCEPConfig{URL: "https://mdm.example.com/scep"}
	ca, err := scep.GenerateCA("Example Corp Device CA")
	if err != nil {
		log.Fatal(err)
	}
	h, err := scep.NewHandler(svc, ca, scep.Config{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/scep", h)
}

func ExampleGenerateCA() {
	ca, err := scep.GenerateCA("Example Corp Device CA")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ca.Certificate.Subject.CommonName, ca.Certificate.IsCA)
	// Output: Example Corp Device CA true
}
