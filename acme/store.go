package acme

import (
	"context"
	"errors"
	"sync"
	"time"
)

var (
	// ErrNotFound means a Store has no account or order by that key.
	ErrNotFound = errors.New("acme: not found")
	// ErrConflict means a Store refused an update because the record
	// changed since it was read (its Version moved on), or refused to
	// create a record whose ID or account key is taken.
	ErrConflict = errors.New("acme: concurrent update")
)

// Order statuses (RFC 8555 section 7.1.6).
const (
	StatusPending    = "pending"
	StatusReady      = "ready"
	StatusProcessing = "processing"
	StatusValid      = "valid"
	StatusInvalid    = "invalid"
)

// Account is an ACME account: the public key a client signs its requests
// with. Nothing personal is kept: contacts a client sends are not stored.
type Account struct {
	// ID names the account in its URL (the "kid" of requests).
	ID string
	// Key is the account's public JWK, JSON-encoded.
	Key []byte
	// Thumbprint is the RFC 7638 SHA-256 thumbprint of Key, base64url;
	// at most one account has a given thumbprint.
	Thumbprint string
	// IdentifierHash is the SHA-256 (hex) of the identifier of the
	// account's first order, to which the account is then bound; empty
	// before its first order.
	IdentifierHash string
	// Created is when the account was made.
	Created time.Time
	// Version counts the account's updates, for UpdateAccount.
	Version int
}

// Order is an ACME order together with its single authorization and
// device-attest-01 challenge: an enrolling device orders one certificate
// for one identifier, its enrollment's single-use identifier.
type Order struct {
	// ID names the order, and its authorization, challenge, finalize
	// and certificate URLs.
	ID string
	// AccountID is the account that made the order.
	AccountID string
	// Identifier is the permanent-identifier value ordered: the
	// ClientIdentifier of the device's ACME payload, a single-use
	// per-enrollment secret until the order is finalized. A persistent
	// Store must protect it as it protects other live secrets, and
	// need not keep it past Expires.
	Identifier string
	// Status is one of the Status constants.
	Status string
	// Expires is when a pending or ready order stops being usable.
	Expires time.Time
	// Token is the device-attest-01 challenge token; the attestation's
	// freshness code is its SHA-256.
	Token string
	// AttestedKey is the PKIX DER public key the attestation vouched
	// for, set when the challenge was validated; the CSR must carry it.
	AttestedKey []byte
	// Error explains why the order became invalid.
	Error string
	// Certificate is the issued certificate, DER, once the order is
	// valid.
	Certificate []byte
	// Created is when the order was made.
	Created time.Time
	// Version counts the order's updates, for UpdateOrder.
	Version int
}

// Accounts keeps ACME accounts. Account and AccountByThumbprint return
// ErrNotFound for an unknown key. CreateAccount stores a new account with
// Version 0 and fails with ErrConflict when its ID or Thumbprint is
// taken. UpdateAccount stores a and increments its Version only if the
// stored Version equals a.Version, and fails with ErrConflict otherwise.
// Returned records are the caller's to keep and modify. Implementations
// must be safe for concurrent use.
type Accounts interface {
	CreateAccount(ctx context.Context, a *Account) error
	Account(ctx context.Context, id string) (*Account, error)
	AccountByThumbprint(ctx context.Context, thumbprint string) (*Account, error)
	UpdateAccount(ctx context.Context, a *Account) error
}

// Orders keeps ACME orders, with the same contract as Accounts:
// ErrNotFound for an unknown ID, ErrConflict for a taken ID or a stale
// Version, Version incremented by every update.
type Orders interface {
	CreateOrder(ctx context.Context, o *Order) error
	Order(ctx context.Context, id string) (*Order, error)
	UpdateOrder(ctx context.Context, o *Order) error
}

// Store keeps a Handler's accounts and orders.
type Store interface {
	Accounts
	Orders
}

var _ Store = (*MemoryStore)(nil)

// MemoryRetention is how long a MemoryStore keeps an order after it
// expired, and an account after it was made; the SQL stores of
// store/sqlite and store/postgres keep them as long.
const MemoryRetention = 24 * time.Hour

// MemoryStore is a Store in memory, the default of Config.Store: for
// tests and a single server. Everything is lost on restart, which costs
// only the orders in progress (a device retries with a new account and
// order); issued certificates are recorded by enroll, not here. It
// forgets orders MemoryRetention after they expire and accounts
// MemoryRetention after they were made (a device that comes back makes
// its account again), so that what anyone can create costs memory for a
// day at most; a host open to the Internet should still rate-limit
// newAccount and newOrder in front of the Handler, as for any ACME
// server.
type MemoryStore struct {
	mu        sync.Mutex
	accounts  map[string]Account
	byThumb   map[string]string
	orders    map[string]Order
	now       func() time.Time
	lastSweep time.Time
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{accounts: map[string]Account{}, byThumb: map[string]string{}, orders: map[string]Order{}, now: time.Now}
}

// sweep forgets, at most once a minute, what MemoryRetention allows. The
// caller holds s.mu.
func (s *MemoryStore) sweep() {
	now := s.now()
	if now.Sub(s.lastSweep) < time.Minute {
		return
	}
	s.lastSweep = now
	cutoff := now.Add(-MemoryRetention)
	for id, o := range s.orders {
		if o.Expires.Before(cutoff) {
			delete(s.orders, id)
		}
	}
	for id, a := range s.accounts {
		if a.Created.Before(cutoff) {
			delete(s.accounts, id)
			delete(s.byThumb, a.Thumbprint)
		}
	}
}

// CreateAccount implements Accounts.
func (s *MemoryStore) CreateAccount(_ context.Context, a *Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	if _, ok := s.accounts[a.ID]; ok {
		return ErrConflict
	}
	if _, ok := s.byThumb[a.Thumbprint]; ok {
		return ErrConflict
	}
	c := *a
	c.Key = clone(a.Key)
	c.Version = 0
	a.Version = 0
	s.accounts[a.ID] = c
	s.byThumb[a.Thumbprint] = a.ID
	return nil
}

// Account implements Accounts.
func (s *MemoryStore) Account(_ context.Context, id string) (*Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return nil, ErrNotFound
	}
	a.Key = clone(a.Key)
	return &a, nil
}

// AccountByThumbprint implements Accounts.
func (s *MemoryStore) AccountByThumbprint(ctx context.Context, thumbprint string) (*Account, error) {
	s.mu.Lock()
	id, ok := s.byThumb[thumbprint]
	s.mu.Unlock()
	if !ok {
		return nil, ErrNotFound
	}
	return s.Account(ctx, id)
}

// UpdateAccount implements Accounts.
func (s *MemoryStore) UpdateAccount(_ context.Context, a *Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.accounts[a.ID]
	if !ok {
		return ErrNotFound
	}
	if old.Version != a.Version || old.Thumbprint != a.Thumbprint {
		return ErrConflict
	}
	a.Version++
	c := *a
	c.Key = clone(a.Key)
	s.accounts[a.ID] = c
	return nil
}

// CreateOrder implements Orders.
func (s *MemoryStore) CreateOrder(_ context.Context, o *Order) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	if _, ok := s.orders[o.ID]; ok {
		return ErrConflict
	}
	o.Version = 0
	s.orders[o.ID] = cloneOrder(o)
	return nil
}

// Order implements Orders.
func (s *MemoryStore) Order(_ context.Context, id string) (*Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	if !ok {
		return nil, ErrNotFound
	}
	c := cloneOrder(&o)
	return &c, nil
}

// UpdateOrder implements Orders.
func (s *MemoryStore) UpdateOrder(_ context.Context, o *Order) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.orders[o.ID]
	if !ok {
		return ErrNotFound
	}
	if old.Version != o.Version {
		return ErrConflict
	}
	o.Version++
	s.orders[o.ID] = cloneOrder(o)
	return nil
}

func cloneOrder(o *Order) Order {
	c := *o
	c.AttestedKey = clone(o.AttestedKey)
	c.Certificate = clone(o.Certificate)
	return c
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
