package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"time"

	kitlog "github.com/go-kit/kit/log"
	scepserver "github.com/micromdm/scep/v2/server"
	"github.com/smallstep/scep"

	"github.com/enrollkit/enrollkit/enroll"
)

// identityValidity is how long a device identity certificate is valid.
const identityValidity = 365 * 24 * time.Hour

// errSCEPChallenge is returned to the SCEP layer when a request carries a
// challenge that enroll does not vouch for; no certificate is issued.
var errSCEPChallenge = errors.New("scep: challenge refused")

// scepHandler serves SCEP (GetCACaps, GetCACert, PKIOperation) with the
// development CA. A certificate is issued only for a challenge that enroll
// redeems: single-use, bound to one enrollment that is waiting for its
// device. The certificate is then recorded against that enrollment, so the
// device's Authenticate is accepted only with it.
func (st *stack) scepHandler() http.Handler {
	signer := scepserver.CSRSignerContextFunc(func(ctx context.Context, m *scep.CSRReqMessage) (*x509.Certificate, error) {
		meta := enroll.Meta{Actor: "scep"}
		e, err := st.enroll.RedeemChallenge(ctx, meta, m.ChallengePassword)
		if err != nil {
			st.logger.WarnContext(ctx, "scep: challenge refused", "err", err)
			return nil, errSCEPChallenge
		}
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
		if err != nil {
			return nil, err
		}
		now := time.Now()
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: serial,
			Subject:      m.CSR.Subject,
			NotBefore:    now.Add(-5 * time.Minute),
			NotAfter:     now.Add(identityValidity),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}, st.pki.CA, m.CSR.PublicKey, st.pki.CAKey)
		if err != nil {
			return nil, fmt.Errorf("scep: issue: %w", err)
		}
		if _, err := st.enroll.RecordCertificate(ctx, meta, e.ID, der); err != nil {
			return nil, fmt.Errorf("scep: record certificate: %w", err)
		}
		st.logger.InfoContext(ctx, "scep: issued identity certificate", "enrollment", e.ID)
		return x509.ParseCertificate(der)
	})
	svc, err := scepserver.NewService(st.pki.CA, st.pki.CAKey, signer)
	if err != nil {
		// NewService fails only on a nil CA or key, which newStack rules out.
		panic(err)
	}
	return scepserver.MakeHTTPHandler(scepserver.MakeServerEndpoints(svc), svc, kitlog.NewNopLogger())
}
