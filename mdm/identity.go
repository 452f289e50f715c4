package mdm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// EnrollmentID is the key the service stores everything under: the UDID of a
// device enrollment, the EnrollmentID of a User Enrollment, and
// "<device id>:<user>" for user channels.
type EnrollmentID string

// EnrollmentType says what kind of enrollment a message belongs to.
type EnrollmentType int

// Enrollment types.
const (
	// Device is a device enrollment's device channel (keyed by UDID).
	Device EnrollmentType = iota + 1
	// User is a device enrollment's user channel (UDID + UserID, macOS).
	User
	// UserEnrollmentDevice is a User Enrollment's device channel (keyed by
	// EnrollmentID). This is all an iOS User Enrollment has.
	UserEnrollmentDevice
	// UserEnrollmentUser is a User Enrollment's user channel
	// (EnrollmentID + EnrollmentUserID, macOS only).
	UserEnrollmentUser
	// SharedIPadUser is a Shared iPad user channel (UDID + the user's short
	// name, with the all-F UserID).
	SharedIPadUser
)

var typeNames = [...]string{"", "device", "user", "user-enrollment-device", "user-enrollment-user", "shared-ipad-user"}

// String returns a stable lowercase name such as "user-enrollment-device".
func (t EnrollmentType) String() string {
	if t > 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("EnrollmentType(%d)", int(t))
}

// parseEnrollmentType is the inverse of EnrollmentType.String.
func parseEnrollmentType(s string) (EnrollmentType, error) {
	for i, n := range typeNames {
		if i > 0 && n == s {
			return EnrollmentType(i), nil
		}
	}
	return 0, fmt.Errorf("mdm: unknown enrollment type %q", s)
}

// IsUserEnrollment reports whether t is one of the User Enrollment channels,
// for which the User Enrollment command policy applies.
func (t EnrollmentType) IsUserEnrollment() bool {
	return t == UserEnrollmentDevice || t == UserEnrollmentUser
}

// IsUserChannel reports whether t is a user channel, which rides on the
// device channel's identity certificate.
func (t EnrollmentType) IsUserChannel() bool {
	return t == User || t == UserEnrollmentUser || t == SharedIPadUser
}

// sharedIPadUserID is the UserID a Shared iPad reports for its users.
const sharedIPadUserID = "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"

// Identifiers are the keys by which every device message names its
// enrollment channel; Resolve turns them into a Channel. They identify, they
// do not authenticate: the device's identity certificate does that.
type Identifiers struct {
	UDID             string `plist:",omitempty"`
	EnrollmentID     string `plist:",omitempty"`
	EnrollmentUserID string `plist:",omitempty"`
	UserID           string `plist:",omitempty"`
	UserShortName    string `plist:",omitempty"`
	UserLongName     string `plist:",omitempty"`
}

// Channel is the enrollment a device message names, resolved from its
// Identifiers: a device channel, or a user channel riding on one. It is not
// the enrollment flow's record (enroll.Enrollment) nor the stored state of
// the channel (EnrollmentRecord).
type Channel struct {
	// ID is the key the service uses.
	ID EnrollmentID
	// Type is the kind of enrollment.
	Type EnrollmentType
	// ParentID is the device channel a user channel belongs to; empty for
	// device channels.
	ParentID EnrollmentID
}

// Resolve works out the enrollment a message names. It fails with
// ErrNoEnrollmentID when neither UDID nor EnrollmentID is present, when both
// are, or when a user channel lacks its user key.
func (id Identifiers) Resolve() (Channel, error) {
	switch {
	case id.UDID != "" && id.EnrollmentID != "":
		return Channel{}, &DecodeError{Field: "EnrollmentID", Err: fmt.Errorf("%w: both UDID and EnrollmentID", ErrNoEnrollmentID)}
	case id.EnrollmentID != "":
		if id.EnrollmentUserID != "" {
			return Channel{ID: EnrollmentID(id.EnrollmentID + ":" + id.EnrollmentUserID), Type: UserEnrollmentUser, ParentID: EnrollmentID(id.EnrollmentID)}, nil
		}
		return Channel{ID: EnrollmentID(id.EnrollmentID), Type: UserEnrollmentDevice}, nil
	case id.UDID != "":
		if id.UserID == "" {
			return Channel{ID: EnrollmentID(id.UDID), Type: Device}, nil
		}
		if id.UserID == sharedIPadUserID {
			if id.UserShortName == "" {
				return Channel{}, &DecodeError{Field: "UserShortName", Err: fmt.Errorf("%w: Shared iPad user without UserShortName", ErrNoEnrollmentID)}
			}
			return Channel{ID: EnrollmentID(id.UDID + ":" + id.UserShortName), Type: SharedIPadUser, ParentID: EnrollmentID(id.UDID)}, nil
		}
		return Channel{ID: EnrollmentID(id.UDID + ":" + id.UserID), Type: User, ParentID: EnrollmentID(id.UDID)}, nil
	}
	return Channel{}, &DecodeError{Field: "UDID", Err: ErrNoEnrollmentID}
}

// Fingerprint is the SHA-256 digest of a certificate's DER encoding.
type Fingerprint [32]byte

// FingerprintOf returns the fingerprint of a DER certificate.
func FingerprintOf(der []byte) Fingerprint { return sha256.Sum256(der) }

// IsZero reports whether f is the zero fingerprint (no certificate).
func (f Fingerprint) IsZero() bool { return f == Fingerprint{} }

// String returns f in lowercase hex.
func (f Fingerprint) String() string { return hex.EncodeToString(f[:]) }
