package acme

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
)

// CredentialPrefix starts every ClientIdentifier a Credentials issues.
// enroll's identities start with "acme." instead: neither redeems the
// other's, so a credential identifier never gets a device its MDM
// identity, nor an identity's identifier a credential.
const CredentialPrefix = "credential."

// DefaultCredentialTTL is how long a credential ClientIdentifier stays
// valid when CredentialsConfig.TTL is zero: the device runs its ACME
// client right after it downloads the asset data.
const DefaultCredentialTTL = 15 * time.Minute

// CredentialGrant is what a credential ClientIdentifier was issued for.
type CredentialGrant struct {
	// Hash is the SHA-256 (hex) of the identifier; the identifier itself
	// is never stored.
	Hash string
	// Enrollment is the mdm enrollment (channel) that downloaded the
	// asset data.
	Enrollment mdm.EnrollmentID
	// Asset is the identifier of the asset declaration.
	Asset string
	// Expires is when the identifier stops being redeemable.
	Expires time.Time
}

// CredentialStore keeps the credential identifiers a Credentials issued,
// at most one per enrollment and asset. PutCredentialGrant stores g,
// replacing the grant of the same Enrollment and Asset if there is one
// (a device that downloads the asset again gets a new identifier, and the
// old one is void). TakeCredentialGrant removes and returns the grant whose
// Hash is hash, expired or not, or returns ErrNotFound: of any number of
// calls with one hash, concurrent or not, through every process sharing the
// store, at most one returns it. A store may forget a grant once it expired.
// Returned grants are the caller's. Implementations must be safe for
// concurrent use; acmetest.RunCredentialStore proves one.
type CredentialStore interface {
	PutCredentialGrant(ctx context.Context, g *CredentialGrant) error
	TakeCredentialGrant(ctx context.Context, hash string) (*CredentialGrant, error)
}

// Devices is what a Credentials asks about enrollments: their mdm record.
// *mdm.Service implements it.
type Devices interface {
	Enrollment(ctx context.Context, id mdm.EnrollmentID) (*mdm.EnrollmentRecord, error)
}

// CredentialsConfig configures a Credentials. DirectoryURL is required;
// the other zero values are the documented defaults.
type CredentialsConfig struct {
	// DirectoryURL is the directory of the Handler that redeems the
	// identifiers (the one given the Credentials as its Enrollments).
	// Required.
	DirectoryURL string
	// Store keeps the identifiers issued; nil means a new
	// MemoryCredentialStore, for one server. Replicas share the
	// database's (DB.ACME of store/sqlite or store/postgres).
	Store CredentialStore
	// TTL is how long an identifier is valid; zero means
	// DefaultCredentialTTL.
	TTL time.Duration
	// KeySize is the Secure Enclave key's curve, 256 (P-256) or 384
	// (P-384); zero means 384.
	KeySize int
	// Subject is the certificate subject the device requests; nil means
	// CN=<the mdm enrollment ID>.
	Subject profile.Subject
	// SubjectAltName lists the names the device requests; nil asks none.
	SubjectAltName *profile.SubjectAltName
	// ExtendedKeyUsage lists the dotted OIDs the device requests; nil
	// means TLS client authentication (1.3.6.1.5.5.7.3.2).
	ExtendedKeyUsage []string
	// Now tells the time; nil means time.Now.
	Now func() time.Time
	// Rand is the source of identifiers; nil means crypto/rand.
	Rand io.Reader
	// Logger receives one record per issued or redeemed identifier
	// (never the identifier); nil discards them.
	Logger *slog.Logger
}

// Credentials offers hardware-bound, attested ACME credentials to
// enrolled devices through declarative management: the credentials that
// configurations (a Security:Identity, a mail or Exchange account's
// signing and encryption identity, …) reference as a
// com.apple.asset.credential.acme asset. It is two things:
//
//   - the data of such assets (a ddm.AssetSource: give it to the ddm
//     Service as Config.ACMECredentials): for the enrollment downloading
//     it, the com.apple.credential.acme document, asking for an attested
//     Secure Enclave key, with a fresh ClientIdentifier of 256 random bits
//     after CredentialPrefix, single-use, tied to that enrollment and
//     asset, and valid for CredentialsConfig.TTL. The asset declaration
//     is the same for every enrollment; only the data differs, which is
//     why the declaration's Reference carries no Size or Hash-SHA-256.
//   - the Enrollments of the Handler that redeems these identifiers
//     (mount it apart from the Handler of enroll's identities):
//     RedeemChallenge takes the identifier's grant from the store, once,
//     and refuses it when expired, when its enrollment is no longer
//     enrolled, or when it is not a credential identifier at all;
//     RecordCertificate binds nothing. The certificate is a credential
//     for the enrollment's configurations, never its MDM identity: the
//     enrollment's check-ins still need the certificate enroll recorded.
//
// Identifiers are stored only as their SHA-256 and compared in constant
// time. As with enroll's identities, the identifier is a bearer secret:
// the attestation proves a genuine Secure Enclave key, not which device
// downloaded the asset (see the package documentation).
type Credentials struct {
	devices Devices
	cfg     CredentialsConfig
	store   CredentialStore
	log     *slog.Logger
}

var _ Enrollments = (*Credentials)(nil)

// NewCredentials returns the Credentials of cfg, which asks devices
// whether an enrollment is still enrolled. It fails when devices is nil,
// cfg.DirectoryURL is empty or cfg.KeySize is not 0, 256 or 384.
func NewCredentials(devices Devices, cfg CredentialsConfig) (*Credentials, error) {
	switch {
	case devices == nil:
		return nil, errors.New("acme: NewCredentials: no Devices")
	case cfg.DirectoryURL == "":
		return nil, errors.New("acme: NewCredentials: CredentialsConfig.DirectoryURL is required")
	case cfg.KeySize != 0 && cfg.KeySize != 256 && cfg.KeySize != 384:
		return nil, fmt.Errorf("acme: NewCredentials: KeySize %d: a Secure Enclave key is 256 or 384", cfg.KeySize)
	case cfg.TTL < 0:
		return nil, errors.New("acme: NewCredentials: negative TTL")
	}
	if cfg.KeySize == 0 {
		cfg.KeySize = 384
	}
	if cfg.ExtendedKeyUsage == nil {
		cfg.ExtendedKeyUsage = []string{"1.3.6.1.5.5.7.3.2"}
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultCredentialTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	c := &Credentials{devices: devices, cfg: cfg, store: cfg.Store, log: cfg.Logger}
	if c.store == nil {
		c.store = NewMemoryCredentialStore()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// credentialDocument is the com.apple.credential.acme document, the data
// of a com.apple.asset.credential.acme asset (ddm.CredentialACMEType).
type credentialDocument struct {
	DirectoryURL     string
	ClientIdentifier string
	KeySize          int
	KeyType          string
	HardwareBound    bool
	Attest           bool
	Subject          [][][]string
	SubjectAltName   map[string]string `json:",omitempty"`
	UsageFlags       int
	ExtendedKeyUsage []string `json:",omitempty"`
}

// AssetData implements ddm.AssetSource: it issues a ClientIdentifier for
// enrollment and asset and returns the com.apple.credential.acme document
// carrying it, as application/json. An enrollment that is not enrolled
// (unknown, checked out, or not yet past its first TokenUpdate) gets an
// error matching ErrNotFound, and nothing is issued.
func (c *Credentials) AssetData(ctx context.Context, enrollment mdm.EnrollmentID, asset string) ([]byte, string, error) {
	if err := c.enrolled(ctx, enrollment); err != nil {
		return nil, "", fmt.Errorf("acme: credential for %s: %w", enrollment, err)
	}
	b := make([]byte, 32)
	if _, err := io.ReadFull(c.cfg.Rand, b); err != nil {
		return nil, "", fmt.Errorf("acme: credential: reading randomness: %w", err)
	}
	id := CredentialPrefix + base64.RawURLEncoding.EncodeToString(b)
	g := &CredentialGrant{Hash: hashIdentifier(id), Enrollment: enrollment, Asset: asset, Expires: c.cfg.Now().Add(c.cfg.TTL)}
	if err := c.store.PutCredentialGrant(ctx, g); err != nil {
		return nil, "", fmt.Errorf("acme: credential for %s: %w", enrollment, err)
	}
	subject := c.cfg.Subject
	if subject == nil {
		subject = profile.CommonName(string(enrollment))
	}
	doc := credentialDocument{
		DirectoryURL:     c.cfg.DirectoryURL,
		ClientIdentifier: id,
		KeySize:          c.cfg.KeySize,
		KeyType:          profile.KeyTypeEC,
		HardwareBound:    true,
		Attest:           true,
		UsageFlags:       1, // digital signature: a Secure Enclave key does not decrypt
		ExtendedKeyUsage: c.cfg.ExtendedKeyUsage,
	}
	for _, rdn := range subject {
		var set [][]string
		for _, a := range rdn {
			set = append(set, []string{a.Type, a.Value})
		}
		doc.Subject = append(doc.Subject, set)
	}
	if san := c.cfg.SubjectAltName; san != nil {
		doc.SubjectAltName = map[string]string{}
		for k, v := range map[string][]string{"rfc822Name": san.RFC822Name, "dNSName": san.DNSName,
			"uniformResourceIdentifier": san.URI, "ntPrincipalName": san.NTPrincipalName} {
			if len(v) > 0 {
				doc.SubjectAltName[k] = v[0] // the document takes one of each
			}
		}
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, "", err
	}
	c.log.InfoContext(ctx, "acme: credential identifier issued", "enrollment", string(enrollment), "asset", asset)
	return data, "application/json", nil
}

// enrolled returns nil if enrollment is enrolled and not checked out,
// and an error matching ErrNotFound otherwise.
func (c *Credentials) enrolled(ctx context.Context, enrollment mdm.EnrollmentID) error {
	rec, err := c.devices.Enrollment(ctx, enrollment)
	switch {
	case errors.Is(err, mdm.ErrNotFound):
		return fmt.Errorf("%w: unknown enrollment", ErrNotFound)
	case err != nil:
		return err
	case !rec.Enrolled || rec.CheckedOut:
		return fmt.Errorf("%w: not enrolled", ErrNotFound)
	}
	return nil
}

// RedeemChallenge implements Enrollments for a credential identifier: it
// takes the identifier's grant, so that it redeems once, and checks that
// it has not expired and its enrollment is still enrolled. Refusals match
// enroll.ErrChallengeInvalid; an identifier of enroll's identities (or
// anything without CredentialPrefix) is refused without a look-up. The
// Enrollment returned carries only ID: the mdm enrollment the identifier
// was issued to.
func (c *Credentials) RedeemChallenge(ctx context.Context, _ enroll.Meta, identifier string) (*enroll.Enrollment, error) {
	if !strings.HasPrefix(identifier, CredentialPrefix) || len(identifier) > maxIdentifierLen {
		return nil, fmt.Errorf("acme: redeem credential: %w: not a credential identifier", enroll.ErrChallengeInvalid)
	}
	h := hashIdentifier(identifier)
	g, err := c.store.TakeCredentialGrant(ctx, h)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("acme: redeem credential: %w: unknown or used", enroll.ErrChallengeInvalid)
	case err != nil:
		return nil, fmt.Errorf("acme: redeem credential: %w", err)
	case subtle.ConstantTimeCompare([]byte(g.Hash), []byte(h)) != 1:
		return nil, fmt.Errorf("acme: redeem credential: %w: unknown", enroll.ErrChallengeInvalid)
	case !c.cfg.Now().Before(g.Expires):
		return nil, fmt.Errorf("acme: redeem credential: %w: expired", enroll.ErrChallengeInvalid)
	}
	if err := c.enrolled(ctx, g.Enrollment); errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("acme: redeem credential: %w: %v", enroll.ErrChallengeInvalid, err)
	} else if err != nil {
		return nil, fmt.Errorf("acme: redeem credential: %w", err)
	}
	c.log.InfoContext(ctx, "acme: credential identifier redeemed", "enrollment", string(g.Enrollment), "asset", g.Asset)
	return &enroll.Enrollment{ID: string(g.Enrollment)}, nil
}

// RecordCertificate implements Enrollments: it checks that certDER parses
// and binds nothing, so that the credential never becomes the
// enrollment's MDM identity.
func (c *Credentials) RecordCertificate(ctx context.Context, _ enroll.Meta, id string, certDER []byte) (*enroll.Enrollment, error) {
	if _, err := x509.ParseCertificate(certDER); err != nil {
		return nil, fmt.Errorf("acme: record credential: %w", err)
	}
	return &enroll.Enrollment{ID: id}, nil
}

// hashIdentifier is the SHA-256 (hex) of an identifier.
func hashIdentifier(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

var _ CredentialStore = (*MemoryCredentialStore)(nil)

// MemoryCredentialStore is a CredentialStore in memory, the default of
// CredentialsConfig.Store: for tests and a single server. It forgets
// expired grants, at most a minute late.
type MemoryCredentialStore struct {
	mu     sync.Mutex
	byHash map[string]CredentialGrant
	byUse  map[[2]string]string // enrollment, asset → hash
	now    func() time.Time
	swept  time.Time
}

// NewMemoryCredentialStore returns an empty MemoryCredentialStore.
func NewMemoryCredentialStore() *MemoryCredentialStore {
	return &MemoryCredentialStore{byHash: map[string]CredentialGrant{}, byUse: map[[2]string]string{}, now: time.Now}
}

// PutCredentialGrant implements CredentialStore.
func (s *MemoryCredentialStore) PutCredentialGrant(_ context.Context, g *CredentialGrant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); now.Sub(s.swept) >= time.Minute {
		s.swept = now
		for h, old := range s.byHash {
			if !now.Before(old.Expires) {
				s.drop(h, old)
			}
		}
	}
	if _, ok := s.byHash[g.Hash]; ok {
		return ErrConflict
	}
	use := [2]string{string(g.Enrollment), g.Asset}
	if h, ok := s.byUse[use]; ok {
		s.drop(h, s.byHash[h])
	}
	s.byHash[g.Hash] = *g
	s.byUse[use] = g.Hash
	return nil
}

// drop forgets the grant g stored under h. The caller holds s.mu.
func (s *MemoryCredentialStore) drop(h string, g CredentialGrant) {
	delete(s.byHash, h)
	delete(s.byUse, [2]string{string(g.Enrollment), g.Asset})
}

// TakeCredentialGrant implements CredentialStore.
func (s *MemoryCredentialStore) TakeCredentialGrant(_ context.Context, hash string) (*CredentialGrant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.byHash[hash]
	if !ok {
		return nil, ErrNotFound
	}
	s.drop(hash, g)
	return &g, nil
}
