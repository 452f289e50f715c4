package passcode

import (
	"errors"
	"fmt"
)

// Errors returned by this package. Match them with errors.Is; the typed errors
// [*MismatchError] and [*MalformedHashError] wrap them and carry details.
var (
	// ErrMismatch means the input is not the passcode. The attempt was
	// counted; a [*MismatchError] tells how many attempts remain.
	ErrMismatch = errors.New("passcode: passcode does not match")

	// ErrExpired means the passcode's validity has ended. Nothing was
	// checked and the state is unchanged.
	ErrExpired = errors.New("passcode: passcode has expired")

	// ErrLocked means too many wrong passcodes were entered. It is returned
	// for every check of a locked passcode, and together with ErrMismatch
	// by the failed attempt that locks it.
	ErrLocked = errors.New("passcode: locked after too many wrong attempts")

	// ErrUsed means the passcode was already accepted once; a passcode is
	// good for a single successful use.
	ErrUsed = errors.New("passcode: passcode has already been used")

	// ErrMalformedHash means a stored hash is not a PHC argon2id string this
	// package accepts. A [*MalformedHashError] says why.
	ErrMalformedHash = errors.New("passcode: malformed hash")

	// ErrInvalidAlphabet means a [Generator] alphabet cannot produce codes
	// that survive [Normalize]: it is too short or too long, repeats a
	// character, or contains a character that normalisation changes or
	// removes.
	ErrInvalidAlphabet = errors.New("passcode: invalid alphabet")

	// ErrInvalidParams means argon2id parameters are out of the range this
	// package accepts (see [Params]).
	ErrInvalidParams = errors.New("passcode: invalid argon2id parameters")
)

// MismatchError is returned when the input does not match the passcode. It
// matches [ErrMismatch], and also [ErrLocked] when this failure used up the
// last attempt.
type MismatchError struct {
	// Remaining is the number of attempts left before the passcode locks;
	// zero means it is now locked.
	Remaining int
}

// Error implements the error interface.
func (e *MismatchError) Error() string {
	if e.Remaining <= 0 {
		return "passcode: passcode does not match; no attempts left, passcode locked"
	}
	if e.Remaining == 1 {
		return "passcode: passcode does not match; 1 attempt left"
	}
	return fmt.Sprintf("passcode: passcode does not match; %d attempts left", e.Remaining)
}

// Unwrap returns ErrMismatch, and ErrLocked as well when no attempts remain.
func (e *MismatchError) Unwrap() []error {
	if e.Remaining <= 0 {
		return []error{ErrMismatch, ErrLocked}
	}
	return []error{ErrMismatch}
}

// MalformedHashError reports why a stored hash string was refused.
type MalformedHashError struct {
	// Reason describes the defect, for logs; it never contains the hash.
	Reason string
	// Err is an underlying error, such as a base64 or number syntax error,
	// or nil.
	Err error
}

// Error implements the error interface.
func (e *MalformedHashError) Error() string {
	if e.Err != nil {
		return "passcode: malformed hash: " + e.Reason + ": " + e.Err.Error()
	}
	return "passcode: malformed hash: " + e.Reason
}

// Unwrap returns ErrMalformedHash and the underlying error, if any.
func (e *MalformedHashError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrMalformedHash, e.Err}
	}
	return []error{ErrMalformedHash}
}

func malformed(reason string, err error) error {
	return &MalformedHashError{Reason: reason, Err: err}
}
