package apns

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
)

// Errors reported by the package. Push errors are [*PushError] values that
// match exactly one of ErrRejected, ErrCertificate, ErrUnavailable or
// ErrInvalidTarget with errors.Is; a rejection that means the device token is
// dead also matches [mdm.ErrPushTokenDead].
var (
	// ErrTopic means the certificate is not an MDM push certificate: its
	// subject UID is missing or does not start with "com.apple.mgmt.".
	// [*TopicError] wraps it.
	ErrTopic = errors.New("apns: certificate has no MDM push topic")

	// ErrRejected means APNs refused the push for a reason that retrying
	// will not fix (a bad token, a token for another topic, a malformed
	// request). Dead tokens also match mdm.ErrPushTokenDead.
	ErrRejected = errors.New("apns: push rejected")

	// ErrCertificate means APNs refused the push certificate: it is revoked,
	// expired, for the other environment, or not allowed for the topic.
	// Every push with this certificate will fail until it is replaced.
	ErrCertificate = errors.New("apns: push certificate rejected")

	// ErrUnavailable means the push could not be delivered to APNs in time:
	// it kept answering 429 or 5xx, or the connection kept failing, until the
	// attempts or the context's deadline ran out. A later push may succeed.
	ErrUnavailable = errors.New("apns: push service unavailable")

	// ErrInvalidTarget means the target cannot be pushed at all (no token,
	// no PushMagic, a topic other than the certificate's, or an apns-id
	// that is not a lowercase UUID); nothing was sent.
	ErrInvalidTarget = errors.New("apns: invalid push target")

	// ErrClosed is returned by a Client after Close.
	ErrClosed = errors.New("apns: client closed")
)

// TopicError reports a certificate without a valid MDM push topic.
type TopicError struct {
	// Topic is the subject UID found in the certificate, empty if none.
	Topic string
}

// Error implements error.
func (e *TopicError) Error() string {
	if e.Topic == "" {
		return "apns: certificate has no subject UID (not an MDM push certificate)"
	}
	return fmt.Sprintf("apns: certificate topic %q does not start with %q", e.Topic, TopicPrefix)
}

// Unwrap returns ErrTopic.
func (e *TopicError) Unwrap() error { return ErrTopic }

// PushError describes why one push failed.
type PushError struct {
	// Token is the device token the push was addressed to.
	Token []byte
	// Status is the HTTP status APNs answered with; zero when no answer
	// arrived (connection failure, cancelled context, invalid target).
	Status int
	// Reason is the reason string from APNs' JSON error body, such as
	// "BadDeviceToken" or "Unregistered".
	Reason string
	// Timestamp is, for status 410, the time APNs last learned that the
	// token was no longer valid for the topic; zero otherwise.
	Timestamp time.Time
	// ID is the apns-id APNs gave the push, if any.
	ID string
	// Attempts is the number of requests made for this push.
	Attempts int
	// Err is the underlying cause when no APNs answer explains the failure
	// (a connection error, a context error), or nil.
	Err error

	class error // one of the package's sentinels
}

// Error implements error.
func (e *PushError) Error() string { return e.format(true) }

// LogValue implements slog.LogValuer: in a log record the error reads as
// Error does, but without any part of the device token, which is a secret
// that must not reach the logs.
func (e *PushError) LogValue() slog.Value { return slog.StringValue(e.format(false)) }

// format renders the error, naming the device token by its first bytes
// when withToken is set.
func (e *PushError) format(withToken bool) string {
	b := make([]byte, 0, 96)
	b = append(b, "apns: push"...)
	if withToken {
		b = append(b, " to "...)
		b = append(b, shortToken(e.Token)...)
	}
	switch {
	case e.Status != 0:
		b = append(b, ": "...)
		b = strconv.AppendInt(b, int64(e.Status), 10)
		if e.Reason != "" {
			b = append(b, ' ')
			b = append(b, e.Reason...)
		}
		if !e.Timestamp.IsZero() {
			b = append(b, " since "...)
			b = e.Timestamp.UTC().AppendFormat(b, time.RFC3339)
		}
		if e.Err != nil {
			b = append(b, ": "...)
			b = append(b, e.Err.Error()...)
		}
	case e.Err != nil:
		b = append(b, ": "...)
		b = append(b, e.Err.Error()...)
	case e.class != nil:
		b = append(b, ": "...)
		b = append(b, e.class.Error()...)
	}
	if e.Attempts > 1 {
		b = append(b, " (after "...)
		b = strconv.AppendInt(b, int64(e.Attempts), 10)
		b = append(b, " attempts)"...)
	}
	return string(b)
}

// Unwrap returns the error's class (ErrRejected, ErrCertificate,
// ErrUnavailable or ErrInvalidTarget), mdm.ErrPushTokenDead when the token is
// dead, and Err when set.
func (e *PushError) Unwrap() []error {
	errs := make([]error, 0, 3)
	if e.class != nil {
		errs = append(errs, e.class)
	}
	if e.TokenDead() {
		errs = append(errs, mdm.ErrPushTokenDead)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// TokenDead reports whether APNs said the token will never work again, so
// that pushing it should stop until the device sends a new TokenUpdate: 410
// (Unregistered, ExpiredToken) and 400 BadDeviceToken.
func (e *PushError) TokenDead() bool {
	return e.Status == 410 || (e.Status == 400 && e.Reason == "BadDeviceToken")
}

// Temporary reports whether a later push of the same target may succeed.
func (e *PushError) Temporary() bool { return e.class == ErrUnavailable }

func shortToken(tok []byte) string {
	if len(tok) == 0 {
		return "<no token>"
	}
	if len(tok) > 4 {
		return hex.EncodeToString(tok[:4]) + "…"
	}
	return hex.EncodeToString(tok)
}
