package mdm

import (
	"errors"
	"fmt"
	"net/http"
)

// Identify authenticates a device request that carries no message — a
// download the device makes with "MDM" authentication, such as the data of
// a declarative management asset — with the checks of a check-in: the
// identity certificate (a TLS client certificate, the proxy header, or the
// signer of an Mdm-Signature, which must verify over the empty body) must
// chain to the roots and be bound to a live enrollment, and the Prechecker
// must approve the request for that enrollment (package enroll checks that
// it is enrolled and, for account-driven enrollment, the bearer token). The
// request is tied to the enrollment its certificate is bound to, never to
// anything it names. The body is not read.
//
// It returns the request as hooks see it, with Message and Result nil, or
// an error StatusCode maps to 401, 403 or 404.
func (s *Service) Identify(r *http.Request) (*Request, error) {
	ctx := r.Context()
	pending, err := s.verifier.identifyHeaders(r, s.opts.CertHeader, s.opts.MaxSignatureBytes)
	if err != nil {
		return nil, err
	}
	id, err := pending.verify(nil)
	if err != nil {
		return nil, err
	}
	bound, err := s.store.EnrollmentByCertificate(ctx, id.fp)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: certificate bound to no enrollment", ErrUnknownEnrollment)
	}
	if err != nil {
		return nil, err
	}
	rec, err := s.store.Enrollment(ctx, bound)
	if errors.Is(err, ErrNotFound) || err == nil && rec.CheckedOut {
		return nil, fmt.Errorf("%w: %s", ErrUnknownEnrollment, bound)
	}
	if err != nil {
		return nil, err
	}
	req := &Request{HTTP: r, Enrollment: Channel{ID: rec.ID, Type: rec.Type, ParentID: rec.ParentID},
		Certificate: id.cert, Chain: id.chain, Fingerprint: id.fp}
	if err := s.precheck(ctx, req); err != nil {
		return nil, err
	}
	return req, nil
}
