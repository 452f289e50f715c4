package enroll

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
)

// DefaultChallengeTTL is how long an identity challenge (a SCEP
// challenge or an ACME ClientIdentifier) stays valid when SCEPConfig.TTL or
// ACMEConfig.TTL is zero.
const DefaultChallengeTTL = time.Hour

// Default key size of the ACME payload when ACMEConfig.KeySize is zero.
const DefaultACMEKeySize = 384

var (
	_ IdentityProvider = (*SCEPChallenges)(nil)
	_ IdentityProvider = (*ACMEChallenges)(nil)
)

// acmePrefix starts every ClientIdentifier ACMEChallenges issues, so that
// the SCEP server cannot redeem it (see Service.RedeemChallenge): a
// software key must not get the identity an attestation was asked for.
const acmePrefix = "acme."

// challenges issues and looks up the single-use identity challenges of
// both built-in identities; they differ only in the payload carrying it.
type challenges struct {
	store Store
	now   func() time.Time
	rand  io.Reader
	ttl   time.Duration
}

func newChallenges(store Store, now func() time.Time, r io.Reader, ttl time.Duration) challenges {
	if now == nil {
		now = time.Now
	}
	if r == nil {
		r = rand.Reader
	}
	if ttl <= 0 {
		ttl = DefaultChallengeTTL
	}
	return challenges{store: store, now: now, rand: r, ttl: ttl}
}

// issue draws a challenge of 256 random bits after prefix and records its
// hash and expiry in e.
func (c *challenges) issue(e *Enrollment, prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(c.rand, b); err != nil {
		return "", fmt.Errorf("enroll: reading randomness: %w", err)
	}
	challenge := prefix + base64.RawURLEncoding.EncodeToString(b)
	e.ChallengeHash = hashToken(challenge)
	e.ChallengeExpiresAt = c.now().Add(c.ttl)
	e.ChallengeUsed = false
	return challenge, nil
}

// ChallengeEnrollment implements IdentityProvider: it finds the enrollment
// whose stored challenge hash matches and checks that the challenge has not
// expired.
func (c *challenges) ChallengeEnrollment(ctx context.Context, challenge string) (string, error) {
	if challenge == "" || len(challenge) > maxInputLen {
		return "", ErrChallengeInvalid
	}
	e, err := c.store.Find(ctx, IndexChallenge, hashToken(challenge))
	if errors.Is(err, ErrNotFound) {
		return "", ErrChallengeInvalid
	}
	if err != nil {
		return "", err
	}
	if !c.now().Before(e.ChallengeExpiresAt) {
		return "", fmt.Errorf("%w: expired", ErrChallengeInvalid)
	}
	return e.ID, nil
}

// SCEPChallenges is the built-in IdentityProvider: every profile gets a SCEP
// payload with a fresh 256-bit challenge bound to its enrollment. The
// challenge is stored only as its SHA-256 hash in the enrollment
// (ChallengeHash), expires after TTL, and is good for one certificate
// (Service.RedeemChallenge marks it used). A host needs only a SCEP server
// whose challenge check calls Service.RedeemChallenge and which reports the
// certificates it issues with Service.RecordCertificate (package scep is
// one). The Service builds one from Config.SCEP; NewSCEPChallenges builds
// one for a host that wraps it in its own IdentityProvider.
type SCEPChallenges struct {
	challenges
	cfg SCEPConfig
}

// NewSCEPChallenges returns the SCEP challenges of cfg, looked up in store
// (the Service's). It fails when store is nil or cfg.URL is empty.
func NewSCEPChallenges(store Store, cfg SCEPConfig) (*SCEPChallenges, error) {
	if store == nil {
		return nil, errors.New("enroll: NewSCEPChallenges: nil Store")
	}
	if cfg.URL == "" {
		return nil, errors.New("enroll: NewSCEPChallenges: SCEPConfig.URL is required")
	}
	if cfg.Keysize == 0 {
		cfg.Keysize = 2048
	}
	return &SCEPChallenges{challenges: newChallenges(store, cfg.Now, cfg.Rand, cfg.TTL), cfg: cfg}, nil
}

// SCEPConfig configures the SCEP payload of enrollment profiles and its
// challenges (Config.SCEP).
type SCEPConfig struct {
	// URL is the SCEP server's URL. Required.
	URL string
	// Name is the CA instance name sent to the server, if it wants one.
	Name string
	// Subject is the certificate subject the device requests; nil means
	// CN=<enrollment ID>.
	Subject profile.Subject
	// Keysize is the RSA key size; zero means 2048.
	Keysize int
	// CAFingerprint, if set, is the digest of the CA certificate the
	// device checks.
	CAFingerprint []byte
	// TTL is how long a challenge is valid; zero means
	// DefaultChallengeTTL.
	TTL time.Duration

	// Now tells the time; nil means time.Now, and in Config.SCEP the
	// Service's Config.Now.
	Now func() time.Time
	// Rand is the source of challenges; nil means crypto/rand.
	Rand io.Reader
}

// Identity implements IdentityProvider: it draws a challenge, records its
// hash and expiry in e, and returns the SCEP payload carrying it.
func (p *SCEPChallenges) Identity(ctx context.Context, e *Enrollment) (profile.Payload, error) {
	challenge, err := p.issue(e, "")
	if err != nil {
		return nil, err
	}
	return p.payload(e, challenge), nil
}

// payload is the SCEP payload carrying challenge for e.
func (p *SCEPChallenges) payload(e *Enrollment, challenge string) *profile.SCEP {
	return &profile.SCEP{
		URL:           p.cfg.URL,
		Name:          p.cfg.Name,
		Subject:       subjectOr(p.cfg.Subject, e),
		Challenge:     challenge,
		Keysize:       p.cfg.Keysize,
		KeyType:       "RSA",
		KeyUsage:      5, // signing and encryption
		CAFingerprint: p.cfg.CAFingerprint,
	}
}

// subjectOr is s, or CN=<e's ID> when s is nil.
func subjectOr(s profile.Subject, e *Enrollment) profile.Subject {
	if s == nil {
		return profile.CommonName(e.ID)
	}
	return s
}

// ACMEConfig configures hardware-bound, attested device identities over
// ACME (Config.ACME): every profile gets a com.apple.security.acme payload
// whose ClientIdentifier is the enrollment's single-use challenge, which
// the ACME server (package acme) redeems when it issues the certificate,
// as a SCEP server redeems the SCEP challenge. The payload always asks for
// a key in the Secure Enclave (HardwareBound) and for Managed Device
// Attestation (Attest): that is what package acme verifies.
type ACMEConfig struct {
	// DirectoryURL is the ACME server's directory. Setting it turns ACME
	// on; empty leaves identities to SCEP.
	DirectoryURL string
	// Subject is the certificate subject the device requests; nil means
	// CN=<enrollment ID>.
	Subject profile.Subject
	// KeySize is the Secure Enclave key's curve, 256 (P-256) or 384
	// (P-384); zero means DefaultACMEKeySize.
	KeySize int
	// ExtendedKeyUsage lists the dotted OIDs the device requests; nil
	// means TLS client authentication (1.3.6.1.5.5.7.3.2).
	ExtendedKeyUsage []string
	// SCEPFallback gives a SCEP payload (Config.SCEP, whose URL is then
	// required) instead to a device that may be too old for an attested
	// ACME identity (the payload came with iOS 16 and macOS 13.1, Managed
	// Device Attestation with iOS and iPadOS 16 and macOS 14): one older
	// than that, or one
	// whose release the Service cannot tell (a Mac, or an iPad asking for
	// desktop sites, downloading its profile in Safari, whose User-Agent
	// hides the release; an iPhone or iPad enrolling account-driven before
	// iOS 17, which sends no OS version; a profile served by a host calling
	// DownloadProfile or FetchProfile with no User-Agent of Safari on an
	// iPhone or iPad). The Portal tells the Service what the device's
	// request says.
	// Its SCEP challenge cannot be redeemed over ACME, nor an ACME
	// ClientIdentifier over SCEP. False gives every device the ACME
	// payload: a device too old for it refuses the profile and does not
	// enroll.
	SCEPFallback bool
	// TTL is how long a ClientIdentifier is valid; zero means
	// DefaultChallengeTTL.
	TTL time.Duration

	// Now tells the time; nil means time.Now, and in Config.ACME the
	// Service's Config.Now.
	Now func() time.Time
	// Rand is the source of ClientIdentifiers; nil means crypto/rand.
	Rand io.Reader
}

// ACMEChallenges is the built-in IdentityProvider with Config.ACME: it
// issues and looks up its single-use challenges as SCEPChallenges does,
// and puts them into an ACME payload as its ClientIdentifier (or, with
// ACMEConfig.SCEPFallback, into a SCEP payload for a device that may be
// too old for ACME).
type ACMEChallenges struct {
	challenges
	cfg      ACMEConfig
	fallback *SCEPChallenges
}

// NewACMEChallenges returns the ACME identities of cfg, looked up in store
// (the Service's); fallback configures the SCEP payload of
// ACMEConfig.SCEPFallback. It fails when store is nil, cfg.DirectoryURL is empty,
// cfg.KeySize is not 256 or 384, or fallback is needed and has no URL.
func NewACMEChallenges(store Store, cfg ACMEConfig, fallback SCEPConfig) (*ACMEChallenges, error) {
	switch {
	case store == nil:
		return nil, errors.New("enroll: NewACMEChallenges: nil Store")
	case cfg.DirectoryURL == "":
		return nil, errors.New("enroll: NewACMEChallenges: ACMEConfig.DirectoryURL is required")
	case cfg.KeySize != 0 && cfg.KeySize != 256 && cfg.KeySize != 384:
		return nil, fmt.Errorf("enroll: NewACMEChallenges: ACMEConfig.KeySize %d: a Secure Enclave key is 256 or 384", cfg.KeySize)
	}
	if cfg.KeySize == 0 {
		cfg.KeySize = DefaultACMEKeySize
	}
	if cfg.ExtendedKeyUsage == nil {
		cfg.ExtendedKeyUsage = []string{"1.3.6.1.5.5.7.3.2"}
	}
	p := &ACMEChallenges{challenges: newChallenges(store, cfg.Now, cfg.Rand, cfg.TTL), cfg: cfg}
	if cfg.SCEPFallback {
		var err error
		if p.fallback, err = NewSCEPChallenges(store, fallback); err != nil {
			return nil, fmt.Errorf("enroll: NewACMEChallenges: SCEPFallback: %w", err)
		}
	}
	return p, nil
}

// Identity implements IdentityProvider: it draws a ClientIdentifier,
// records its hash and expiry in e, and returns the ACME payload carrying
// it, or, with ACMEConfig.SCEPFallback, the SCEP payload for a device that
// may be too old for ACME.
func (p *ACMEChallenges) Identity(ctx context.Context, e *Enrollment) (profile.Payload, error) {
	if p.fallback != nil && !releaseOf(ctx).attestsACME() {
		return p.fallback.Identity(ctx, e)
	}
	id, err := p.issue(e, acmePrefix)
	if err != nil {
		return nil, err
	}
	return &profile.ACME{
		DirectoryURL:     p.cfg.DirectoryURL,
		ClientIdentifier: id,
		KeySize:          p.cfg.KeySize,
		KeyType:          profile.KeyTypeEC,
		HardwareBound:    true,
		Attest:           true,
		Subject:          subjectOr(p.cfg.Subject, e),
		UsageFlags:       1, // digital signature: a Secure Enclave key does not decrypt
		ExtendedKeyUsage: p.cfg.ExtendedKeyUsage,
	}, nil
}

// deviceRelease is what the Service knows of the device a profile is
// built for: its platform and release, when it could tell.
type deviceRelease struct {
	known bool
	mac   bool
	v     uaVersion
}

// attestsACME reports whether the device is known to take a
// hardware-bound, attested ACME identity.
func (r deviceRelease) attestsACME() bool {
	switch {
	case !r.known:
		return false
	case r.mac:
		return r.v.atLeast(14, 0)
	}
	return r.v.atLeast(16, 0)
}

type releaseKey struct{}

// withRelease tells the IdentityProvider which device the profile is for.
func withRelease(ctx context.Context, r deviceRelease) context.Context {
	return context.WithValue(ctx, releaseKey{}, r)
}

// releaseOf is the release withRelease recorded, or an unknown one.
func releaseOf(ctx context.Context) deviceRelease {
	r, _ := ctx.Value(releaseKey{}).(deviceRelease)
	return r
}

// releaseFromUserAgent is what a browser's User-Agent tells of the device:
// the release of an iPhone or iPad asking for mobile sites (a lower bound
// from iOS 18 on, which is enough here), nothing for a Mac.
func releaseFromUserAgent(s string) deviceRelease {
	ua := parseUserAgent(s)
	if (ua.platform == uaIPhone || ua.platform == uaIPad) && ua.os.known() {
		return deviceRelease{known: true, v: ua.os}
	}
	return deviceRelease{}
}

// releaseFromMachineInfo is what an account-driven device's MachineInfo
// tells: its product and, from iOS 17 and macOS 14, its OS version.
func releaseFromMachineInfo(product, osVersion string) deviceRelease {
	v, ok := versionAfter(" "+osVersion, " ", '.')
	if !ok {
		return deviceRelease{}
	}
	return deviceRelease{known: true, mac: mdm.PlatformOf(product, "", "") == mdm.PlatformMacOS, v: v}
}

// RedeemChallenge is what a SCEP server's challenge check calls: it asks the
// IdentityProvider which enrollment the challenge belongs to, makes sure the
// enrollment is waiting for its device (ProfileIssued or TokenIssued, not
// expired or revoked), that the challenge was not redeemed before and is
// still the enrollment's (a newer profile replaces it), and records the
// redemption (EventRedeemChallenge). Any failure matches
// ErrChallengeInvalid or is a *TransitionError; the certificate must then not
// be issued. A ClientIdentifier issued for an attested ACME identity
// (Config.ACME) is refused: only the ACME server redeems it, through
// Service.ACME.
func (s *Service) RedeemChallenge(ctx context.Context, m Meta, challenge string) (*Enrollment, error) {
	return s.redeem(ctx, m, challenge, false)
}

// ACMEIdentities is the Service as the ACME server (package acme) sees it:
// its RedeemChallenge redeems only the ClientIdentifiers of ACME payloads
// (Config.ACME), so that a SCEP challenge, which proves nothing of the
// key, cannot get an identity over ACME either. Get it with Service.ACME.
type ACMEIdentities struct{ s *Service }

// ACME returns the Service as the Enrollments of the ACME server that
// issues the identities of Config.ACME.
func (s *Service) ACME() *ACMEIdentities { return &ACMEIdentities{s} }

// RedeemChallenge is Service.RedeemChallenge for the ClientIdentifier of
// an ACME payload; any other challenge matches ErrChallengeInvalid.
func (a *ACMEIdentities) RedeemChallenge(ctx context.Context, m Meta, identifier string) (*Enrollment, error) {
	return a.s.redeem(ctx, m, identifier, true)
}

// RecordCertificate is Service.RecordCertificate.
func (a *ACMEIdentities) RecordCertificate(ctx context.Context, m Meta, id string, certDER []byte) (*Enrollment, error) {
	return a.s.RecordCertificate(ctx, m, id, certDER)
}

// redeem redeems challenge, which must have been issued for ACME if acme
// is set, and for anything else otherwise.
func (s *Service) redeem(ctx context.Context, m Meta, challenge string, acme bool) (*Enrollment, error) {
	if challenge == "" || len(challenge) > maxInputLen {
		return nil, fmt.Errorf("enroll: redeem challenge: %w", ErrChallengeInvalid)
	}
	if strings.HasPrefix(challenge, acmePrefix) != acme {
		return nil, fmt.Errorf("enroll: redeem challenge: %w: issued for the other identity protocol", ErrChallengeInvalid)
	}
	id, err := s.cfg.Identity.ChallengeEnrollment(ctx, challenge)
	if err != nil {
		return nil, fmt.Errorf("enroll: redeem challenge: %w", err)
	}
	h := hashToken(challenge)
	e, err := s.run(ctx, m, "redeem challenge", id, EventRedeemChallenge, func(st *step) error {
		if st.e.ChallengeUsed && sameHash(st.e.ChallengeHash, h) {
			return fmt.Errorf("%w: already used", ErrChallengeInvalid)
		}
		if st.e.ChallengeHash != "" && !sameHash(st.e.ChallengeHash, h) {
			// A newer profile replaced the challenge after it was
			// looked up (a device installing again).
			return fmt.Errorf("%w: replaced by a newer profile", ErrChallengeInvalid)
		}
		st.e.ChallengeHash = h
		st.e.ChallengeUsed = true
		st.commit(EventRedeemChallenge)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "enroll: identity challenge redeemed", "enrollment", e.ID)
	return e, nil
}

// RecordCertificate binds the identity certificate issued for enrollment id
// (DER) to it (EventBindCertificate), so that the device's Authenticate is
// accepted only with this certificate. A certificate already bound to another
// enrollment gives ErrDeviceMismatch.
func (s *Service) RecordCertificate(ctx context.Context, m Meta, id string, certDER []byte) (*Enrollment, error) {
	if _, err := x509.ParseCertificate(certDER); err != nil {
		return nil, invalid("certificate: %v", err)
	}
	h := mdm.FingerprintOf(certDER).String()
	if other, err := s.store.Find(ctx, IndexCertificate, h); err == nil && other.ID != id {
		return nil, fmt.Errorf("enroll: record certificate: bound to another enrollment: %w", ErrDeviceMismatch)
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("enroll: record certificate: %w", err)
	}
	e, err := s.run(ctx, m, "record certificate", id, EventBindCertificate, func(st *step) error {
		st.e.CertificateHash = h
		st.commit(EventBindCertificate)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "enroll: identity certificate recorded", "enrollment", e.ID)
	return e, nil
}
