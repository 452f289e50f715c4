package acme

import (
	"encoding/json"
	"net/http"
)

// Problem types of RFC 8555 section 6.7 and of the device attestation
// draft, without their "urn:ietf:params:acme:error:" prefix.
const (
	probMalformed          = "malformed"
	probBadNonce           = "badNonce"
	probBadSignatureAlg    = "badSignatureAlgorithm"
	probBadPublicKey       = "badPublicKey"
	probUnauthorized       = "unauthorized"
	probAccountDoesNotExit = "accountDoesNotExist"
	probUnsupportedID      = "unsupportedIdentifier"
	probRejectedID         = "rejectedIdentifier"
	probBadCSR             = "badCSR"
	probOrderNotReady      = "orderNotReady"
	probBadAttestation     = "badAttestationStatement"
	probServerInternal     = "serverInternal"
)

// problem is an RFC 7807 problem document as RFC 8555 uses it: a type, a
// detail for the client (never a secret), and the HTTP status.
type problem struct {
	Type   string `json:"type"`
	Detail string `json:"detail,omitempty"`
	Status int    `json:"status"`
}

func newProblem(status int, typ, detail string) *problem {
	return &problem{Type: "urn:ietf:params:acme:error:" + typ, Detail: detail, Status: status}
}

func (p *problem) Error() string { return "acme: " + p.Type + ": " + p.Detail }

func writeProblem(w http.ResponseWriter, p *problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}
