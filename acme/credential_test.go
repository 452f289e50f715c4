package acme_test

import (
	"testing"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/acme/acmetest"
	"github.com/enrollkit/enrollkit/ddm"
)

var _ ddm.AssetSource = (*acme.Credentials)(nil)

// TestMemoryCredentialStore runs the credential identifier suite on the
// in-memory store.
func TestMemoryCredentialStore(t *testing.T) {
	acmetest.RunCredentialStore(t, func(t *testing.T) (acme.CredentialStore, acme.CredentialStore) {
		s := acme.NewMemoryCredentialStore()
		return s, s
	})
}
