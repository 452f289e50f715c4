package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// signatureAlgorithms are the JWS algorithms accepted on requests: the
// asymmetric ones RFC 8555 allows (never "none" or a MAC).
var signatureAlgorithms = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.PS256, jose.EdDSA,
}

// minRSABits is the smallest RSA account key accepted.
const minRSABits = 2048

// request is an authenticated POST: its signature, nonce and URL were
// checked before its payload was decoded.
type request struct {
	// payload is the verified JWS payload; empty for POST-as-GET.
	payload []byte
	// account is the signer, for requests that name it by kid.
	account *Account
	// jwk is the signer's key, for newAccount.
	jwk *jose.JSONWebKey
}

// authenticate checks who is speaking before anything of the payload is
// read: the flattened JWS must carry exactly one signature with only a
// protected header, the header's "url" must be url, the key must be the
// embedded "jwk" (newAccount) or the account named by "kid" (every other
// request), the signature must verify with it, and then the "nonce" must
// be one the Handler issued and not yet used.
func (h *Handler) authenticate(ctx context.Context, body []byte, url string, newAccount bool) (*request, *problem) {
	jws, err := jose.ParseSignedJSON(string(body), signatureAlgorithms)
	if err != nil {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) {
			return nil, newProblem(http.StatusBadRequest, probBadSignatureAlg, "the JWS algorithm is not accepted")
		}
		return nil, newProblem(http.StatusBadRequest, probMalformed, "the body is not a flattened JWS")
	}
	if len(jws.Signatures) != 1 {
		return nil, newProblem(http.StatusBadRequest, probMalformed, "the JWS must carry exactly one signature")
	}
	sig := jws.Signatures[0]
	if u := sig.Unprotected; u.KeyID != "" || u.JSONWebKey != nil || u.Algorithm != "" || u.Nonce != "" || len(u.ExtraHeaders) > 0 {
		return nil, newProblem(http.StatusBadRequest, probMalformed, "the JWS must not have an unprotected header")
	}
	hdr := sig.Protected
	if got, _ := hdr.ExtraHeaders["url"].(string); got != url {
		return nil, newProblem(http.StatusUnauthorized, probUnauthorized, "the JWS url is not the URL requested")
	}
	if (hdr.JSONWebKey != nil) == (hdr.KeyID != "") {
		return nil, newProblem(http.StatusBadRequest, probMalformed, "the JWS must name its key by exactly one of jwk and kid")
	}
	req := &request{}
	var key *jose.JSONWebKey
	switch {
	case newAccount && hdr.JSONWebKey == nil:
		return nil, newProblem(http.StatusBadRequest, probMalformed, "newAccount is signed with an embedded jwk")
	case newAccount:
		key = hdr.JSONWebKey
		if p := checkAccountKey(key); p != nil {
			return nil, p
		}
		req.jwk = key
	case hdr.KeyID == "":
		return nil, newProblem(http.StatusBadRequest, probMalformed, "this request is signed with an account's kid")
	default:
		id, ok := strings.CutPrefix(hdr.KeyID, h.base+"/account/")
		if !ok || id == "" {
			return nil, newProblem(http.StatusBadRequest, probAccountDoesNotExit, "no such account")
		}
		acct, err := h.store.Account(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return nil, newProblem(http.StatusBadRequest, probAccountDoesNotExit, "no such account")
		}
		if err != nil {
			return nil, h.internal(ctx, "account lookup", err)
		}
		key = new(jose.JSONWebKey)
		if err := key.UnmarshalJSON(acct.Key); err != nil {
			return nil, h.internal(ctx, "stored account key", err)
		}
		req.account = acct
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, newProblem(http.StatusBadRequest, probMalformed, "the JWS signature does not verify")
	}
	ok, err := h.nonces.ConsumeNonce(ctx, hdr.Nonce)
	if err != nil {
		return nil, h.internal(ctx, "consume nonce", err)
	}
	if !ok {
		return nil, newProblem(http.StatusBadRequest, probBadNonce, "the nonce is unknown or used")
	}
	req.payload = payload
	return req, nil
}

// checkAccountKey accepts public ECDSA, Ed25519 and RSA (2048 bits and
// more) keys.
func checkAccountKey(k *jose.JSONWebKey) *problem {
	if !k.Valid() || !k.IsPublic() {
		return newProblem(http.StatusBadRequest, probBadPublicKey, "the jwk is not a valid public key")
	}
	switch pub := k.Key.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return nil
	case *rsa.PublicKey:
		if pub.N.BitLen() >= minRSABits {
			return nil
		}
	}
	return newProblem(http.StatusBadRequest, probBadPublicKey, "the account key must be ECDSA, Ed25519, or RSA of 2048 bits or more")
}

// thumbprint returns the RFC 7638 SHA-256 thumbprint of k, base64url.
func thumbprint(k *jose.JSONWebKey) (string, error) {
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// decodePayload decodes a JSON payload into v; an empty payload (a
// POST-as-GET) is refused.
func decodePayload(payload []byte, v any) *problem {
	if len(payload) == 0 {
		return newProblem(http.StatusBadRequest, probMalformed, "the payload is empty")
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return newProblem(http.StatusBadRequest, probMalformed, "the payload is not the expected JSON object")
	}
	return nil
}
