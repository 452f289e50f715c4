package mdm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
	"howett.net/plist"
)

// TokenServiceMAID is the TokenServiceType of a GetToken check-in sent
// while a Managed Apple Account signs in on a device whose organization
// allows such accounts on managed devices only (Access Management in Apple
// Business or School Manager). Apple's identity service verifies the
// token the server answers with before it lets the account sign in.
const TokenServiceMAID = "com.apple.maid"

// ErrUnknownTokenService means a GetToken check-in asks for a
// TokenServiceType no TokenIssuer serves. Apple's documented answer is
// 400; nothing is issued.
var ErrUnknownTokenService = errors.New("mdm: unknown TokenServiceType")

// TokenServiceError reports a GetToken check-in for a service type the
// server does not issue tokens for.
type TokenServiceError struct {
	// ServiceType is the TokenServiceType the device asked for (at most
	// 64 bytes of it).
	ServiceType string
}

// Error names the service type.
func (e *TokenServiceError) Error() string {
	return fmt.Sprintf("mdm: GetToken: no issuer for TokenServiceType %q", e.ServiceType)
}

// Unwrap returns ErrUnknownTokenService.
func (e *TokenServiceError) Unwrap() error { return ErrUnknownTokenService }

// TokenIssuer issues the token of one service type for a GetToken
// check-in. r.Message is the *GetToken, and r has passed every check a
// check-in gets (its identity certificate, its binding to the enrollment
// and the Prechecker) before IssueToken is called. The returned bytes are
// the TokenData the device receives (a string token as its UTF-8 bytes).
// Errors map to statuses as in Service.ServeHTTP. Implementations must be
// safe for concurrent use.
type TokenIssuer interface {
	IssueToken(ctx context.Context, r *Request) ([]byte, error)
}

// TokenIssuerFunc adapts a function to TokenIssuer.
type TokenIssuerFunc func(ctx context.Context, r *Request) ([]byte, error)

// IssueToken calls f(ctx, r).
func (f TokenIssuerFunc) IssueToken(ctx context.Context, r *Request) ([]byte, error) {
	return f(ctx, r)
}

// Tokens is a Responder for GetToken check-ins: it hands each to the
// TokenIssuer of its TokenServiceType and answers {TokenData: <token>}. A
// service type without an issuer gets a *TokenServiceError (400) and
// nothing is issued; a message other than GetToken gets ErrUnsupported
// (404). Mount it with Responders, or as server.Config.Tokens.
type Tokens map[string]TokenIssuer

// Respond implements Responder.
func (t Tokens) Respond(ctx context.Context, r *Request) ([]byte, error) {
	m, ok := r.Message.(*GetToken)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not GetToken", ErrUnsupported, messageType(r))
	}
	iss := t[m.TokenServiceType]
	if iss == nil {
		return nil, &TokenServiceError{ServiceType: truncate(m.TokenServiceType)}
	}
	tok, err := iss.IssueToken(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("mdm: GetToken %s: %w", m.TokenServiceType, err)
	}
	if len(tok) == 0 {
		return nil, fmt.Errorf("mdm: GetToken %s: issuer returned an empty token", m.TokenServiceType)
	}
	out, err := plist.MarshalIndent(struct{ TokenData []byte }{tok}, plist.XMLFormat, "\t")
	if err != nil {
		return nil, fmt.Errorf("mdm: GetToken %s: %w", m.TokenServiceType, err)
	}
	return out, nil
}

// Responders is a Responder that hands each message to the Responder of
// its MessageType; a type without one gets ErrUnsupported (404). It lets
// separate parts answer GetToken (Tokens) and DeclarativeManagement.
type Responders map[MessageType]Responder

// Respond implements Responder.
func (rs Responders) Respond(ctx context.Context, r *Request) ([]byte, error) {
	if x := rs[messageType(r)]; x != nil {
		return x.Respond(ctx, r)
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupported, messageType(r))
}

func messageType(r *Request) MessageType {
	if r.Message == nil {
		return ""
	}
	return r.Message.CheckinHeader().MessageType
}

// MAIDIssuer issues the com.apple.maid token (TokenServiceMAID): a JSON
// Web Token (RFC 7519) whose claims are iss, the server_uuid Apple
// Business Manager's AccountDetail reports for the MDM server; iat, when
// it was issued; jti, a random UUID, which Apple's identity service
// accepts once; and service_type "com.apple.maid". It is signed with the
// private key of the certificate registered for that MDM server in Apple
// Business or School Manager: RS256 for an RSA key (the kind that
// registration takes, since Apple encrypts the server token to it), ES256
// for an ECDSA P-256 key. Apple documents the token at
// https://developer.apple.com/documentation/devicemanagement/get-token.
//
// A MAIDIssuer is safe for concurrent use if its key is (crypto/rsa and
// crypto/ecdsa keys are).
type MAIDIssuer struct {
	key        crypto.Signer
	alg        string
	serverUUID string
	now        func() time.Time
	rand       io.Reader
}

var _ TokenIssuer = (*MAIDIssuer)(nil)

// NewMAIDIssuer returns a MAIDIssuer signing with key for the MDM server
// serverUUID. It fails for a key that is neither RSA of at least 2048 bits
// nor ECDSA P-256, and for a serverUUID that is not a UUID.
func NewMAIDIssuer(key crypto.Signer, serverUUID string) (*MAIDIssuer, error) {
	if key == nil {
		return nil, errors.New("mdm: NewMAIDIssuer: nil key")
	}
	var alg string
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("mdm: NewMAIDIssuer: RSA key of %d bits, want 2048 or more", pub.N.BitLen())
		}
		alg = "RS256"
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("mdm: NewMAIDIssuer: ECDSA key on %s, want P-256", pub.Curve.Params().Name)
		}
		alg = "ES256"
	default:
		return nil, fmt.Errorf("mdm: NewMAIDIssuer: %T key, want RSA or ECDSA P-256", pub)
	}
	if !isUUID(serverUUID) {
		return nil, fmt.Errorf("mdm: NewMAIDIssuer: server UUID %q is not a UUID (Apple Business Manager's server_uuid)", truncate(serverUUID))
	}
	return &MAIDIssuer{key: key, alg: alg, serverUUID: serverUUID, now: time.Now, rand: rand.Reader}, nil
}

// Algorithm returns the JWS algorithm the issuer signs with: "RS256" or
// "ES256".
func (m *MAIDIssuer) Algorithm() string { return m.alg }

// maidClaims are the claims of a com.apple.maid token.
type maidClaims struct {
	Issuer      string `json:"iss"`
	IssuedAt    int64  `json:"iat"`
	ID          string `json:"jti"`
	ServiceType string `json:"service_type"`
}

// IssueToken implements TokenIssuer: it returns a new signed token in JWS
// compact serialization.
func (m *MAIDIssuer) IssueToken(_ context.Context, r *Request) ([]byte, error) {
	if g, ok := r.Message.(*GetToken); !ok || g.TokenServiceType != TokenServiceMAID {
		return nil, fmt.Errorf("%w: MAIDIssuer issues %s tokens only", ErrUnknownTokenService, TokenServiceMAID)
	}
	jti, err := newUUID(m.rand)
	if err != nil {
		return nil, fmt.Errorf("mdm: jti: %w", err)
	}
	header, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}{m.alg, "JWT"})
	claims, _ := json.Marshal(maidClaims{Issuer: m.serverUUID, IssuedAt: m.now().Unix(), ID: jti, ServiceType: TokenServiceMAID})
	enc := base64.RawURLEncoding
	tok := make([]byte, 0, 512)
	tok = enc.AppendEncode(tok, header)
	tok = append(tok, '.')
	tok = enc.AppendEncode(tok, claims)
	digest := sha256.Sum256(tok)
	sig, err := m.key.Sign(m.rand, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("mdm: sign token: %w", err)
	}
	if m.alg == "ES256" {
		if sig, err = rawECDSA(sig, 32); err != nil {
			return nil, fmt.Errorf("mdm: sign token: %w", err)
		}
	}
	tok = append(tok, '.')
	return enc.AppendEncode(tok, sig), nil
}

// rawECDSA turns an ASN.1 ECDSA signature into the fixed-width r||s that
// JWS requires (RFC 7518, section 3.4), each integer size bytes.
func rawECDSA(der []byte, size int) ([]byte, error) {
	var r, s []byte
	in, seq := cryptobyte.String(der), cryptobyte.String(nil)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, errors.New("malformed ECDSA signature")
	}
	out := make([]byte, 2*size)
	for i, v := range [][]byte{r, s} {
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > size {
			return nil, errors.New("ECDSA signature integer too long")
		}
		copy(out[(i+1)*size-len(v):(i+1)*size], v)
	}
	return out, nil
}

// newUUID returns a random (version 4) UUID read from rnd.
func newUUID(rnd io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// isUUID reports whether s has the 8-4-4-4-12 hexadecimal form of a UUID.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}
