package ddm

import (
	"errors"
	"fmt"

	"github.com/enrollkit/enrollkit/mdm"
)

// Errors callers branch on.
var (
	// ErrNotFound: no such declaration, set, enrollment state or status.
	ErrNotFound = errors.New("ddm: not found")
	// ErrInvalid: a declaration, set or assignment is malformed (see
	// *ValidationError for which field).
	ErrInvalid = errors.New("ddm: invalid")
	// ErrDanglingReference: something refers to a declaration that does
	// not exist or is of the wrong class or type (see *ReferenceError).
	ErrDanglingReference = errors.New("ddm: dangling reference")
	// ErrInUse: a declaration or set that something still refers to
	// cannot be deleted.
	ErrInUse = errors.New("ddm: in use")
	// ErrConflict: the catalog changed since it was read (a Store's
	// Apply); the Service retries.
	ErrConflict = errors.New("ddm: revision conflict")
	// ErrBadStatusReport: a device's status report is not what the
	// protocol defines. It also matches mdm.ErrMalformed (400).
	ErrBadStatusReport = errors.New("ddm: malformed status report")
	// ErrUnknownEndpoint: a DeclarativeManagement Endpoint the protocol
	// does not define. It also matches mdm.ErrMalformed (400).
	ErrUnknownEndpoint = errors.New("ddm: unknown endpoint")
)

// ValidationError says which field of a host's input is wrong.
type ValidationError struct {
	// What names the object (a declaration identifier, a set name).
	What string
	// Field is the field at fault.
	Field string
	// Problem says what is wrong.
	Problem string
}

// Error says which field is wrong and why.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("ddm: %s: %s: %s", e.What, e.Field, e.Problem)
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// ReferenceError is a reference that does not resolve.
type ReferenceError struct {
	// From is the identifier (or set name, or enrollment) that refers.
	From string
	// Key is the payload key or list holding the reference.
	Key string
	// To is the identifier referred to.
	To string
	// Problem says why it does not resolve: missing, or the wrong class
	// or type.
	Problem string
}

// Error says what refers to what, and why it does not resolve.
func (e *ReferenceError) Error() string {
	return fmt.Sprintf("ddm: %s: %s refers to %q: %s", e.From, e.Key, e.To, e.Problem)
}

// Unwrap returns ErrDanglingReference.
func (e *ReferenceError) Unwrap() error { return ErrDanglingReference }

// deviceInputError is a device's malformed input: it matches its ddm
// sentinel and mdm.ErrMalformed, so the check-in is answered 400.
type deviceInputError struct {
	kind error
	err  error
}

// Error returns the sentinel's text and the detail.
func (e *deviceInputError) Error() string { return e.kind.Error() + ": " + e.err.Error() }

// Unwrap returns the ddm sentinel and mdm.ErrMalformed.
func (e *deviceInputError) Unwrap() []error { return []error{e.kind, mdm.ErrMalformed} }
