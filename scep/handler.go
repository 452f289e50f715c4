package scep

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/smallstep/scep"

	"github.com/enrollkit/enrollkit/enroll"
)

// DefaultMaxMessageBytes bounds a PKIOperation message when
// Config.MaxMessageBytes is zero. A PKCSReq of iOS with a 4096-bit key is
// about 4 KiB.
const DefaultMaxMessageBytes = 64 << 10

// caps is the GetCACaps answer: requests may be POSTed and use SHA-256 or
// SHA-512 and AES, as every device that can do User Enrollment (iOS 13 and
// later) does. Renewal is not offered: a renewal carries no challenge, and a
// certificate is issued only for a redeemed one.
const caps = "POSTPKIOperation\nSHA-256\nSHA-512\nAES\nSCEPStandard\n"

// Enrollments is what a Handler asks about challenges and tells about the
// certificates it issues. *enroll.Service implements it; see its methods for
// the contract.
type Enrollments interface {
	// RedeemChallenge marks challenge used and returns its enrollment, or
	// fails with an error matching enroll.ErrChallengeInvalid or an
	// *enroll.TransitionError when no certificate may be issued.
	RedeemChallenge(ctx context.Context, m enroll.Meta, challenge string) (*enroll.Enrollment, error)
	// RecordCertificate binds the DER certificate issued for enrollment
	// id to it.
	RecordCertificate(ctx context.Context, m enroll.Meta, id string, certDER []byte) (*enroll.Enrollment, error)
}

var _ Enrollments = (*enroll.Service)(nil)

// Config holds a Handler's settings. The zero value is ready to use.
type Config struct {
	// MaxMessageBytes bounds a PKIOperation message (the POST body, or
	// the decoded message parameter of a GET); larger ones are refused
	// with 413 before anything is parsed. Zero means
	// DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// ClientIP returns the client address recorded in the audit trail;
	// nil means the host part of the request's RemoteAddr. Set it when a
	// trusted proxy forwards the address.
	ClientIP func(*http.Request) string
	// Logger receives one record per issued or refused request (never a
	// challenge); nil discards them.
	Logger *slog.Logger
}

// Handler serves SCEP at the URL it is mounted at; the operation is the
// query parameter "operation":
//
//	GET  GetCACaps     200 the capabilities, text/plain
//	GET  GetCACert     200 the CA certificate, application/x-x509-ca-cert (DER)
//	GET  PKIOperation  the PKIMessage in the "message" parameter, base64
//	POST PKIOperation  the PKIMessage as the body
//
// A PKIOperation is answered 200 with a CertRep (application/x-pki-message):
// SUCCESS carrying the certificate, or FAILURE with failInfo badRequest
// when the challenge is refused (unknown, used, expired, or its enrollment
// is not waiting for a device), the request is not a PKCSReq, or its CSR is
// unacceptable (bad signature, RSA key under 2048 bits), and
// badMessageCheck when the envelope cannot be decrypted. A message that is
// not a signed PKIMessage gets 400, one over Config.MaxMessageBytes 413, an
// unknown operation 400, another method 405, and a failure of the CA or of
// enroll's store 500. Nothing is issued or recorded, and no challenge is
// spent, unless the request is acceptable; the CSR is checked before the
// challenge is redeemed.
//
// Only the subject and public key of the CSR reach the certificate. The
// CertRep envelope is encrypted with the PKCS#7 library's process-wide
// default cipher (DES-CBC; the Handler does not change a global); it carries
// only the issued certificate, which is not secret.
type Handler struct {
	enrollments Enrollments
	ca          *CA
	maxBytes    int64
	clientIP    func(*http.Request) string
	log         *slog.Logger
}

// NewHandler returns a Handler that redeems challenges with enrollments and
// issues certificates with ca. Both are required; ca must pass the checks
// ErrInvalidCA describes.
func NewHandler(enrollments Enrollments, ca *CA, cfg Config) (*Handler, error) {
	if enrollments == nil {
		return nil, errors.New("scep: NewHandler: no Enrollments")
	}
	if err := ca.check(); err != nil {
		return nil, fmt.Errorf("scep: NewHandler: %w", err)
	}
	if cfg.MaxMessageBytes < 0 {
		return nil, errors.New("scep: NewHandler: negative MaxMessageBytes")
	}
	h := &Handler{enrollments: enrollments, ca: ca, maxBytes: cfg.MaxMessageBytes, clientIP: cfg.ClientIP, log: cfg.Logger}
	if h.maxBytes == 0 {
		h.maxBytes = DefaultMaxMessageBytes
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := r.URL.Query().Get("operation")
	if r.Method != http.MethodGet && !(r.Method == http.MethodPost && op == "PKIOperation") {
		if op == "PKIOperation" {
			w.Header().Set("Allow", "GET, POST")
		} else {
			w.Header().Set("Allow", "GET")
		}
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch op {
	case "GetCACaps":
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, caps)
	case "GetCACert":
		w.Header().Set("Content-Type", "application/x-x509-ca-cert")
		w.Write(h.ca.Certificate.Raw)
	case "PKIOperation":
		h.pkiOperation(w, r)
	default:
		http.Error(w, "unknown SCEP operation", http.StatusBadRequest)
	}
}

// errTooLarge means a message exceeds Config.MaxMessageBytes.
var errTooLarge = errors.New("scep: message too large")

// pkiOperation answers a PKCSReq.
func (h *Handler) pkiOperation(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	meta := enroll.RequestMeta(r, "scep", h.clientIP)
	raw, err := h.message(w, r)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, errTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		h.log.InfoContext(ctx, "scep: unreadable request", "client", meta.ClientIP, "err", err)
		http.Error(w, http.StatusText(status), status)
		return
	}
	msg, err := parsePKIMessage(raw)
	if err != nil {
		h.log.InfoContext(ctx, "scep: not a PKIMessage", "client", meta.ClientIP, "err", err)
		http.Error(w, "not a SCEP PKIMessage", http.StatusBadRequest)
		return
	}
	if msg.MessageType != scep.PKCSReq {
		h.refuse(w, r, msg, scep.BadRequest, fmt.Errorf("messageType %s is not served", msg.MessageType))
		return
	}
	if err := msg.DecryptPKIEnvelope(h.ca.Certificate, h.ca.Key); err != nil {
		h.refuse(w, r, msg, scep.BadMessageCheck, fmt.Errorf("envelope: %w", err))
		return
	}
	csr := msg.CSR
	if err := csr.CheckSignature(); err != nil {
		h.refuse(w, r, msg, scep.BadRequest, fmt.Errorf("CSR signature: %w", err))
		return
	}
	if err := checkKey(csr.PublicKey); err != nil {
		h.refuse(w, r, msg, scep.BadRequest, fmt.Errorf("CSR: %w", err))
		return
	}
	e, err := h.enrollments.RedeemChallenge(ctx, meta, msg.ChallengePassword)
	var te *enroll.TransitionError
	switch {
	case errors.Is(err, enroll.ErrChallengeInvalid) || errors.As(err, &te) || errors.Is(err, enroll.ErrNotFound):
		h.refuse(w, r, msg, scep.BadRequest, err)
		return
	case err != nil:
		h.fail(w, r, "redeem challenge", err)
		return
	}
	cert, err := h.ca.Issue(ctx, csr)
	if err != nil {
		h.fail(w, r, "issue", err)
		return
	}
	if _, err := h.enrollments.RecordCertificate(ctx, meta, e.ID, cert.Raw); err != nil {
		h.fail(w, r, "record certificate", err)
		return
	}
	rep, err := msg.Success(h.ca.Certificate, h.ca.Key, cert)
	if err != nil {
		h.fail(w, r, "CertRep", err)
		return
	}
	h.log.InfoContext(ctx, "scep: issued identity certificate", "enrollment", e.ID, "serial", cert.SerialNumber.Text(16))
	writePKIMessage(w, rep.Raw)
}

// message reads the PKIMessage of a PKIOperation: the body of a POST, or
// the base64 "message" parameter of a GET.
func (h *Handler) message(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Method == http.MethodPost {
		if r.ContentLength > h.maxBytes {
			return nil, errTooLarge
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBytes))
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return b, err
	}
	return decodeMessageParam(r.URL.Query().Get("message"), h.maxBytes)
}

// decodeMessageParam decodes a GET PKIOperation's message parameter. Clients
// send standard base64, some unescaped (a "+" then arrives as a space) and
// some in the URL alphabet; all are accepted, with or without padding.
func decodeMessageParam(s string, max int64) ([]byte, error) {
	if int64(base64.RawStdEncoding.DecodedLen(len(s))) > max+2 {
		return nil, errTooLarge
	}
	s = strings.TrimRight(strings.NewReplacer(" ", "+", "-", "+", "_", "/").Replace(s), "=")
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("scep: message parameter: %w", err)
	}
	if int64(len(b)) > max {
		return nil, errTooLarge
	}
	return b, nil
}

// parsePKIMessage parses and verifies a signed PKIMessage, turning a panic
// of the parser on hostile input into an error.
func parsePKIMessage(raw []byte) (msg *scep.PKIMessage, err error) {
	if len(raw) == 0 {
		return nil, errors.New("scep: empty message")
	}
	defer func() {
		if p := recover(); p != nil {
			msg, err = nil, fmt.Errorf("scep: malformed PKIMessage: %v", p)
		}
	}()
	return scep.ParsePKIMessage(raw)
}

// refuse answers msg with a CertRep FAILURE carrying info.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, msg *scep.PKIMessage, info scep.FailInfo, why error) {
	h.log.WarnContext(r.Context(), "scep: request refused", "client", enroll.RequestMeta(r, "scep", h.clientIP).ClientIP, "fail_info", info.String(), "err", why)
	rep, err := msg.Fail(h.ca.Certificate, h.ca.Key, info)
	if err != nil {
		h.fail(w, r, "CertRep", err)
		return
	}
	writePKIMessage(w, rep.Raw)
}

// fail answers 500 for a failure of the server's side.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, op string, err error) {
	h.log.ErrorContext(r.Context(), "scep: "+op+" failed", "err", err)
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}

func writePKIMessage(w http.ResponseWriter, raw []byte) {
	w.Header().Set("Content-Type", "application/x-pki-message")
	w.Write(raw)
}
