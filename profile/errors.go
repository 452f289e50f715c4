package profile

import (
	"errors"
	"fmt"
	"strings"
)

// Errors callers branch on. Validation and decoding errors wrap one of these
// inside a *FieldError that names the offending key; use errors.Is to test
// for the reason and errors.As to learn the field.
var (
	// ErrMissing means a required key is absent or empty, such as an
	// empty PayloadIdentifier or a missing Topic.
	ErrMissing = errors.New("profile: required value is missing")

	// ErrWrongType means a key holds a value of the wrong plist type, such
	// as an integer where a string belongs.
	ErrWrongType = errors.New("profile: value has the wrong type")

	// ErrInvalidValue means a key holds a value outside what Apple allows,
	// such as an unknown EnrollmentMode or an ACME KeySize that does not
	// fit its KeyType.
	ErrInvalidValue = errors.New("profile: value is not allowed")

	// ErrAccessRightsForbidden means AccessRights is set on a user
	// enrollment profile (ManagedAppleID, or EnrollmentMode BYOD). A device
	// cancels such an enrollment.
	ErrAccessRightsForbidden = errors.New("profile: AccessRights must be absent for user enrollment")

	// ErrAccessRightsRequired means a device enrollment profile has no
	// AccessRights.
	ErrAccessRightsRequired = errors.New("profile: AccessRights is required for device enrollment")

	// ErrTopic means the MDM Topic does not start with "com.apple.mgmt.".
	ErrTopic = errors.New(`profile: Topic must start with "com.apple.mgmt."`)

	// ErrNoIdentity means IdentityCertificateUUID names no SCEP, ACME or
	// PKCS#12 payload of the same profile.
	ErrNoIdentity = errors.New("profile: IdentityCertificateUUID names no identity payload")

	// ErrNoCertificate means a pinning UUID names no certificate payload of
	// the same profile.
	ErrNoCertificate = errors.New("profile: pinning UUID names no certificate payload")

	// ErrInsecureURL means a URL is not https. ValidateOptions.AllowInsecureURLs
	// permits http for local testing.
	ErrInsecureURL = errors.New("profile: URL must use https")

	// ErrDuplicateUUID means two payloads (or a payload and the profile)
	// share a PayloadUUID.
	ErrDuplicateUUID = errors.New("profile: duplicate PayloadUUID")

	// ErrDuplicateIdentifier means two payloads share a PayloadIdentifier.
	ErrDuplicateIdentifier = errors.New("profile: duplicate PayloadIdentifier")

	// ErrMultipleMDM means a profile carries more than one com.apple.mdm
	// payload.
	ErrMultipleMDM = errors.New("profile: more than one com.apple.mdm payload")

	// ErrNotProfile means the input is neither a signed profile nor a
	// property list of PayloadType "Configuration".
	ErrNotProfile = errors.New("profile: input is not a configuration profile")

	// ErrTooLarge means the input exceeds the size limit; see
	// ParseOptions.MaxSize.
	ErrTooLarge = errors.New("profile: input is too large")

	// ErrUnsigned means a signature was required but the input is a bare
	// property list.
	ErrUnsigned = errors.New("profile: profile is not signed")

	// ErrSignature means the CMS signature is malformed or does not verify
	// (tampered content, wrong key, unsupported algorithm).
	ErrSignature = errors.New("profile: signature does not verify")

	// ErrUntrusted means the signature verifies but the signer certificate
	// does not chain to the given roots.
	ErrUntrusted = errors.New("profile: signer is not trusted")

	// ErrSigner means the signing key or certificate chain given to Sign
	// is unusable (no certificate, key does not match, unsupported key type).
	ErrSigner = errors.New("profile: unusable signer")
)

// FieldError reports a problem with one key of a profile. Field is a path
// such as "PayloadContent[0].AccessRights" or "PayloadIdentifier"; Err is one
// of the package's sentinel errors.
type FieldError struct {
	// Field is the path to the offending key.
	Field string
	// Err is the reason, one of the package's sentinel errors.
	Err error
	// Detail adds human-readable context, such as the value found.
	Detail string
}

// Error implements error.
func (e *FieldError) Error() string {
	msg := "profile: " + e.Field + ": " + strings.TrimPrefix(e.Err.Error(), "profile: ")
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// Unwrap returns the reason so that errors.Is matches the sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field string, err error, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Err: err, Detail: fmt.Sprintf(format, args...)}
}

// SizeError reports input over the configured size limit. It matches
// ErrTooLarge with errors.Is.
type SizeError struct {
	// Size is the length of the input, Limit the largest length accepted.
	Size, Limit int64
}

// Error implements error.
func (e *SizeError) Error() string {
	return fmt.Sprintf("profile: input is too large (%d bytes, limit %d)", e.Size, e.Limit)
}

// Unwrap returns ErrTooLarge.
func (e *SizeError) Unwrap() error { return ErrTooLarge }
