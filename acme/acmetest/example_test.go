package acmetest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log"

	"github.com/enrollkit/enrollkit/acme/acmetest"
)

// A simulated device answers a device-attest-01 challenge: it attests its
// Secure Enclave key for the challenge token under the test root, and
// posts the answer payload (signed with its account key) to the
// challenge URL. The server trusts the root through
// acme.Config.AttestationRoots = root.Pool().
func Example() {
	root, err := acmetest.NewRoot("Simulator Attestation")
	if err != nil {
		log.Fatal(err)
	}
	seKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attObj, err := root.Attest("token-from-the-challenge", &seKey.PublicKey)
	if err != nil {
		log.Fatal(err)
	}
	payload := acmetest.Answer(attObj)
	fmt.Println(string(payload[:11]))
	// Output: {"attObj":"
}
