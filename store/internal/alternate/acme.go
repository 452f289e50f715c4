package alternate

import (
	"context"
	"sync/atomic"

	"github.com/enrollkit/enrollkit/acme"
)

// ACMEStoreNonces is an acme.Store that keeps nonces too.
type ACMEStoreNonces interface {
	acme.Store
	acme.Nonces
}

// ACMEStore calls its stores in turn.
type ACMEStore struct {
	Stores []ACMEStoreNonces
	n      atomic.Uint64
}

var (
	_ acme.Store  = (*ACMEStore)(nil)
	_ acme.Nonces = (*ACMEStore)(nil)
)

func (a *ACMEStore) next() ACMEStoreNonces { return a.Stores[(a.n.Add(1)-1)%uint64(len(a.Stores))] }

// CreateAccount implements acme.Accounts.
func (a *ACMEStore) CreateAccount(ctx context.Context, acct *acme.Account) error {
	return a.next().CreateAccount(ctx, acct)
}

// Account implements acme.Accounts.
func (a *ACMEStore) Account(ctx context.Context, id string) (*acme.Account, error) {
	return a.next().Account(ctx, id)
}

// AccountByThumbprint implements acme.Accounts.
func (a *ACMEStore) AccountByThumbprint(ctx context.Context, thumbprint string) (*acme.Account, error) {
	return a.next().AccountByThumbprint(ctx, thumbprint)
}

// UpdateAccount implements acme.Accounts.
func (a *ACMEStore) UpdateAccount(ctx context.Context, acct *acme.Account) error {
	return a.next().UpdateAccount(ctx, acct)
}

// CreateOrder implements acme.Orders.
func (a *ACMEStore) CreateOrder(ctx context.Context, o *acme.Order) error {
	return a.next().CreateOrder(ctx, o)
}

// Order implements acme.Orders.
func (a *ACMEStore) Order(ctx context.Context, id string) (*acme.Order, error) {
	return a.next().Order(ctx, id)
}

// UpdateOrder implements acme.Orders.
func (a *ACMEStore) UpdateOrder(ctx context.Context, o *acme.Order) error {
	return a.next().UpdateOrder(ctx, o)
}

// IssueNonce implements acme.Nonces.
func (a *ACMEStore) IssueNonce(ctx context.Context) (string, error) { return a.next().IssueNonce(ctx) }

// ConsumeNonce implements acme.Nonces.
func (a *ACMEStore) ConsumeNonce(ctx context.Context, nonce string) (bool, error) {
	return a.next().ConsumeNonce(ctx, nonce)
}
