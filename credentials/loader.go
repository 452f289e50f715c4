package credentials

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// MaxFileSize is the largest file a Loader reads. Keys and certificate
// chains are a few kilobytes; anything near this size is a wrong path.
const MaxFileSize = 1 << 20

// Loader loads keys and certificates. The zero Loader is ready to use: no
// passwords, expired certificates refused, the system clock, no logging. A
// Loader is safe for concurrent use if its PasswordSources are.
type Loader struct {
	// Password opens PKCS#12 files; nil means the empty password.
	Password PasswordSource

	// VaultPassword opens Ansible Vault files: typically
	// PasswordFile("/run/secrets/vault-pass") or
	// PasswordEnv("ENROLLKIT_VAULT_PASSWORD"). Nil means vault files are
	// refused with ErrNoVaultPassword.
	VaultPassword PasswordSource

	// AllowExpired accepts certificates outside their validity period.
	// They are still reported: as a warning in the log, and by
	// Identity.NotAfter.
	AllowExpired bool

	// Now returns the time certificates are checked against; nil means
	// time.Now.
	Now func() time.Time

	// Logger receives a record for every identity loaded and a warning
	// for each expired certificate accepted; nil discards them.
	Logger *slog.Logger
}

func (l *Loader) logger() *slog.Logger {
	if l.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Logger
}

func (l *Loader) now() time.Time {
	if l.Now == nil {
		return time.Now()
	}
	return l.Now()
}

// Identity is a private key with its certificate chain.
type Identity struct {
	// Signer is the private key.
	Signer crypto.Signer
	// Chain is the leaf certificate, whose public key is Signer's, then
	// each issuer in turn as far as the inputs contain them. Certificates
	// in the inputs that are not part of this chain are left out.
	Chain []*x509.Certificate
}

// Leaf returns the certificate of the key, Chain[0].
func (id *Identity) Leaf() *x509.Certificate { return id.Chain[0] }

// NotAfter returns the earliest expiry in the chain: when this identity
// stops working. Operators watch it for the yearly push certificate renewal.
func (id *Identity) NotAfter() time.Time {
	t := id.Chain[0].NotAfter
	for _, c := range id.Chain[1:] {
		if c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}

// TLSCertificate returns the identity as a tls.Certificate with Leaf set.
func (id *Identity) TLSCertificate() tls.Certificate {
	raw := make([][]byte, len(id.Chain))
	for i, c := range id.Chain {
		raw[i] = c.Raw
	}
	return tls.Certificate{Certificate: raw, PrivateKey: id.Signer, Leaf: id.Chain[0]}
}

// LoadIdentity reads one private key and its certificate chain from the
// files at paths, in any mix of formats: a single PEM bundle or PKCS#12
// file, or a key file and a certificate file and a chain file, each possibly
// inside an Ansible Vault. Exactly one private key must be found; the
// certificate whose public key matches it is the leaf, and its issuers among
// the other certificates follow in order.
func (l *Loader) LoadIdentity(ctx context.Context, paths ...string) (*Identity, error) {
	var all contents
	for _, path := range paths {
		c, err := l.loadFile(ctx, path)
		if err != nil {
			return nil, err
		}
		all.keys = append(all.keys, c.keys...)
		all.certs = append(all.certs, c.certs...)
	}
	return l.identity(ctx, all, paths)
}

// LoadTLSCertificate is LoadIdentity returning a tls.Certificate, such as
// the MDM push certificate for an APNs client.
func (l *Loader) LoadTLSCertificate(ctx context.Context, paths ...string) (tls.Certificate, error) {
	id, err := l.LoadIdentity(ctx, paths...)
	if err != nil {
		return tls.Certificate{}, err
	}
	return id.TLSCertificate(), nil
}

// LoadSigner reads the one private key in the file at path. Certificates
// in the file, if any, are ignored.
func (l *Loader) LoadSigner(ctx context.Context, path string) (crypto.Signer, error) {
	c, err := l.loadFile(ctx, path)
	if err != nil {
		return nil, err
	}
	s, err := onlySigner(c.keys)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	return s, nil
}

// LoadCertificates reads every certificate in the files at paths, in file
// order, such as a CA bundle. Private keys in the files are ignored. Each
// certificate must be within its validity period unless AllowExpired is
// set.
func (l *Loader) LoadCertificates(ctx context.Context, paths ...string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for _, path := range paths {
		c, err := l.loadFile(ctx, path)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c.certs...)
	}
	if len(certs) == 0 {
		return nil, ErrNoCertificate
	}
	if err := l.checkValidity(ctx, certs); err != nil {
		return nil, err
	}
	return certs, nil
}

// ParseIdentity is LoadIdentity for data already in memory, one slice per
// file.
func (l *Loader) ParseIdentity(ctx context.Context, data ...[]byte) (*Identity, error) {
	var all contents
	for _, d := range data {
		c, err := l.decode(ctx, d)
		if err != nil {
			return nil, err
		}
		all.keys = append(all.keys, c.keys...)
		all.certs = append(all.certs, c.certs...)
	}
	return l.identity(ctx, all, nil)
}

// ParseSigner is LoadSigner for data already in memory.
func (l *Loader) ParseSigner(ctx context.Context, data []byte) (crypto.Signer, error) {
	c, err := l.decode(ctx, data)
	if err != nil {
		return nil, err
	}
	return onlySigner(c.keys)
}

func (l *Loader) loadFile(ctx context.Context, path string) (contents, error) {
	data, err := readFile(ctx, path)
	if err != nil {
		return contents{}, err
	}
	c, err := l.decode(ctx, data)
	if err != nil {
		return contents{}, &FileError{Path: path, Err: err}
	}
	l.logger().DebugContext(ctx, "credentials: file read", "path", path, "format", c.format.String(),
		"keys", len(c.keys), "certificates", len(c.certs))
	return c, nil
}

func readFile(ctx context.Context, path string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{Path: path, Err: chain(ErrUnreadable, err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &FileError{Path: path, Err: chain(ErrUnreadable, err)}
	}
	if len(data) > MaxFileSize {
		return nil, &FileError{Path: path, Err: fmt.Errorf("%w: larger than %d bytes", ErrUnreadable, MaxFileSize)}
	}
	return data, nil
}

func onlySigner(keys []crypto.PrivateKey) (crypto.Signer, error) {
	switch len(keys) {
	case 0:
		return nil, ErrNoKey
	case 1:
	default:
		return nil, fmt.Errorf("%w (%d)", ErrMultipleKeys, len(keys))
	}
	s, ok := keys[0].(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, keys[0])
	}
	return s, nil
}

type publicKey interface {
	Equal(crypto.PublicKey) bool
}

func (l *Loader) identity(ctx context.Context, c contents, paths []string) (*Identity, error) {
	signer, err := onlySigner(c.keys)
	if err != nil {
		return nil, err
	}
	if len(c.certs) == 0 {
		return nil, ErrNoCertificate
	}
	pub, ok := signer.Public().(publicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, signer)
	}
	var leaf *x509.Certificate
	for _, cert := range c.certs {
		if pub.Equal(cert.PublicKey) {
			leaf = cert
			break
		}
	}
	if leaf == nil {
		return nil, fmt.Errorf("%w: none of %d certificates is for this key (first: %s)",
			ErrKeyMismatch, len(c.certs), describe(c.certs[0]))
	}
	id := &Identity{Signer: signer, Chain: buildChain(leaf, c.certs)}
	if err := l.checkValidity(ctx, id.Chain); err != nil {
		return nil, err
	}
	l.logger().InfoContext(ctx, "credentials: identity loaded", "paths", paths, "subject", leaf.Subject.String(),
		"chain", len(id.Chain), "not_after", id.NotAfter())
	return id, nil
}

// buildChain follows issuers from leaf through pool: at each step the
// certificate whose subject is the current issuer and whose key verifies the
// current signature. It stops at a self-signed certificate, when no issuer
// is found, or on a loop.
func buildChain(leaf *x509.Certificate, pool []*x509.Certificate) []*x509.Certificate {
	chain := []*x509.Certificate{leaf}
	used := map[*x509.Certificate]bool{leaf: true}
	cur := leaf
	for len(chain) <= len(pool) {
		if isSelfSigned(cur) {
			break
		}
		var next *x509.Certificate
		for _, c := range pool {
			if used[c] || string(c.RawSubject) != string(cur.RawIssuer) {
				continue
			}
			if cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
		used[next] = true
		cur = next
	}
	return chain
}

func isSelfSigned(c *x509.Certificate) bool {
	return string(c.RawSubject) == string(c.RawIssuer) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func (l *Loader) checkValidity(ctx context.Context, certs []*x509.Certificate) error {
	now := l.now()
	for _, c := range certs {
		if !now.After(c.NotAfter) && !now.Before(c.NotBefore) {
			continue
		}
		verr := &ValidityError{Certificate: c, Now: now}
		if !l.AllowExpired {
			return verr
		}
		l.logger().WarnContext(ctx, "credentials: certificate outside its validity period accepted",
			"subject", c.Subject.String(), "not_before", c.NotBefore, "not_after", c.NotAfter, "err", verr)
	}
	return nil
}

// Package-level shortcuts use the zero Loader: no passwords, expired
// certificates refused.

// LoadIdentity is (&Loader{}).LoadIdentity.
func LoadIdentity(ctx context.Context, paths ...string) (*Identity, error) {
	return (&Loader{}).LoadIdentity(ctx, paths...)
}

// LoadSigner is (&Loader{}).LoadSigner.
func LoadSigner(ctx context.Context, path string) (crypto.Signer, error) {
	return (&Loader{}).LoadSigner(ctx, path)
}

// ParseSigner is (&Loader{}).ParseSigner: a private key from PEM or DER
// data.
func ParseSigner(ctx context.Context, data []byte) (crypto.Signer, error) {
	return (&Loader{}).ParseSigner(ctx, data)
}
