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
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/enrollkit/enrollkit/enroll"
)

// Defaults of Config's zero values.
const (
	// DefaultMaxBodyBytes bounds a request body when
	// Config.MaxBodyBytes is zero. A device-attest-01 answer of an
	// Apple device is about 4 KiB.
	DefaultMaxBodyBytes = 64 << 10
	// DefaultOrderTTL is how long an order can be answered and finalized
	// when Config.OrderTTL is zero.
	DefaultOrderTTL = 15 * time.Minute
	// DefaultMaxNonces bounds the unused nonces kept when
	// Config.MaxNonces is zero.
	DefaultMaxNonces = 8192
)

// IdentifierType is the only identifier type served: the device's
// ClientIdentifier, ordered as a permanent-identifier.
const IdentifierType = "permanent-identifier"

// ChallengeType is the only challenge type served.
const ChallengeType = "device-attest-01"

// maxIdentifierLen bounds an identifier's value.
const maxIdentifierLen = 512

// Enrollments is what a Handler asks about identifiers and tells about
// the certificates it issues; it is the interface package scep uses.
// enroll.Service.ACME() implements it for the identities of
// enroll.Config.ACME (the Service itself redeems SCEP challenges only,
// which prove nothing of a key). The identifier a device orders is the
// ClientIdentifier of its ACME payload, which enroll issued as the
// enrollment's single-use challenge: RedeemChallenge marks it used and
// returns its enrollment, or fails with an error matching
// enroll.ErrChallengeInvalid, enroll.ErrNotFound or an
// *enroll.TransitionError when no certificate may be issued.
// RecordCertificate binds the DER certificate issued for enrollment id to
// it.
type Enrollments interface {
	RedeemChallenge(ctx context.Context, m enroll.Meta, challenge string) (*enroll.Enrollment, error)
	RecordCertificate(ctx context.Context, m enroll.Meta, id string, certDER []byte) (*enroll.Enrollment, error)
}

var _ Enrollments = (*enroll.ACMEIdentities)(nil)

// Issuer signs device certificates. *scep.CA implements it, so one CA can
// serve both protocols and mdm verifies both kinds of identity with its
// certificate. Issue signs a client certificate for csr's subject and
// public key, whose signature the Handler has checked; it must copy
// nothing else from csr. It must be safe for concurrent use.
type Issuer interface {
	Issue(ctx context.Context, csr *x509.CertificateRequest) (*x509.Certificate, error)
}

// Config holds a Handler's settings. BaseURL is required; the other zero
// values are the documented defaults.
type Config struct {
	// BaseURL is the absolute URL the Handler is mounted at, such as
	// "https://mdm.example.com/acme"; the directory, the
	// DirectoryURL of the device's ACME payload, is BaseURL +
	// "/directory". Every request's JWS must name its URL under it.
	// Required.
	BaseURL string
	// AttestationRoots are the roots an attestation must chain to. Nil
	// means Apple's Enterprise Attestation Root CA alone
	// (AppleEnterpriseAttestationRoot); set it only to accept simulated
	// devices (package acmetest).
	AttestationRoots *x509.CertPool
	// Chain lists the certificates served after an issued one in its
	// PEM chain, its issuer first (for a *scep.CA, its Certificate).
	// Nil serves the issued certificate alone.
	Chain []*x509.Certificate
	// Store keeps accounts and orders; nil means a new MemoryStore.
	Store Store
	// OrderTTL is how long after its creation an order can be answered
	// and finalized: the attestation's freshness code is bound to a
	// challenge token at most this old. Zero means DefaultOrderTTL.
	OrderTTL time.Duration
	// MaxBodyBytes bounds a request body; larger ones are refused with
	// 413 before anything is parsed. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Nonces issues and checks the anti-replay nonces. Nil means
	// Store's nonces when Store implements Nonces (the SQL stores of
	// store/sqlite and store/postgres do, so that replicas sharing one
	// database accept each other's nonces), and otherwise a MemoryNonces
	// of MaxNonces, which serves one server only.
	Nonces Nonces
	// MaxNonces bounds the unused nonces of the MemoryNonces made when
	// Nonces is nil and Store keeps none; when full, the oldest is
	// forgotten. Zero means DefaultMaxNonces.
	MaxNonces int
	// Now tells the time; nil means time.Now.
	Now func() time.Time
	// ClientIP returns the client address recorded in the audit trail;
	// nil means the host part of the request's RemoteAddr.
	ClientIP func(*http.Request) string
	// Logger receives one record per issued or refused certificate
	// (never an identifier); nil discards them.
	Logger *slog.Logger
}

// Handler is an ACME server (RFC 8555) that issues device identity
// certificates against Apple's Managed Device Attestation with the
// device-attest-01 challenge. Mount it at Config.BaseURL:
//
//	GET  /directory       the directory
//	HEAD /new-nonce       200 with a Replay-Nonce (GET: 204)
//	POST /new-account     201 a new account (200 the existing one for its key)
//	POST /account/{id}    the account
//	POST /new-order       201 an order for one permanent-identifier
//	POST /order/{id}      the order
//	POST /authz/{id}      the order's authorization
//	POST /chall/{id}      the device-attest-01 answer {"attObj": …}
//	POST /finalize/{id}   {"csr": …}: issue the certificate
//	POST /cert/{id}       the PEM certificate chain
//
// Every POST is a flattened JWS (application/jose+json) whose signature,
// nonce and URL are checked before its payload is decoded. Refusals are
// RFC 8555 problem documents: malformed, badNonce,
// badSignatureAlgorithm, badPublicKey (400), unauthorized (401 for a
// JWS naming another URL; 403 for another account's resource, an expired
// order, or an identifier no enrollment may use), accountDoesNotExist,
// unsupportedIdentifier, rejectedIdentifier, badCSR,
// badAttestationStatement (400), orderNotReady (403), a body over
// Config.MaxBodyBytes 413, another media type 415, an unknown URL 404,
// another method 405, an answer racing another change of its order 409,
// and a failure of the store, the nonces, the Issuer or enroll
// serverInternal (500).
//
// A certificate is issued only when all of this holds: the challenge was
// answered within Config.OrderTTL with an attestation chaining to
// Config.AttestationRoots whose freshness code is the SHA-256 of the
// challenge token; the CSR's public key is the attested key; and the
// ordered identifier redeems (Enrollments.RedeemChallenge) as an
// enrollment's single-use identifier. Nothing is redeemed before the
// attestation and the CSR are accepted. An account is bound to the
// identifier of its first order and may not order for another.
type Handler struct {
	enrollments Enrollments
	issuer      Issuer
	base        string
	basePath    string
	roots       *x509.CertPool
	chain       []*x509.Certificate
	store       Store
	ttl         time.Duration
	maxBytes    int64
	nonces      Nonces
	now         func() time.Time
	clientIP    func(*http.Request) string
	log         *slog.Logger
}

// NewHandler returns a Handler that redeems identifiers with enrollments
// and issues certificates with issuer; both are required, as is
// cfg.BaseURL (absolute, http or https, without query).
func NewHandler(enrollments Enrollments, issuer Issuer, cfg Config) (*Handler, error) {
	if enrollments == nil {
		return nil, errors.New("acme: NewHandler: no Enrollments")
	}
	if issuer == nil {
		return nil, errors.New("acme: NewHandler: no Issuer")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("acme: NewHandler: BaseURL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.OrderTTL < 0 || cfg.MaxBodyBytes < 0 || cfg.MaxNonces < 0 {
		return nil, errors.New("acme: NewHandler: negative OrderTTL, MaxBodyBytes or MaxNonces")
	}
	h := &Handler{
		enrollments: enrollments,
		issuer:      issuer,
		base:        strings.TrimSuffix(cfg.BaseURL, "/"),
		basePath:    strings.TrimSuffix(u.Path, "/"),
		roots:       cfg.AttestationRoots,
		chain:       cfg.Chain,
		store:       cfg.Store,
		nonces:      cfg.Nonces,
		ttl:         cfg.OrderTTL,
		maxBytes:    cfg.MaxBodyBytes,
		now:         cfg.Now,
		clientIP:    cfg.ClientIP,
		log:         cfg.Logger,
	}
	if h.roots == nil {
		h.roots = x509.NewCertPool()
		h.roots.AddCert(AppleEnterpriseAttestationRoot())
	}
	if h.store == nil {
		h.store = NewMemoryStore()
	}
	if h.ttl == 0 {
		h.ttl = DefaultOrderTTL
	}
	if h.maxBytes == 0 {
		h.maxBytes = DefaultMaxBodyBytes
	}
	if h.nonces == nil {
		if n, ok := h.store.(Nonces); ok {
			h.nonces = n
		} else {
			h.nonces = NewMemoryNonces(cfg.MaxNonces)
		}
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

// DirectoryURL returns the URL of the directory, the DirectoryURL of the
// device's ACME payload.
func (h *Handler) DirectoryURL() string { return h.base + "/directory" }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	rel := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, h.basePath), "/")
	name, id, _ := strings.Cut(rel, "/")
	if strings.Contains(id, "/") {
		writeProblem(w, newProblem(http.StatusNotFound, probMalformed, "no such resource"))
		return
	}
	switch name {
	case "directory":
		if !allow(w, r, http.MethodGet) {
			return
		}
		h.directory(w)
		return
	case "new-nonce":
		if !allow(w, r, http.MethodHead, http.MethodGet) {
			return
		}
		if !h.issueNonce(w, r) {
			return
		}
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusNoContent)
		}
		return
	}
	type route struct {
		fn     func(context.Context, http.ResponseWriter, *http.Request, *request, string) *problem
		withID bool
	}
	routes := map[string]route{
		"new-account": {h.newAccount, false},
		"account":     {h.account, true},
		"new-order":   {h.newOrder, false},
		"order":       {h.show(func(o *Order) any { return h.orderJSON(o) }), true},
		"authz":       {h.show(func(o *Order) any { return h.authzJSON(o) }), true},
		"chall":       {h.challenge, true},
		"finalize":    {h.finalize, true},
		"cert":        {h.certificate, true},
	}
	rt, ok := routes[name]
	if !ok || rt.withID != (id != "") {
		writeProblem(w, newProblem(http.StatusNotFound, probMalformed, "no such resource"))
		return
	}
	if !allow(w, r, http.MethodPost) {
		return
	}
	// Every answer to a POST carries a fresh nonce, refusals included.
	if !h.issueNonce(w, r) {
		return
	}
	w.Header().Set("Link", "<"+h.DirectoryURL()+`>;rel="index"`)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/jose+json" {
		writeProblem(w, newProblem(http.StatusUnsupportedMediaType, probMalformed, "the body must be application/jose+json"))
		return
	}
	body, p := h.readBody(w, r)
	if p == nil {
		var req *request
		if req, p = h.authenticate(r.Context(), body, h.base+"/"+rel, name == "new-account"); p == nil {
			p = rt.fn(r.Context(), w, r, req, id)
		}
	}
	if p != nil {
		writeProblem(w, p)
	}
}

// issueNonce sets a fresh Replay-Nonce on w, or answers serverInternal
// and returns false.
func (h *Handler) issueNonce(w http.ResponseWriter, r *http.Request) bool {
	n, err := h.nonces.IssueNonce(r.Context())
	if err != nil {
		writeProblem(w, h.internal(r.Context(), "issue nonce", err))
		return false
	}
	w.Header().Set("Replay-Nonce", n)
	return true
}

// allow answers 405 unless r's method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeProblem(w, newProblem(http.StatusMethodNotAllowed, probMalformed, "method not allowed"))
	return false
}

// readBody reads a request body of at most h.maxBytes.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *problem) {
	tooLarge := newProblem(http.StatusRequestEntityTooLarge, probMalformed, "the body is too large")
	if r.ContentLength > h.maxBytes {
		return nil, tooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge
	}
	if err != nil {
		return nil, newProblem(http.StatusBadRequest, probMalformed, "the body could not be read")
	}
	return b, nil
}

func (h *Handler) directory(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]any{
		"newNonce":   h.base + "/new-nonce",
		"newAccount": h.base + "/new-account",
		"newOrder":   h.base + "/new-order",
	})
}

// newAccount finds or creates the account of the JWS's key. Contacts and
// the terms-of-service flag are not stored: the account is a key.
func (h *Handler) newAccount(ctx context.Context, w http.ResponseWriter, _ *http.Request, req *request, _ string) *problem {
	var p struct {
		OnlyReturnExisting bool `json:"onlyReturnExisting"`
	}
	if prob := decodePayload(req.payload, &p); prob != nil {
		return prob
	}
	thumb, err := thumbprint(req.jwk)
	if err != nil {
		return newProblem(http.StatusBadRequest, probBadPublicKey, "the jwk has no thumbprint")
	}
	for range 2 {
		acct, err := h.store.AccountByThumbprint(ctx, thumb)
		if err == nil {
			w.Header().Set("Location", h.base+"/account/"+acct.ID)
			writeJSON(w, http.StatusOK, accountJSON{Status: StatusValid})
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return h.internal(ctx, "account lookup", err)
		}
		if p.OnlyReturnExisting {
			return newProblem(http.StatusBadRequest, probAccountDoesNotExit, "no account has this key")
		}
		key, err := req.jwk.MarshalJSON()
		if err != nil {
			return newProblem(http.StatusBadRequest, probBadPublicKey, "the jwk cannot be stored")
		}
		acct = &Account{ID: randomID(), Key: key, Thumbprint: thumb, Created: h.now()}
		err = h.store.CreateAccount(ctx, acct)
		if errors.Is(err, ErrConflict) {
			continue // made meanwhile by a concurrent request: answer it
		}
		if err != nil {
			return h.internal(ctx, "create account", err)
		}
		w.Header().Set("Location", h.base+"/account/"+acct.ID)
		writeJSON(w, http.StatusCreated, accountJSON{Status: StatusValid})
		return nil
	}
	return h.internal(ctx, "create account", ErrConflict)
}

// account answers the signer's own account; updates are not served.
func (h *Handler) account(_ context.Context, w http.ResponseWriter, _ *http.Request, req *request, id string) *problem {
	if req.account.ID != id {
		return newProblem(http.StatusForbidden, probUnauthorized, "not this account's resource")
	}
	writeJSON(w, http.StatusOK, accountJSON{Status: StatusValid})
	return nil
}

// newOrder makes an order for one permanent-identifier, binding the
// account to it on its first order.
func (h *Handler) newOrder(ctx context.Context, w http.ResponseWriter, _ *http.Request, req *request, _ string) *problem {
	var p struct {
		Identifiers []identifierJSON `json:"identifiers"`
	}
	if prob := decodePayload(req.payload, &p); prob != nil {
		return prob
	}
	if len(p.Identifiers) != 1 {
		return newProblem(http.StatusBadRequest, probMalformed, "an order names exactly one identifier")
	}
	id := p.Identifiers[0]
	if id.Type != IdentifierType {
		return newProblem(http.StatusBadRequest, probUnsupportedID, "only permanent-identifier is served")
	}
	if !validPermanentIdentifier(id.Value) {
		return newProblem(http.StatusBadRequest, probMalformed, "the permanent-identifier value is malformed")
	}
	if prob := h.bindAccount(ctx, req.account, id.Value); prob != nil {
		return prob
	}
	o := &Order{
		ID:         randomID(),
		AccountID:  req.account.ID,
		Identifier: id.Value,
		Status:     StatusPending,
		Token:      randomToken(),
		Created:    h.now(),
	}
	o.Expires = o.Created.Add(h.ttl)
	if err := h.store.CreateOrder(ctx, o); err != nil {
		return h.internal(ctx, "create order", err)
	}
	w.Header().Set("Location", h.base+"/order/"+o.ID)
	writeJSON(w, http.StatusCreated, h.orderJSON(o))
	return nil
}

// bindAccount binds acct to identifier on its first order, and refuses an
// order for another identifier afterwards: one account, one enrollment.
func (h *Handler) bindAccount(ctx context.Context, acct *Account, identifier string) *problem {
	sum := sha256.Sum256([]byte(identifier))
	want := hex.EncodeToString(sum[:])
	for range 3 {
		if acct.IdentifierHash != "" {
			if subtle.ConstantTimeCompare([]byte(acct.IdentifierHash), []byte(want)) != 1 {
				return newProblem(http.StatusBadRequest, probRejectedID, "this account orders for another identifier")
			}
			return nil
		}
		acct.IdentifierHash = want
		err := h.store.UpdateAccount(ctx, acct)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return h.internal(ctx, "bind account", err)
		}
		if acct, err = h.store.Account(ctx, acct.ID); err != nil {
			return h.internal(ctx, "bind account", err)
		}
	}
	return h.internal(ctx, "bind account", ErrConflict)
}

// validPermanentIdentifier reports whether v is a permanent-identifier
// value of the draft's ABNF: a device identity without "/", then
// optionally "/" and the assigner's dotted OID.
func validPermanentIdentifier(v string) bool {
	if v == "" || len(v) > maxIdentifierLen || !utf8.ValidString(v) {
		return false
	}
	dev, assigner, ok := strings.Cut(v, "/")
	if dev == "" {
		return false
	}
	if !ok {
		return true
	}
	arcs := strings.Split(assigner, ".")
	if len(arcs) < 2 {
		return false
	}
	for i, a := range arcs {
		if a == "" || (len(a) > 1 && a[0] == '0') || strings.Trim(a, "0123456789") != "" {
			return false
		}
		if i == 0 && a != "0" && a != "1" && a != "2" {
			return false
		}
	}
	return true
}

// ownOrder loads order id and checks that req's account made it.
func (h *Handler) ownOrder(ctx context.Context, req *request, id string) (*Order, *problem) {
	o, err := h.store.Order(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, newProblem(http.StatusNotFound, probMalformed, "no such order")
	}
	if err != nil {
		return nil, h.internal(ctx, "order lookup", err)
	}
	if o.AccountID != req.account.ID {
		return nil, newProblem(http.StatusForbidden, probUnauthorized, "not this account's resource")
	}
	return o, nil
}

// show answers a POST-as-GET of an order's resource, as view renders it.
func (h *Handler) show(view func(*Order) any) func(context.Context, http.ResponseWriter, *http.Request, *request, string) *problem {
	return func(ctx context.Context, w http.ResponseWriter, _ *http.Request, req *request, id string) *problem {
		o, p := h.ownOrder(ctx, req, id)
		if p != nil {
			return p
		}
		writeJSON(w, http.StatusOK, view(o))
		return nil
	}
}

// challenge validates the device-attest-01 answer. A refused attestation
// makes the challenge, the authorization and the order invalid, as the
// draft asks; the device starts again with a new order.
func (h *Handler) challenge(ctx context.Context, w http.ResponseWriter, _ *http.Request, req *request, id string) *problem {
	o, p := h.ownOrder(ctx, req, id)
	if p != nil {
		return p
	}
	if h.expired(o) {
		return newProblem(http.StatusForbidden, probUnauthorized, "the order has expired")
	}
	if o.Status != StatusPending || len(req.payload) == 0 {
		// A POST-as-GET, or an answer to a challenge answered
		// already: the challenge is as it is.
		h.writeChallenge(w, o)
		return nil
	}
	var ans struct {
		AttObj string `json:"attObj"`
	}
	if prob := decodePayload(req.payload, &ans); prob != nil {
		return prob
	}
	attObj, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(ans.AttObj, "="))
	if err != nil {
		attObj = nil
	}
	key, err := verifyAttestation(attObj, o.Token, h.roots, h.now())
	if err != nil {
		o.Status = StatusInvalid
		o.Error = err.Error()
		if uerr := h.store.UpdateOrder(ctx, o); errors.Is(uerr, ErrConflict) {
			return newProblem(http.StatusConflict, probMalformed, "the order changed meanwhile")
		} else if uerr != nil {
			return h.internal(ctx, "update order", uerr)
		}
		h.log.WarnContext(ctx, "acme: attestation refused", "order", o.ID, "err", err)
		return newProblem(http.StatusBadRequest, probBadAttestation, err.Error())
	}
	o.AttestedKey = key
	o.Status = StatusReady
	if err := h.store.UpdateOrder(ctx, o); errors.Is(err, ErrConflict) {
		return newProblem(http.StatusConflict, probMalformed, "the order changed meanwhile")
	} else if err != nil {
		return h.internal(ctx, "update order", err)
	}
	h.writeChallenge(w, o)
	return nil
}

func (h *Handler) writeChallenge(w http.ResponseWriter, o *Order) {
	w.Header().Add("Link", "<"+h.base+"/authz/"+o.ID+`>;rel="up"`)
	writeJSON(w, http.StatusOK, h.challengeJSON(o))
}

// finalize issues the certificate of a ready order: the CSR must carry the
// attested key, and the identifier must redeem as an enrollment's
// single-use identifier.
func (h *Handler) finalize(ctx context.Context, w http.ResponseWriter, r *http.Request, req *request, id string) *problem {
	o, p := h.ownOrder(ctx, req, id)
	if p != nil {
		return p
	}
	if o.Status != StatusReady || h.expired(o) {
		return newProblem(http.StatusForbidden, probOrderNotReady, "the order is not ready")
	}
	var fin struct {
		CSR string `json:"csr"`
	}
	if prob := decodePayload(req.payload, &fin); prob != nil {
		return prob
	}
	der, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(fin.CSR, "="))
	if err != nil {
		return newProblem(http.StatusBadRequest, probBadCSR, "the csr is not base64url")
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return newProblem(http.StatusBadRequest, probBadCSR, "the csr does not parse")
	}
	if err := csr.CheckSignature(); err != nil {
		return newProblem(http.StatusBadRequest, probBadCSR, "the csr's signature does not verify")
	}
	pub, err := x509.MarshalPKIXPublicKey(csr.PublicKey)
	if err != nil || subtle.ConstantTimeCompare(pub, o.AttestedKey) != 1 {
		return newProblem(http.StatusBadRequest, probBadCSR, "the csr's key is not the attested key")
	}
	o.Status = StatusProcessing
	if err := h.store.UpdateOrder(ctx, o); errors.Is(err, ErrConflict) {
		return newProblem(http.StatusForbidden, probOrderNotReady, "the order is being finalized")
	} else if err != nil {
		return h.internal(ctx, "update order", err)
	}
	meta := enroll.RequestMeta(r, "acme", h.clientIP)
	e, err := h.enrollments.RedeemChallenge(ctx, meta, o.Identifier)
	var te *enroll.TransitionError
	switch {
	case errors.Is(err, enroll.ErrChallengeInvalid) || errors.As(err, &te) || errors.Is(err, enroll.ErrNotFound):
		h.log.WarnContext(ctx, "acme: identifier refused", "order", o.ID, "err", err)
		return h.fail(ctx, o, newProblem(http.StatusForbidden, probUnauthorized, "the identifier is not valid for an enrollment waiting for its device"))
	case err != nil:
		return h.fail(ctx, o, h.internal(ctx, "redeem identifier", err))
	}
	cert, err := h.issuer.Issue(ctx, csr)
	if err != nil {
		return h.fail(ctx, o, h.internal(ctx, "issue", err))
	}
	if _, err := h.enrollments.RecordCertificate(ctx, meta, e.ID, cert.Raw); err != nil {
		return h.fail(ctx, o, h.internal(ctx, "record certificate", err))
	}
	o.Certificate = cert.Raw
	o.Status = StatusValid
	if err := h.store.UpdateOrder(ctx, o); err != nil {
		return h.internal(ctx, "update order", err)
	}
	h.log.InfoContext(ctx, "acme: issued identity certificate", "enrollment", e.ID, "serial", cert.SerialNumber.Text(16))
	w.Header().Set("Location", h.base+"/order/"+o.ID)
	writeJSON(w, http.StatusOK, h.orderJSON(o))
	return nil
}

// fail marks o invalid after a refusal or failure while finalizing, and
// returns p.
func (h *Handler) fail(ctx context.Context, o *Order, p *problem) *problem {
	o.Status = StatusInvalid
	o.Error = p.Detail
	if err := h.store.UpdateOrder(ctx, o); err != nil {
		h.log.ErrorContext(ctx, "acme: update order failed", "order", o.ID, "err", err)
	}
	return p
}

// certificate serves the issued certificate and Config.Chain as PEM.
func (h *Handler) certificate(ctx context.Context, w http.ResponseWriter, _ *http.Request, req *request, id string) *problem {
	o, p := h.ownOrder(ctx, req, id)
	if p != nil {
		return p
	}
	if o.Status != StatusValid || o.Certificate == nil {
		return newProblem(http.StatusNotFound, probMalformed, "no certificate for this order")
	}
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: o.Certificate})
	for _, c := range h.chain {
		pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return nil
}

// expired reports whether o can no longer be answered or finalized.
func (h *Handler) expired(o *Order) bool {
	return (o.Status == StatusPending || o.Status == StatusReady) && !h.now().Before(o.Expires)
}

// internal logs a failure of the server's side and returns the problem
// the client gets, which says nothing of it.
func (h *Handler) internal(ctx context.Context, op string, err error) *problem {
	h.log.ErrorContext(ctx, "acme: "+op+" failed", "err", err)
	return newProblem(http.StatusInternalServerError, probServerInternal, "")
}

// The JSON resources of RFC 8555 section 7.1.

type accountJSON struct {
	Status string `json:"status"`
}

type identifierJSON struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type orderJSON struct {
	Status         string           `json:"status"`
	Expires        string           `json:"expires"`
	Identifiers    []identifierJSON `json:"identifiers"`
	Authorizations []string         `json:"authorizations"`
	Finalize       string           `json:"finalize"`
	Certificate    string           `json:"certificate,omitempty"`
	Error          *problem         `json:"error,omitempty"`
}

type authzJSON struct {
	Status     string          `json:"status"`
	Expires    string          `json:"expires"`
	Identifier identifierJSON  `json:"identifier"`
	Challenges []challengeJSON `json:"challenges"`
}

type challengeJSON struct {
	Type      string   `json:"type"`
	URL       string   `json:"url"`
	Status    string   `json:"status"`
	Token     string   `json:"token"`
	Validated string   `json:"validated,omitempty"`
	Error     *problem `json:"error,omitempty"`
}

// status is o's status as a client sees it: a pending or ready order
// past its expiry is invalid.
func (h *Handler) status(o *Order) string {
	if h.expired(o) {
		return StatusInvalid
	}
	return o.Status
}

func (h *Handler) orderJSON(o *Order) orderJSON {
	j := orderJSON{
		Status:         h.status(o),
		Expires:        o.Expires.UTC().Format(time.RFC3339),
		Identifiers:    []identifierJSON{{IdentifierType, o.Identifier}},
		Authorizations: []string{h.base + "/authz/" + o.ID},
		Finalize:       h.base + "/finalize/" + o.ID,
	}
	if o.Status == StatusValid {
		j.Certificate = h.base + "/cert/" + o.ID
	}
	if o.Status == StatusInvalid && o.Error != "" {
		j.Error = newProblem(http.StatusForbidden, probUnauthorized, o.Error)
	}
	return j
}

func (h *Handler) authzJSON(o *Order) authzJSON {
	status := StatusValid
	switch {
	case h.expired(o) && o.AttestedKey == nil:
		status = "expired"
	case o.AttestedKey == nil:
		status = h.status(o)
	}
	return authzJSON{
		Status:     status,
		Expires:    o.Expires.UTC().Format(time.RFC3339),
		Identifier: identifierJSON{IdentifierType, o.Identifier},
		Challenges: []challengeJSON{h.challengeJSON(o)},
	}
}

func (h *Handler) challengeJSON(o *Order) challengeJSON {
	c := challengeJSON{Type: ChallengeType, URL: h.base + "/chall/" + o.ID, Token: o.Token}
	switch {
	case o.AttestedKey != nil:
		c.Status = StatusValid
	case o.Status == StatusInvalid:
		c.Status = StatusInvalid
		c.Error = newProblem(http.StatusBadRequest, probBadAttestation, o.Error)
	case h.expired(o):
		c.Status = StatusInvalid
	default:
		c.Status = StatusPending
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// randomID returns 128 random bits, base64url: a resource name.
func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// randomToken returns a challenge token of 256 random bits, base64url
// (the draft asks for at least 128).
func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// parsePEMCertificate parses the first CERTIFICATE block of b.
func parsePEMCertificate(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}
