package postgres_test

import (
	"testing"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/acme/acmetest"
	"github.com/enrollkit/enrollkit/store/internal/alternate"
	"github.com/enrollkit/enrollkit/store/internal/storetest"
)

// TestACME runs the ACME suites on one database and on two pools on one schema, as two replicas would:
// accounts and orders made through one are found through the other, a
// nonce issued by one is consumed once through either, and two ACME
// Handlers on them serve one device in turn.
func TestACME(t *testing.T) {
	storetest.RunACME(t, func(t *testing.T) alternate.ACMEStoreNonces { return open(t).ACME() },
		func(t *testing.T) (alternate.ACMEStoreNonces, alternate.ACMEStoreNonces) {
			a, b := openPair(t)
			return a.ACME(), b.ACME()
		})
}

// TestACMECredentials runs the credential identifier suite on two handles
// on one database, as two replicas would.
func TestACMECredentials(t *testing.T) {
	acmetest.RunCredentialStore(t, func(t *testing.T) (acme.CredentialStore, acme.CredentialStore) {
		a, b := openPair(t)
		return a.ACME(), b.ACME()
	})
}

// BenchmarkACMENonce is the nonce work of one ACME request: the nonce its
// answer carries issued, and the nonce it came with consumed.
func BenchmarkACMENonce(b *testing.B) {
	storetest.BenchmarkNonce(b, open(b).ACME())
}

// BenchmarkACMEIssuance is one attested issuance through two ACME
// Handlers on two stores of one database, requests alternating.
func BenchmarkACMEIssuance(b *testing.B) {
	x, y := openPair(b)
	acmetest.BenchmarkIssuance(b, x.ACME(), y.ACME())
}
