package devicesim

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/profile"
	"github.com/smallstep/scep"
	"github.com/smallstep/scep/x509util"
)

// SCEPError is a refusal by the SCEP server.
type SCEPError struct {
	// Status is the pkiStatus of the CertRep ("2" for FAILURE, "3" for
	// PENDING).
	Status string
	// FailInfo is the failInfo of a FAILURE ("0" badAlg … "4" badCertId).
	FailInfo string
}

// Error describes the refusal.
func (e *SCEPError) Error() string {
	if e.FailInfo != "" {
		return fmt.Sprintf("devicesim: SCEP request refused: pkiStatus %s, failInfo %s", e.Status, e.FailInfo)
	}
	return fmt.Sprintf("devicesim: SCEP request not granted: pkiStatus %s", e.Status)
}

// Unwrap returns ErrSCEP.
func (e *SCEPError) Unwrap() error { return ErrSCEP }

// subjectOIDs maps the short attribute names Apple's Subject uses to OIDs.
var subjectOIDs = map[string]asn1.ObjectIdentifier{
	"CN": {2, 5, 4, 3}, "C": {2, 5, 4, 6}, "L": {2, 5, 4, 7}, "ST": {2, 5, 4, 8},
	"O": {2, 5, 4, 10}, "OU": {2, 5, 4, 11}, "SERIALNUMBER": {2, 5, 4, 5},
	"E": {1, 2, 840, 113549, 1, 9, 1}, "EMAIL": {1, 2, 840, 113549, 1, 9, 1},
	"UID": {0, 9, 2342, 19200300, 100, 1, 1}, "DC": {0, 9, 2342, 19200300, 100, 1, 25},
}

// subjectName converts Apple's Subject array into a pkix.Name that keeps
// the order of its attributes.
func subjectName(s [][][]string) (pkix.Name, error) {
	var n pkix.Name
	for _, rdn := range s {
		for _, pair := range rdn {
			oid, ok := subjectOIDs[strings.ToUpper(pair[0])]
			if !ok {
				var err error
				oid, err = parseOID(pair[0])
				if err != nil {
					return n, fmt.Errorf("devicesim: SCEP subject type %q: %w", pair[0], err)
				}
			}
			n.ExtraNames = append(n.ExtraNames, pkix.AttributeTypeAndValue{Type: oid, Value: pair[1]})
		}
	}
	return n, nil
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("not a dotted OID")
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("not a dotted OID")
		}
		oid[i] = v
	}
	return oid, nil
}

// enrollSCEP obtains an identity from the SCEP payload p as iOS does:
// GetCACaps, GetCACert, then a PKCSReq carrying the challenge password,
// signed with a self-signed certificate for the new key.
func (d *Device) enrollSCEP(ctx context.Context, p *profile.SCEP) (*x509.Certificate, *rsa.PrivateKey, error) {
	caps, err := d.scepGet(ctx, p, "GetCACaps")
	if err != nil {
		return nil, nil, err
	}
	post := false
	for _, c := range strings.Fields(string(caps.body)) {
		if strings.EqualFold(c, "POSTPKIOperation") || strings.EqualFold(c, "SCEPStandard") {
			post = true
		}
	}
	caResp, err := d.scepGet(ctx, p, "GetCACert")
	if err != nil {
		return nil, nil, err
	}
	var caCerts []*x509.Certificate
	switch caResp.mediaType {
	case "application/x-x509-ca-cert":
		caCerts, err = x509.ParseCertificates(caResp.body)
	case "application/x-x509-ca-ra-cert":
		caCerts, err = scep.CACerts(caResp.body)
	default:
		err = fmt.Errorf("unexpected Content-Type %q", caResp.mediaType)
	}
	if err != nil || len(caCerts) == 0 {
		return nil, nil, fmt.Errorf("devicesim: SCEP GetCACert: no CA certificate: %v", err)
	}
	if len(p.CAFingerprint) > 0 && !fingerprintMatches(caCerts, p.CAFingerprint) {
		return nil, nil, fmt.Errorf("devicesim: SCEP GetCACert: %w", ErrCAFingerprint)
	}
	keySize := p.Keysize
	if keySize == 0 {
		keySize = 1024 // the iOS default
	}
	key, err := rsa.GenerateKey(rand.Reader, keySize)
	if err != nil {
		return nil, nil, fmt.Errorf("devicesim: SCEP key: %w", err)
	}
	subject, err := subjectName(subjectPairs(p.Subject))
	if err != nil {
		return nil, nil, err
	}
	csrDER, err := x509util.CreateCertificateRequest(rand.Reader, &x509util.CertificateRequest{
		CertificateRequest: x509.CertificateRequest{Subject: subject, SignatureAlgorithm: x509.SHA256WithRSA},
		ChallengePassword:  p.Challenge,
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("devicesim: SCEP CSR: %w", err)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, nil, fmt.Errorf("devicesim: SCEP CSR: %w", err)
	}
	now := time.Now()
	selfDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      subject,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}, &x509.Certificate{Subject: subject}, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("devicesim: SCEP self-signed certificate: %w", err)
	}
	self, _ := x509.ParseCertificate(selfDER)

	retries, delay := 3, 10*time.Second // iOS defaults
	if p.Retries != nil {
		retries = *p.Retries
	}
	if p.RetryDelay != nil {
		delay = time.Duration(*p.RetryDelay) * time.Second
	}
	if d.opts.SCEPRetryDelay > 0 {
		delay = d.opts.SCEPRetryDelay
	}
	var rep *scep.PKIMessage
	for attempt := 0; ; attempt++ {
		msg, err := newPKCSReq(csr, caCerts, key, self)
		if err != nil {
			return nil, nil, err
		}
		rep, err = d.pkiOperation(ctx, p, post, msg.Raw, caCerts)
		if err != nil {
			return nil, nil, err
		}
		if rep.TransactionID != msg.TransactionID || !bytes.Equal(rep.RecipientNonce, msg.SenderNonce) {
			return nil, nil, fmt.Errorf("devicesim: SCEP CertRep answers another request (transactionID or recipientNonce differs)")
		}
		if rep.PKIStatus != scep.PENDING || attempt >= retries {
			break
		}
		// A PENDING request is sent again after RetryDelay, as iOS does;
		// the transaction ID (derived from the key) stays the same.
		d.log.InfoContext(ctx, "devicesim: SCEP request pending", "attempt", attempt+1, "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(delay):
		}
	}
	if rep.PKIStatus != scep.SUCCESS {
		return nil, nil, &SCEPError{Status: string(rep.PKIStatus), FailInfo: string(rep.FailInfo)}
	}
	if err := rep.DecryptPKIEnvelope(self, key); err != nil {
		return nil, nil, fmt.Errorf("devicesim: SCEP CertRep: %w", err)
	}
	cert := rep.CertRepMessage.Certificate
	if cert == nil {
		return nil, nil, fmt.Errorf("devicesim: SCEP CertRep carries no certificate")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, fmt.Errorf("devicesim: SCEP issued a certificate for another key")
	}
	d.log.InfoContext(ctx, "devicesim: SCEP identity issued", "subject", cert.Subject.String(), "issuer", cert.Issuer.String())
	return cert, key, nil
}

// newPKCSReq builds a PKCSReq for csr, encrypted to the CA certificates
// meant for key encipherment (all of them if none is marked so).
func newPKCSReq(csr *x509.CertificateRequest, caCerts []*x509.Certificate, key *rsa.PrivateKey, self *x509.Certificate) (*scep.PKIMessage, error) {
	tmpl := &scep.PKIMessage{MessageType: scep.PKCSReq, Recipients: caCerts, SignerKey: key, SignerCert: self}
	msg, err := scep.NewCSRRequest(csr, tmpl, scep.WithCertsSelector(scep.EnciphermentCertsSelector()))
	if err != nil {
		tmpl.Recipients = caCerts[:1]
		msg, err = scep.NewCSRRequest(csr, tmpl)
	}
	if err != nil {
		return nil, fmt.Errorf("devicesim: SCEP PKCSReq: %w", err)
	}
	return msg, nil
}

// pkiOperation sends a PKIMessage (POST when the server supports it) and
// parses the CertRep, whose signature must come from one of caCerts.
func (d *Device) pkiOperation(ctx context.Context, p *profile.SCEP, post bool, raw []byte, caCerts []*x509.Certificate) (*scep.PKIMessage, error) {
	var r *scepResponse
	var err error
	if post {
		r, err = d.scepDo(ctx, http.MethodPost, p.URL+queryJoin(p.URL)+"operation=PKIOperation", raw)
	} else {
		q := url.Values{"operation": {"PKIOperation"}, "message": {base64Std(raw)}}
		r, err = d.scepDo(ctx, http.MethodGet, p.URL+queryJoin(p.URL)+q.Encode(), nil)
	}
	if err != nil {
		return nil, err
	}
	rep, err := parseCertRep(r.body, caCerts)
	if err != nil {
		return nil, fmt.Errorf("devicesim: SCEP CertRep: %w", err)
	}
	return rep, nil
}

// parseCertRep parses a server's answer, turning a panic of the parser on
// hostile input into an error.
func parseCertRep(body []byte, caCerts []*x509.Certificate) (rep *scep.PKIMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			rep, err = nil, fmt.Errorf("malformed PKIMessage: %v", r)
		}
	}()
	rep, err = scep.ParsePKIMessage(body, scep.WithCACerts(caCerts))
	if err != nil {
		return nil, err
	}
	if rep.MessageType != scep.CertRep || rep.CertRepMessage == nil {
		return nil, fmt.Errorf("answer is messageType %q, not CertRep", string(rep.MessageType))
	}
	return rep, nil
}

type scepResponse struct {
	mediaType string
	body      []byte
}

func (d *Device) scepGet(ctx context.Context, p *profile.SCEP, op string) (*scepResponse, error) {
	q := url.Values{"operation": {op}}
	if op == "GetCACert" {
		q.Set("message", p.Name)
	}
	return d.scepDo(ctx, http.MethodGet, p.URL+queryJoin(p.URL)+q.Encode(), nil)
}

func (d *Device) scepDo(ctx context.Context, method, u string, body []byte) (*scepResponse, error) {
	op := "SCEP " + method
	if pu, err := url.Parse(u); err == nil {
		op = "SCEP " + pu.Query().Get("operation")
	}
	resp, err := d.systemDo(ctx, method, u, "application/x-pki-message", body)
	if err != nil {
		return nil, fmt.Errorf("devicesim: %s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, httpError(op, resp)
	}
	b, err := readLimited(resp.Body, maxProfileBytes)
	if err != nil {
		return nil, fmt.Errorf("devicesim: %s: %w", op, err)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return &scepResponse{mediaType: mt, body: b}, nil
}

// fingerprintMatches reports whether one of certs has the digest fp
// (MD5, SHA-1 or SHA-256, chosen by its length), as the SCEP payload's
// CAFingerprint requires.
func fingerprintMatches(certs []*x509.Certificate, fp []byte) bool {
	for _, c := range certs {
		var sum []byte
		switch len(fp) {
		case md5.Size:
			s := md5.Sum(c.Raw)
			sum = s[:]
		case sha1.Size:
			s := sha1.Sum(c.Raw)
			sum = s[:]
		case sha256.Size:
			s := sha256.Sum256(c.Raw)
			sum = s[:]
		}
		if sum != nil && subtle.ConstantTimeCompare(sum, fp) == 1 {
			return true
		}
	}
	return false
}

// systemDo sends a request of the device's system services (SCEP, ACME):
// body, if not nil, as contentType, with the system User-Agent.
func (d *Device) systemDo(ctx context.Context, method, u, contentType string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	} else {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", d.systemUserAgent())
	return d.base.Do(req)
}

func queryJoin(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}
