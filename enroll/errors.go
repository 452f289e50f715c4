package enroll

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by this package. Match them with errors.Is; the typed
// errors [*TransitionError] and [*PasscodeError] wrap them and carry details.
// The portal maps them to HTTP statuses; hosts may do the same.
var (
	// ErrNotFound means no enrollment matches the ID, token or key. Stores
	// return it (possibly wrapped) from Get and Find.
	ErrNotFound = errors.New("enroll: enrollment not found")

	// ErrVersionConflict means the enrollment changed since it was read:
	// Store.Update found a version other than the expected one and wrote
	// nothing. The Service re-reads and retries the state change; a step
	// fails with it after too many conflicts, or when the enrollment
	// changed in what a host call of the step (a profile built and
	// signed) was made for.
	ErrVersionConflict = errors.New("enroll: enrollment was changed concurrently")

	// ErrExists means Store.Create was given an ID that is already taken.
	ErrExists = errors.New("enroll: enrollment already exists")

	// ErrInvalidTransition means the event is not allowed in the
	// enrollment's current state. A *TransitionError says which.
	ErrInvalidTransition = errors.New("enroll: event not allowed in this state")

	// ErrExpired means the enrollment (its invitation or an unfinished
	// step) ran out of time. It is matched by a *TransitionError from
	// StateExpired.
	ErrExpired = errors.New("enroll: enrollment has expired")

	// ErrRevoked means the enrollment was revoked by the host. It is
	// matched by a *TransitionError from StateRevoked.
	ErrRevoked = errors.New("enroll: enrollment has been revoked")

	// ErrLocked means too many wrong passcodes were entered. It is matched
	// by a *TransitionError from StateLocked and by the *PasscodeError of
	// the attempt that locked the enrollment.
	ErrLocked = errors.New("enroll: enrollment is locked after too many wrong passcodes")

	// ErrWrongPasscode means the passcode did not match; the attempt was
	// counted. A *PasscodeError says how many attempts remain.
	ErrWrongPasscode = errors.New("enroll: wrong passcode")

	// ErrBadCredentials means the corporate username or password is wrong,
	// or the user who signed in is not the invited user. Authenticators
	// return it (possibly wrapped) for wrong credentials.
	ErrBadCredentials = errors.New("enroll: wrong username or password")

	// ErrThrottled means too many sign-ins failed recently, for the
	// enrollment or from the client's address: the credentials were not
	// checked. A *ThrottleError says when to try again.
	ErrThrottled = errors.New("enroll: too many failed sign-ins; try again later")

	// ErrCorporateRefused means the user chose corporate ownership and the
	// host's CorporatePolicy refuses corporate devices.
	ErrCorporateRefused = errors.New("enroll: corporate-owned devices are not enrolled here")

	// ErrInfoNotSeen means the terms were submitted before the information
	// screen was acknowledged.
	ErrInfoNotSeen = errors.New("enroll: the information screen has not been acknowledged")

	// ErrTermsMismatch means the accepted terms are not the terms in force:
	// the version or the digest of the text shown differs.
	ErrTermsMismatch = errors.New("enroll: accepted terms are not the current terms")

	// ErrLinkUsed means the profile download link was already used.
	ErrLinkUsed = errors.New("enroll: profile download link has already been used")

	// ErrLinkExpired means the profile download link is past its validity.
	ErrLinkExpired = errors.New("enroll: profile download link has expired")

	// ErrUnknownUser means the Directory has no Managed Apple Account for the
	// user, or no user for the Managed Apple Account.
	ErrUnknownUser = errors.New("enroll: user is not known to the directory")

	// ErrChallengeInvalid means an identity challenge is unknown, used,
	// expired, or belongs to an enrollment that cannot use it.
	ErrChallengeInvalid = errors.New("enroll: identity challenge is not valid")

	// ErrDeviceMismatch means a device check-in is not from the device the
	// enrollment's profile or token was issued to: its certificate was
	// issued for another enrollment, its bearer token is missing, wrong or
	// revoked, its EnrollmentID differs from the one recorded, it claims a
	// device id that belongs to another enrollment, or it names itself in
	// the wrong form (a UDID for a User Enrollment, an EnrollmentID for a
	// device enrollment).
	ErrDeviceMismatch = errors.New("enroll: check-in is not from the enrolled device")

	// ErrDeviceInUse means a device id (Enrollment.DeviceID) belongs to
	// another live enrollment, one whose state is not terminal: a Store
	// refuses to give it to a second one with an error matching it, and
	// writes nothing. The Service refuses a check-in claiming such a
	// device with an error matching both it and ErrDeviceMismatch.
	ErrDeviceInUse = errors.New("enroll: device belongs to another live enrollment")

	// ErrInvalidInput means an argument is malformed (empty, too long, of
	// the wrong form). Nothing was changed.
	ErrInvalidInput = errors.New("enroll: invalid input")
)

// TransitionError reports an event that the transition table does not allow
// in the enrollment's current state. It matches ErrInvalidTransition, and
// also ErrExpired, ErrRevoked or ErrLocked when From is the corresponding
// state, so callers can tell "too late" from "wrong order".
type TransitionError struct {
	// From is the enrollment's state.
	From State
	// Event is the event that was refused.
	Event Event
}

// Error implements the error interface.
func (e *TransitionError) Error() string {
	return fmt.Sprintf("enroll: event %q not allowed in state %q", e.Event, e.From)
}

// Unwrap returns ErrInvalidTransition and, for the expired, revoked and
// locked states, the matching sentinel.
func (e *TransitionError) Unwrap() []error {
	switch e.From {
	case StateExpired:
		return []error{ErrInvalidTransition, ErrExpired}
	case StateRevoked:
		return []error{ErrInvalidTransition, ErrRevoked}
	case StateLocked:
		return []error{ErrInvalidTransition, ErrLocked}
	}
	return []error{ErrInvalidTransition}
}

// PasscodeError reports a wrong passcode. It matches ErrWrongPasscode, and
// ErrLocked as well when the attempt used up the last one.
type PasscodeError struct {
	// AttemptsLeft is the number of attempts remaining; zero means the
	// enrollment is now locked.
	AttemptsLeft int
}

// Error implements the error interface.
func (e *PasscodeError) Error() string {
	switch e.AttemptsLeft {
	case 0:
		return "enroll: wrong passcode; no attempts left, enrollment locked"
	case 1:
		return "enroll: wrong passcode; 1 attempt left"
	}
	return fmt.Sprintf("enroll: wrong passcode; %d attempts left", e.AttemptsLeft)
}

// Unwrap returns ErrWrongPasscode, and ErrLocked when no attempts are left.
func (e *PasscodeError) Unwrap() []error {
	if e.AttemptsLeft <= 0 {
		return []error{ErrWrongPasscode, ErrLocked}
	}
	return []error{ErrWrongPasscode}
}

// ThrottleError refuses a sign-in while the throttle holds it back (see
// ThrottleConfig). It matches ErrThrottled.
type ThrottleError struct {
	// RetryAfter is how long from now the next attempt will be admitted,
	// at least one second.
	RetryAfter time.Duration
}

// Error implements the error interface.
func (e *ThrottleError) Error() string {
	return fmt.Sprintf("enroll: too many failed sign-ins; try again in %s", e.RetryAfter)
}

// Unwrap returns ErrThrottled.
func (e *ThrottleError) Unwrap() error { return ErrThrottled }

// invalid returns an error matching ErrInvalidInput that names what is wrong.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, args...)...)
}
