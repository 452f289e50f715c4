package enroll

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/profile"
)

// DefaultChallengeTTL is how long a SCEP challenge stays valid when
// SCEPConfig.TTL is zero.
const DefaultChallengeTTL = time.Hour

var _ IdentityProvider = (*SCEPChallenges)(nil)

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
	cfg   SCEPConfig
	store Store
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultChallengeTTL
	}
	if cfg.Keysize == 0 {
		cfg.Keysize = 2048
	}
	return &SCEPChallenges{cfg: cfg, store: store}, nil
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
	b := make([]byte, 32)
	if _, err := io.ReadFull(p.cfg.Rand, b); err != nil {
		return nil, fmt.Errorf("enroll: reading randomness: %w", err)
	}
	challenge := base64.RawURLEncoding.EncodeToString(b)
	e.ChallengeHash = hashToken(challenge)
	e.ChallengeExpiresAt = p.cfg.Now().Add(p.cfg.TTL)
	e.ChallengeUsed = false
	subject := p.cfg.Subject
	if subject == nil {
		subject = profile.CommonName(e.ID)
	}
	return &profile.SCEP{
		URL:           p.cfg.URL,
		Name:          p.cfg.Name,
		Subject:       subject,
		Challenge:     challenge,
		Keysize:       p.cfg.Keysize,
		KeyType:       "RSA",
		KeyUsage:      5, // signing and encryption
		CAFingerprint: p.cfg.CAFingerprint,
	}, nil
}

// ChallengeEnrollment implements IdentityProvider: it finds the enrollment
// whose stored challenge hash matches and checks that the challenge has not
// expired.
func (p *SCEPChallenges) ChallengeEnrollment(ctx context.Context, challenge string) (string, error) {
	if challenge == "" || len(challenge) > maxInputLen {
		return "", ErrChallengeInvalid
	}
	e, err := p.store.Find(ctx, IndexChallenge, hashToken(challenge))
	if errors.Is(err, ErrNotFound) {
		return "", ErrChallengeInvalid
	}
	if err != nil {
		return "", err
	}
	if !p.cfg.Now().Before(e.ChallengeExpiresAt) {
		return "", fmt.Errorf("%w: expired", ErrChallengeInvalid)
	}
	return e.ID, nil
}

// RedeemChallenge is what a SCEP server's challenge check calls: it asks the
// IdentityProvider which enrollment the challenge belongs to, makes sure the
// enrollment is waiting for its device (ProfileIssued or TokenIssued, not
// expired or revoked), that the challenge was not redeemed before and is
// still the enrollment's (a newer profile replaces it), and records the
// redemption (EventRedeemChallenge). Any failure matches
// ErrChallengeInvalid or is a *TransitionError; the certificate must then not
// be issued.
func (s *Service) RedeemChallenge(ctx context.Context, m Meta, challenge string) (*Enrollment, error) {
	if challenge == "" || len(challenge) > maxInputLen {
		return nil, fmt.Errorf("enroll: redeem challenge: %w", ErrChallengeInvalid)
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
