package mdm

import (
	"errors"
	"fmt"
	"net/http"
)

// Errors callers branch on. Stores return ErrNotFound, ErrQueueEmpty,
// ErrCommandExists and ErrCertificateInUse (possibly wrapped); the Service
// wraps the others in the typed errors below.
var (
	// ErrPushTokenDead is matched (with errors.Is) by push errors that mean the
	// device token is permanently invalid, such as APNs 410 Unregistered.
	ErrPushTokenDead = errors.New("mdm: push token is no longer valid")
	// ErrPushFailed means waking devices failed as a whole: Service.Push
	// wraps it around the error of a Pusher that failed for the whole call
	// (for example its context was cancelled), and Service.Enqueue around any
	// error after the command was queued. Both return it alongside the
	// results the Pusher did report; for Enqueue the command is queued
	// regardless.
	ErrPushFailed = errors.New("mdm: pusher failed")

	// ErrNotFound is returned by a Store for a missing enrollment, command or
	// result.
	ErrNotFound = errors.New("mdm: not found")
	// ErrQueueEmpty is returned by Store.NextCommand when nothing can be
	// delivered to the enrollment now.
	ErrQueueEmpty = errors.New("mdm: command queue is empty")
	// ErrCommandExists is returned by Store.Enqueue when a command with the
	// same UUID is already queued for one of the enrollments.
	ErrCommandExists = errors.New("mdm: command UUID already queued")
	// ErrCertificateInUse means the identity certificate is bound to a
	// different enrollment.
	ErrCertificateInUse = errors.New("mdm: certificate is bound to another enrollment")

	// ErrBodyTooLarge means the request body exceeds the configured limit.
	ErrBodyTooLarge = errors.New("mdm: body too large")
	// ErrMalformed means the body is not a well-formed property list of the
	// expected shape.
	ErrMalformed = errors.New("mdm: malformed message")
	// ErrMissingMessageType means a check-in carries no MessageType.
	ErrMissingMessageType = errors.New("mdm: missing MessageType")
	// ErrUnknownMessageType means a check-in carries a MessageType this
	// package does not know.
	ErrUnknownMessageType = errors.New("mdm: unknown MessageType")
	// ErrNoEnrollmentID means a message names no enrollment (no UDID and no
	// EnrollmentID), or names it inconsistently.
	ErrNoEnrollmentID = errors.New("mdm: message does not identify an enrollment")
	// ErrUnknownStatus means a command result carries a Status this package
	// does not know.
	ErrUnknownStatus = errors.New("mdm: unknown command Status")

	// ErrNoCertificate means the request carries no identity certificate.
	ErrNoCertificate = errors.New("mdm: no identity certificate")
	// ErrBadSignature means the Mdm-Signature is malformed or does not verify
	// over the body.
	ErrBadSignature = errors.New("mdm: bad Mdm-Signature")
	// ErrUntrustedCertificate means the identity certificate does not chain
	// to the configured roots or is not valid now.
	ErrUntrustedCertificate = errors.New("mdm: untrusted identity certificate")
	// ErrCertificateMismatch means the request's certificate is not the one
	// bound to its enrollment.
	ErrCertificateMismatch = errors.New("mdm: certificate does not match the enrollment")
	// ErrUnknownEnrollment means the request names an enrollment that has not
	// authenticated (or has checked out).
	ErrUnknownEnrollment = errors.New("mdm: unknown enrollment")
	// ErrForbidden is the default reason a Prechecker refuses a request.
	ErrForbidden = errors.New("mdm: forbidden")
	// ErrUnauthorized asks the device to authenticate again (HTTP 401).
	ErrUnauthorized = errors.New("mdm: unauthorized")

	// ErrCommandNotAllowed means a command may not be sent to the
	// enrollment it was queued for (its enrollment type, platform, channel
	// or OS release; see CheckPolicy).
	ErrCommandNotAllowed = errors.New("mdm: command not allowed for this enrollment type")
	// ErrUnsupported means the service does not handle this message type.
	ErrUnsupported = errors.New("mdm: message type not supported")
)

// DecodeError reports why a device message could not be decoded.
type DecodeError struct {
	// Field is the plist key at fault, if known.
	Field string
	// Err is one of ErrMalformed, ErrMissingMessageType,
	// ErrUnknownMessageType, ErrNoEnrollmentID, ErrUnknownStatus or
	// ErrBodyTooLarge, possibly wrapping the parser's error.
	Err error
}

// Error describes the field and the reason.
func (e *DecodeError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("mdm: decode %s: %v", e.Field, e.Err)
	}
	return "mdm: decode: " + e.Err.Error()
}

// Unwrap returns e.Err.
func (e *DecodeError) Unwrap() error { return e.Err }

// PolicyReason says why CheckPolicy refused a command.
type PolicyReason string

// Reasons a command is refused at enqueue.
const (
	// ReasonUnknownCommand: the schema does not know the command, and a
	// User Enrollment receives only what Apple allows it.
	ReasonUnknownCommand PolicyReason = "unknown-command"
	// ReasonPlatform: the enrollment's platform does not have the command.
	ReasonPlatform PolicyReason = "platform"
	// ReasonChannel: the command does not run on the enrollment's channel
	// (device, user, or Shared iPad user) on that platform.
	ReasonChannel PolicyReason = "channel"
	// ReasonUserEnrollment: Apple does not allow the command under User
	// Enrollment on that platform.
	ReasonUserEnrollment PolicyReason = "user-enrollment"
	// ReasonRemoved: the command was removed in a release the device runs
	// (or may run: its OS version is not known).
	ReasonRemoved PolicyReason = "removed"
)

// PolicyError reports a command refused for an enrollment at enqueue, and
// why.
type PolicyError struct {
	// RequestType is the refused command's RequestType.
	RequestType string
	// Enrollment is the enrollment that may not receive it.
	Enrollment EnrollmentID
	// Type is that enrollment's type, which names its channel.
	Type EnrollmentType
	// Platform is the platform the policy judged the enrollment by: the
	// recorded one, or the one its stored device facts name, or
	// PlatformUnknown. OSVersion is as recorded ("" when not known).
	Platform  Platform
	OSVersion string
	// Reason says why.
	Reason PolicyReason
	// Table is the OS of Apple's schema whose table refused the command
	// ("iOS", "macOS", …): the platform's own, or, for an unknown platform,
	// the first of those the enrollment could be on that refuses it.
	Table string
	// Release is, for ReasonRemoved, the release that removed the command.
	Release string
}

// Error describes the refused command, the enrollment and the reason.
func (e *PolicyError) Error() string {
	msg := fmt.Sprintf("mdm: command %s not allowed for %s enrollment", e.RequestType, e.Type)
	if e.Enrollment != "" {
		msg += " " + string(e.Enrollment)
	}
	switch {
	case e.Platform == PlatformUnknown && e.OSVersion != "":
		msg += " (unknown platform " + e.OSVersion + ")"
	case e.Platform == PlatformUnknown:
		msg += " (unknown platform)"
	case e.OSVersion != "":
		msg += " (" + string(e.Platform) + " " + e.OSVersion + ")"
	default:
		msg += " (" + string(e.Platform) + ")"
	}
	if why := e.Why(); why != "" {
		msg += ": " + why
	}
	return msg
}

// Why says in a few words why the policy refused the command ("not allowed
// under User Enrollment on iOS", "removed in iOS 27.0"), without naming the
// enrollment: a stable message a host can show its administrators.
func (e *PolicyError) Why() string {
	switch e.Reason {
	case ReasonUnknownCommand:
		return "not in Apple's schema"
	case ReasonPlatform:
		return "not available on " + e.Table
	case ReasonChannel:
		ch := "device"
		if e.Type.IsUserChannel() {
			ch = "user"
		}
		return "not on the " + ch + " channel on " + e.Table
	case ReasonUserEnrollment:
		return "not allowed under User Enrollment on " + e.Table
	case ReasonRemoved:
		return "removed in " + e.Table + " " + e.Release
	}
	return ""
}

// Unwrap returns ErrCommandNotAllowed.
func (e *PolicyError) Unwrap() error { return ErrCommandNotAllowed }

// RejectError is returned by a Prechecker (or by the Service) to refuse a
// request with a chosen HTTP status. Status 401 asks the device to
// authenticate again; Challenge, if set, is sent as WWW-Authenticate.
// Any other error from a Prechecker refuses the request with 403.
type RejectError struct {
	// Status is http.StatusUnauthorized or http.StatusForbidden; other
	// values are treated as 403.
	Status int
	// Challenge is an optional WWW-Authenticate value sent with a 401.
	Challenge string
	// Unenroll, with a 403, tells the device that the server no longer
	// recognizes it: the response body is Apple's ErrorUnrecognizedDevice
	// document (code UnrecognizedDeviceCode), on which iOS 17, macOS 14 and
	// later unenroll. Only for a device whose enrollment has ended.
	Unenroll bool
	// Err is the reason.
	Err error
}

// UnrecognizedDeviceCode is the code of Apple's ErrorUnrecognizedDevice
// response (a 403 whose JSON body makes the device unenroll).
const UnrecognizedDeviceCode = "com.apple.unrecognized.device"

// Error describes the status and the reason.
func (e *RejectError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("mdm: request rejected (%d)", e.status())
	}
	return fmt.Sprintf("mdm: request rejected (%d): %v", e.status(), e.Err)
}

// Unwrap returns e.Err.
func (e *RejectError) Unwrap() error { return e.Err }

func (e *RejectError) status() int {
	if e.Status == http.StatusUnauthorized {
		return http.StatusUnauthorized
	}
	return http.StatusForbidden
}

// IdentityError reports why the request's identity certificate was refused.
type IdentityError struct {
	// Source says where the certificate came from ("Mdm-Signature",
	// "TLS", or the forwarded header name).
	Source string
	// Err is ErrNoCertificate, ErrBadSignature, ErrUntrustedCertificate,
	// ErrCertificateMismatch or ErrCertificateInUse, possibly wrapping detail.
	Err error
}

// Error describes the certificate source and the reason.
func (e *IdentityError) Error() string {
	if e.Source == "" {
		return "mdm: identity: " + e.Err.Error()
	}
	return "mdm: identity (" + e.Source + "): " + e.Err.Error()
}

// Unwrap returns e.Err.
func (e *IdentityError) Unwrap() error { return e.Err }
