package mdm

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"reflect"
	"time"
)

// Request is what hooks learn about an authenticated device request.
type Request struct {
	// HTTP is the request; hooks may read headers (for example
	// Authorization: Bearer) but must not read the body.
	HTTP *http.Request
	// Enrollment is the resolved identity of the sender.
	Enrollment Channel
	// Message is the decoded check-in, or nil for a command result.
	Message Message
	// Result is the decoded command result, or nil for a check-in.
	Result *CommandResult
	// Certificate is the verified identity certificate and Chain the chain
	// it was verified with (leaf first, root last).
	Certificate *x509.Certificate
	Chain       []*x509.Certificate
	// Fingerprint is Certificate's SHA-256 fingerprint.
	Fingerprint Fingerprint
	// Rebind is true for an Authenticate whose enrollment has a live
	// (not checked-out) record bound to a different certificate: the
	// request would take over a channel another identity holds. A
	// Prechecker that returns nil for such a request approves moving the
	// binding to this certificate; with NoPrechecker it is refused. An
	// Authenticate for a checked-out record (the device is enrolling again)
	// is not a Rebind: it is accepted unless the Prechecker refuses it.
	Rebind bool
	// Device is the stored record of the device channel the request comes
	// over (for a user channel, its device's), as it was before this
	// request; nil when there is none yet, as for a device's first
	// Authenticate. Hooks read it to tell, for example, a Mac (ProductName)
	// from an iPhone after Authenticate, and must not modify it.
	Device *EnrollmentRecord
}

// Prechecker vets every check-in and command request after it is decoded and
// its certificate verified, before the Service stores anything for it.
// Returning an error refuses the request: a *RejectError chooses 401 or 403,
// any other error gives 403, and the Service stores nothing.
//
// A Prechecker may write to its own store when it approves a request; it
// must then write nothing when it refuses one, and must approve the same
// request again when it is repeated, because the Service may still fail
// after the approval (its store fails, or the certificate turns out to be
// bound elsewhere, answered 500 or 403) and the device then sends the
// request again. Package enroll writes in one case, an Authenticate it
// approves: it records the device id in the enrollment (the check-in) and
// so claims the device for that enrollment, under its Store's guarantee that
// a device id belongs to one live enrollment. The claim has to be settled
// here, before the Service binds the device's record to the certificate:
// two enrollments racing for one device id both pass every check that reads,
// and the Service's write of the record does not depend on what it read, so
// an Observer that claimed the device only after that write could find the
// record rebound by the request that lost the claim.
//
// Implementations must be safe for concurrent use.
type Prechecker interface {
	Precheck(ctx context.Context, r *Request) error
}

// NoPrechecker, as Config.Prechecker, is the named choice to vet nothing
// beyond the certificate: every device whose identity chains to Roots is
// served, and a certificate whose enrollment is bound to another
// certificate is refused (nothing approves a rebinding). It suits a host
// whose devices are not enrolled through package enroll.
var NoPrechecker Prechecker = noPrechecker{}

// noPrechecker is NoPrechecker's type.
type noPrechecker struct{}

// Precheck approves every request.
func (noPrechecker) Precheck(context.Context, *Request) error { return nil }

// prechecking returns the observers in o (Observers flattened) that are
// Prechecker too.
func prechecking(o Observer) []Prechecker {
	if os, ok := o.(Observers); ok {
		var out []Prechecker
		for _, x := range os {
			out = append(out, prechecking(x)...)
		}
		return out
	}
	if p, ok := o.(Prechecker); ok {
		return []Prechecker{p}
	}
	return nil
}

// includes reports whether p is x or holds x among its Prechecks.
func includes(p, x Prechecker) bool {
	if ps, ok := p.(Prechecks); ok {
		for _, y := range ps {
			if includes(y, x) {
				return true
			}
		}
		return false
	}
	return same(p, x)
}

// same reports whether a and b are the same comparable value; values of
// types that cannot be compared (functions, slices) are never the same.
func same(a, b any) bool {
	t := reflect.TypeOf(a)
	return t != nil && t == reflect.TypeOf(b) && t.Comparable() && a == b
}

// PrecheckFunc adapts a function to Prechecker.
type PrecheckFunc func(ctx context.Context, r *Request) error

// Precheck calls f(ctx, r).
func (f PrecheckFunc) Precheck(ctx context.Context, r *Request) error { return f(ctx, r) }

// Prechecks runs each Prechecker in order and returns the first error, so
// that a host can add its own checks to package enroll's. A Prechecker that
// writes when it approves (package enroll's Service) goes last: a refusal by
// one after it would leave its write behind for a request the Service
// refused.
type Prechecks []Prechecker

// Precheck calls every Prechecker in order.
func (p Prechecks) Precheck(ctx context.Context, r *Request) error {
	for _, x := range p {
		if err := x.Precheck(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// EventKind says what an Event reports.
type EventKind int

// Event kinds.
const (
	EventAuthenticate EventKind = iota + 1
	EventTokenUpdate
	EventCheckOut
	EventCommandResult
)

var eventNames = [...]string{"", "Authenticate", "TokenUpdate", "CheckOut", "CommandResult"}

// String returns the kind's name.
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "EventKind(?)"
}

// Event is what an Observer is told after the Service stored something.
type Event struct {
	Kind EventKind
	// Enrollment is the identity the event belongs to.
	Enrollment Channel
	// Message is the check-in (nil for EventCommandResult).
	Message Message
	// Result is the command result (EventCommandResult only).
	Result *CommandResult
	// Request is the HTTP request that carried the message.
	Request *http.Request
	// Fingerprint is the identity certificate's fingerprint.
	Fingerprint Fingerprint
	// Device is the stored record of the device channel the event comes
	// over (for a user channel, its device's) after the event was stored;
	// nil for EventCommandResult.
	Device *EnrollmentRecord
	// Previous is the stored record of the channel the event updated, as
	// it was before (nil for a new record and for EventCommandResult): an
	// Observer compares it with the message to tell, for example, a
	// TokenUpdate that renews the push token from one that repeats it.
	Previous *EnrollmentRecord
}

// Observer is told after an Authenticate, TokenUpdate, CheckOut or command
// result has been stored. An error fails the device request with 500 (the
// device retries; the stored state is already in place, so observers must be
// idempotent). Implementations must be safe for concurrent use.
type Observer interface {
	Observe(ctx context.Context, ev *Event) error
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, ev *Event) error

// Observe calls f(ctx, ev).
func (f ObserverFunc) Observe(ctx context.Context, ev *Event) error { return f(ctx, ev) }

// Observers calls each observer in order and stops at the first error.
type Observers []Observer

// Observe calls every observer in order.
func (o Observers) Observe(ctx context.Context, ev *Event) error {
	for _, x := range o {
		if err := x.Observe(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// RequestReport is what Config.OnRequest learns about one device request.
type RequestReport struct {
	// MessageType is the check-in's MessageType; empty for a command
	// request and for a request refused before its body was decoded.
	MessageType MessageType
	// Status is the command result's Status (Idle, Acknowledged, …); empty
	// for a check-in and for a request refused before its body was decoded.
	Status Status
	// Enrollment is the channel the request named; zero when the request
	// was refused before it named one.
	Enrollment Channel
	// HTTPStatus is the status the Service answered (StatusCode(Err)).
	HTTPStatus int
	// Reason is RefusalReason(Err): empty for a request that was served.
	Reason string
	// Err is why the request was refused; nil for a request that was
	// served.
	Err error
	// Duration is how long the Service took to answer.
	Duration time.Duration
}

// refused records err as the reason r was refused; r may be nil.
func (r *RequestReport) refused(err error) {
	if r == nil {
		return
	}
	r.Err, r.HTTPStatus, r.Reason = err, StatusCode(err), RefusalReason(err)
}

// RefusalReason classifies the error ServeHTTP refused a request with into
// a short, stable string fit for a metric label; "" for nil. Like
// StatusCode it looks at a Prechecker's verdict first:
//
//	unenrolled              a Prechecker refused a device whose enrollment ended (RejectError.Unenroll)
//	rejected-by-prechecker  a Prechecker refused it otherwise
//	method-not-allowed      not a PUT
//	unsupported-media-type  a foreign Content-Type
//	declined                a UserAuthenticate, declined (410)
//	body-too-large          ErrBodyTooLarge
//	no-certificate          ErrNoCertificate
//	bad-signature           ErrBadSignature
//	untrusted-certificate   ErrUntrustedCertificate
//	certificate-mismatch    ErrCertificateMismatch
//	certificate-in-use      ErrCertificateInUse
//	unknown-enrollment      ErrUnknownEnrollment
//	unsupported             ErrUnsupported
//	malformed               any other error answered 400 (ErrMalformed, ErrUnknownMessageType, …)
//	internal                the rest: a store, Observer or Responder failed (500)
func RefusalReason(err error) string {
	var re *RejectError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &re) && re.Unenroll:
		return "unenrolled"
	case re != nil, errors.Is(err, ErrUnauthorized), errors.Is(err, ErrForbidden):
		return "rejected-by-prechecker"
	case errors.Is(err, errMethod):
		return "method-not-allowed"
	case errors.Is(err, errUnsupportedMedia):
		return "unsupported-media-type"
	case errors.Is(err, errDecline):
		return "declined"
	}
	for _, c := range refusalClasses {
		if errors.Is(err, c.err) {
			return c.reason
		}
	}
	if StatusCode(err) == http.StatusBadRequest {
		return "malformed"
	}
	return "internal"
}

// refusalClasses are RefusalReason's reasons named after an error.
var refusalClasses = []struct {
	err    error
	reason string
}{
	{ErrBodyTooLarge, "body-too-large"},
	{ErrNoCertificate, "no-certificate"},
	{ErrBadSignature, "bad-signature"},
	{ErrUntrustedCertificate, "untrusted-certificate"},
	{ErrCertificateMismatch, "certificate-mismatch"},
	{ErrCertificateInUse, "certificate-in-use"},
	{ErrUnknownEnrollment, "unknown-enrollment"},
	{ErrUnsupported, "unsupported"},
}
