// Package acmesql is the acme.Store and acme.Nonces of store/sqlite and
// store/postgres: the same tables and statements on either database,
// behind a small Backend each of them implements. Every operation is a
// single statement, a transaction of its own: one database round trip
// where a transaction would take three.
//
// Accounts and orders move by compare-and-swap: an update is one UPDATE
// conditional on the version read, so of two replicas racing from one
// read only the first changes the row.
//
// Nonces are authenticated rather than stored when issued: a nonce is its
// issue time, random bits, and an HMAC of both under a key the database
// holds (so every replica issues and checks the same way), and consuming
// one inserts its time and random bits into acme_nonces, whose primary
// key lets exactly one insert succeed. Issuing costs no database write,
// so the unauthenticated newNonce requests anyone can send store nothing;
// each request that spends a nonce costs one insert. A nonce is accepted
// for NonceTTL after it was issued, and its row is kept a little longer
// (NonceTTL and MaxClockSkew), so the sweep never forgets a nonce that
// could still be accepted. The key only makes the server refuse nonces
// it did not issue, as RFC 8555 asks; single use rests on the table, so
// someone who read the key could make nonces but replay no request.
//
// The credential identifiers of acme.Credentials are rows of
// acme_credentials keyed by their hash, one per enrollment and asset (an
// upsert replaces the previous); taking one is a read and a delete of
// that row, which only one taker's delete removes.
//
// What anyone can create does not accumulate: at most once a minute, a
// write of a Store deletes what acme.MemoryRetention lets go (accounts a
// day after they were made, orders a day after they expired), the
// identifier of every expired order, the expired nonces and credential
// identifiers, SweepBatch rows per statement until none is left.
package acmesql

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/enrollkit/enrollkit/acme"
	"github.com/enrollkit/enrollkit/mdm"
)

// Backend runs single statements written with ? placeholders. Its errors
// begin with op.
type Backend interface {
	// Exec runs one write statement as a transaction of its own and
	// returns the number of rows it changed.
	Exec(ctx context.Context, op, query string, args ...any) (int64, error)
	// QueryRow runs a query of at most one row, scans it into dest and
	// reports whether there was one.
	QueryRow(ctx context.Context, op, query string, args []any, dest ...any) (bool, error)
	// Prefix labels errors ("sqlite", "postgres").
	Prefix() string
}

// NonceTTL is how long after it was issued a nonce is accepted.
const NonceTTL = 30 * time.Minute

// MaxClockSkew is how far the clocks of replicas may disagree: a nonce
// issued up to this far in the future is accepted, and a consumed nonce
// is kept this long past NonceTTL.
const MaxClockSkew = time.Minute

// SweepBatch is the most rows one statement of the sweep deletes.
const SweepBatch = 500

// sweepEvery is how often a Store sweeps at most.
const sweepEvery = time.Minute

// A nonce is stamp (issue time) | random | mac, in unpadded base64url.
const (
	stampLen  = 8
	randomLen = 12
	macLen    = 16
	rawLen    = stampLen + randomLen + macLen
	nonceLen  = (rawLen*8 + 5) / 6
)

// Store implements acme.Store and acme.Nonces on a Backend. It is safe for
// concurrent use; make one per database handle with New.
type Store struct {
	b    Backend
	log  *slog.Logger
	lock string // appended to the sweep's row selections
	// Now tells the time; set it before the first call (tests do).
	Now func() time.Time

	mu        sync.Mutex
	key       []byte // the nonce key, once read
	lastSweep time.Time
}

var (
	_ acme.Store           = (*Store)(nil)
	_ acme.Nonces          = (*Store)(nil)
	_ acme.CredentialStore = (*Store)(nil)
)

// New returns the Store of b, logging the sweep's failures to log.
// lock is appended to the sweep's selections of the rows it changes:
// " FOR UPDATE SKIP LOCKED" on PostgreSQL, so that replicas sweeping at
// once take different rows instead of waiting for each other.
func New(b Backend, log *slog.Logger, lock string) *Store {
	return &Store{b: b, log: log, lock: lock, Now: time.Now}
}

func (s *Store) op(name string) string { return s.b.Prefix() + ": acme " + name }

// blob returns b for a nullable column: nil stays NULL.
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

func micros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// CreateAccount implements acme.Accounts.
func (s *Store) CreateAccount(ctx context.Context, a *acme.Account) error {
	return s.create(ctx, s.op("create account"), a.ID, &a.Version, `INSERT INTO acme_accounts
		(id, thumbprint, key, identifier_hash, created_us, version) VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING`,
		a.ID, a.Thumbprint, a.Key, a.IdentifierHash, a.Created.UnixMicro())
}

// create runs the insert q of record id, which must add one row
// (otherwise its ID, or another unique key, is taken), sets *version to 0
// and sweeps if it is time to.
func (s *Store) create(ctx context.Context, op, id string, version *int, q string, args ...any) error {
	n, err := s.b.Exec(ctx, op, q, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s %s: taken: %w", op, id, acme.ErrConflict)
	}
	*version = 0
	s.sweep(ctx)
	return nil
}

const accountSelect = `SELECT id, thumbprint, key, identifier_hash, created_us, version FROM acme_accounts WHERE `

// account reads the account whose column col is key.
func (s *Store) account(ctx context.Context, op, col, key string) (*acme.Account, error) {
	var (
		a       acme.Account
		created int64
	)
	found, err := s.b.QueryRow(ctx, op, accountSelect+col+` = ?`, []any{key},
		&a.ID, &a.Thumbprint, &a.Key, &a.IdentifierHash, &created, &a.Version)
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, fmt.Errorf("%s %s: %w", op, key, acme.ErrNotFound)
	}
	a.Created = micros(created)
	return &a, nil
}

// Account implements acme.Accounts.
func (s *Store) Account(ctx context.Context, id string) (*acme.Account, error) {
	return s.account(ctx, s.op("get account"), "id", id)
}

// AccountByThumbprint implements acme.Accounts.
func (s *Store) AccountByThumbprint(ctx context.Context, thumbprint string) (*acme.Account, error) {
	return s.account(ctx, s.op("find account"), "thumbprint", thumbprint)
}

// UpdateAccount implements acme.Accounts. The thumbprint and creation time
// never change; an update naming another thumbprint is a conflict.
func (s *Store) UpdateAccount(ctx context.Context, a *acme.Account) error {
	op := s.op("update account")
	return s.update(ctx, op, "acme_accounts", a.ID, &a.Version, `UPDATE acme_accounts SET key = ?, identifier_hash = ?, version = version + 1
		WHERE id = ? AND version = ? AND thumbprint = ?`, a.Key, a.IdentifierHash, a.ID, a.Version, a.Thumbprint)
}

// update runs the compare-and-swap q on the row id of table, which must
// change one row; otherwise it tells ErrNotFound from ErrConflict. On
// success *version is incremented.
func (s *Store) update(ctx context.Context, op, table, id string, version *int, q string, args ...any) error {
	n, err := s.b.Exec(ctx, op, q, args...)
	if err != nil {
		return err
	}
	if n > 0 {
		*version++
		return nil
	}
	var x int
	exists, err := s.b.QueryRow(ctx, op, `SELECT 1 FROM `+table+` WHERE id = ?`, []any{id}, &x)
	switch {
	case err != nil:
		return err
	case exists:
		return fmt.Errorf("%s %s at version %d: %w", op, id, *version, acme.ErrConflict)
	}
	return fmt.Errorf("%s %s: %w", op, id, acme.ErrNotFound)
}

// CreateOrder implements acme.Orders.
func (s *Store) CreateOrder(ctx context.Context, o *acme.Order) error {
	return s.create(ctx, s.op("create order"), o.ID, &o.Version, `INSERT INTO acme_orders (id, account, identifier,
		status, expires_us, token, attested_key, error, certificate, created_us, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING`,
		o.ID, o.AccountID, o.Identifier, o.Status, o.Expires.UnixMicro(), o.Token,
		blob(o.AttestedKey), o.Error, blob(o.Certificate), o.Created.UnixMicro())
}

// Order implements acme.Orders.
func (s *Store) Order(ctx context.Context, id string) (*acme.Order, error) {
	op := s.op("get order")
	var (
		o                acme.Order
		expires, created int64
	)
	found, err := s.b.QueryRow(ctx, op, `SELECT id, account, identifier, status, expires_us, token, attested_key, error,
		certificate, created_us, version FROM acme_orders WHERE id = ?`, []any{id},
		&o.ID, &o.AccountID, &o.Identifier, &o.Status, &expires, &o.Token, &o.AttestedKey, &o.Error,
		&o.Certificate, &created, &o.Version)
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, fmt.Errorf("%s %s: %w", op, id, acme.ErrNotFound)
	}
	o.Expires, o.Created = micros(expires), micros(created)
	return &o, nil
}

// UpdateOrder implements acme.Orders.
func (s *Store) UpdateOrder(ctx context.Context, o *acme.Order) error {
	return s.update(ctx, s.op("update order"), "acme_orders", o.ID, &o.Version, `UPDATE acme_orders SET account = ?,
		identifier = ?, status = ?, expires_us = ?, token = ?, attested_key = ?, error = ?, certificate = ?,
		created_us = ?, version = version + 1 WHERE id = ? AND version = ?`,
		o.AccountID, o.Identifier, o.Status, o.Expires.UnixMicro(), o.Token, blob(o.AttestedKey), o.Error,
		blob(o.Certificate), o.Created.UnixMicro(), o.ID, o.Version)
}

// PutCredentialGrant implements acme.CredentialStore: one upsert on the
// enrollment and asset.
func (s *Store) PutCredentialGrant(ctx context.Context, g *acme.CredentialGrant) error {
	op := s.op("put credential")
	_, err := s.b.Exec(ctx, op, `INSERT INTO acme_credentials (hash, enrollment, asset, expires_us) VALUES (?, ?, ?, ?)
		ON CONFLICT (enrollment, asset) DO UPDATE SET hash = excluded.hash, expires_us = excluded.expires_us`,
		g.Hash, string(g.Enrollment), g.Asset, g.Expires.UnixMicro())
	if err != nil {
		return err
	}
	s.sweep(ctx)
	return nil
}

// TakeCredentialGrant implements acme.CredentialStore: the grant read is
// the caller's only if the delete of that very row is the one that
// removes it, so of racing takers, in any process, one wins.
func (s *Store) TakeCredentialGrant(ctx context.Context, hash string) (*acme.CredentialGrant, error) {
	op := s.op("take credential")
	var (
		g       acme.CredentialGrant
		enr     string
		expires int64
	)
	found, err := s.b.QueryRow(ctx, op, `SELECT hash, enrollment, asset, expires_us FROM acme_credentials WHERE hash = ?`,
		[]any{hash}, &g.Hash, &enr, &g.Asset, &expires)
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, fmt.Errorf("%s: %w", op, acme.ErrNotFound)
	}
	n, err := s.b.Exec(ctx, op, `DELETE FROM acme_credentials WHERE hash = ? AND enrollment = ? AND asset = ? AND expires_us = ?`,
		g.Hash, enr, g.Asset, expires)
	switch {
	case err != nil:
		return nil, err
	case n != 1:
		return nil, fmt.Errorf("%s: %w", op, acme.ErrNotFound)
	}
	g.Enrollment, g.Expires = mdm.EnrollmentID(enr), micros(expires)
	return &g, nil
}

// nonceKey returns the nonce key, read once.
func (s *Store) nonceKey(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	key := s.key
	s.mu.Unlock()
	if key != nil {
		return key, nil
	}
	op := s.op("nonce key")
	found, err := s.b.QueryRow(ctx, op, `SELECT key FROM acme_nonce_key WHERE id = 1`, nil, &key)
	switch {
	case err != nil:
		return nil, err
	case !found || len(key) < 16:
		return nil, fmt.Errorf("%s: missing", op)
	}
	s.mu.Lock()
	s.key = key
	s.mu.Unlock()
	return key, nil
}

// mac returns the MAC of a nonce's stamp and random part.
func mac(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)[:macLen]
}

// IssueNonce implements acme.Nonces. It writes nothing: after the key was
// read once, it fails only if the key cannot be read.
func (s *Store) IssueNonce(ctx context.Context) (string, error) {
	key, err := s.nonceKey(ctx)
	if err != nil {
		return "", err
	}
	var raw [rawLen]byte
	binary.BigEndian.PutUint64(raw[:stampLen], uint64(s.Now().UnixMicro()))
	rand.Read(raw[stampLen : stampLen+randomLen]) // never fails (crypto/rand)
	copy(raw[stampLen+randomLen:], mac(key, raw[:stampLen+randomLen]))
	return base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// ConsumeNonce implements acme.Nonces: a nonce of the right form, with a
// good MAC and issued within NonceTTL, is accepted if its insert into
// acme_nonces is the first. Nothing else reaches the database.
func (s *Store) ConsumeNonce(ctx context.Context, nonce string) (bool, error) {
	if len(nonce) != nonceLen {
		return false, nil
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(nonce)
	if err != nil || len(raw) != rawLen {
		return false, nil
	}
	key, err := s.nonceKey(ctx)
	if err != nil {
		return false, err
	}
	body := raw[:stampLen+randomLen]
	if !hmac.Equal(raw[stampLen+randomLen:], mac(key, body)) {
		return false, nil
	}
	now := s.Now()
	issued := time.UnixMicro(int64(binary.BigEndian.Uint64(raw[:stampLen])))
	if issued.Before(now.Add(-NonceTTL)) || issued.After(now.Add(MaxClockSkew)) {
		return false, nil
	}
	op := s.op("consume nonce")
	n, err := s.b.Exec(ctx, op, `INSERT INTO acme_nonces (nonce) VALUES (?) ON CONFLICT DO NOTHING`, body)
	if err != nil {
		return false, err
	}
	s.sweep(ctx)
	return n == 1, nil
}

// sweep runs Sweep if a minute passed since this Store last did, logging
// a failure (the next write tries again).
func (s *Store) sweep(ctx context.Context) {
	now := s.Now()
	s.mu.Lock()
	due := now.Sub(s.lastSweep) >= sweepEvery
	if due {
		s.lastSweep = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	if _, err := s.Sweep(ctx, now); err != nil {
		s.log.ErrorContext(ctx, s.op("sweep")+" failed", "err", err)
	}
}

// Sweep deletes, as of now, the accounts made before acme.MemoryRetention,
// the orders expired before it, the nonces that can no longer be
// accepted and the expired credential identifiers, and blanks the
// identifier of every expired order, SweepBatch rows per statement until
// none is left. It returns how many rows it
// deleted or changed. Replicas may sweep at once.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	op := s.op("sweep")
	var stamp [stampLen]byte
	binary.BigEndian.PutUint64(stamp[:], uint64(now.Add(-NonceTTL-MaxClockSkew).UnixMicro()))
	keep := now.Add(-acme.MemoryRetention).UnixMicro()
	steps := []struct {
		q   string
		arg any
	}{
		{`UPDATE acme_orders SET identifier = '' WHERE id IN (SELECT id FROM acme_orders
			WHERE expires_us <= ? AND identifier <> '' ORDER BY expires_us LIMIT ?` + s.lock + `)`, now.UnixMicro()},
		{`DELETE FROM acme_orders WHERE id IN (SELECT id FROM acme_orders WHERE expires_us < ?
			ORDER BY expires_us LIMIT ?` + s.lock + `)`, keep},
		{`DELETE FROM acme_accounts WHERE id IN (SELECT id FROM acme_accounts WHERE created_us < ?
			ORDER BY created_us LIMIT ?` + s.lock + `)`, keep},
		{`DELETE FROM acme_credentials WHERE hash IN (SELECT hash FROM acme_credentials WHERE expires_us < ?
			ORDER BY expires_us LIMIT ?` + s.lock + `)`, now.UnixMicro()},
		{`DELETE FROM acme_nonces WHERE nonce IN (SELECT nonce FROM acme_nonces WHERE nonce < ?
			ORDER BY nonce LIMIT ?` + s.lock + `)`, stamp[:]},
	}
	total := 0
	var errs []error
	for _, st := range steps {
		for {
			n, err := s.b.Exec(ctx, op, st.q, st.arg, SweepBatch)
			total += int(n)
			if err != nil {
				errs = append(errs, err)
				break
			}
			if n < SweepBatch {
				break
			}
		}
	}
	return total, errors.Join(errs...)
}
