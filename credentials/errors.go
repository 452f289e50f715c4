package credentials

import (
	"crypto/x509"
	"errors"
	"strings"
	"time"
)

// Errors returned by this package. Match them with errors.Is; errors about a
// file come wrapped in a [*FileError] that names it, and validity problems
// in a [*ValidityError] that names the certificate.
var (
	// ErrUnreadable means a file could not be read (missing, not
	// permitted, a directory, or larger than MaxFileSize). The error also
	// wraps the operating system's error, so errors.Is(err,
	// fs.ErrNotExist) works.
	ErrUnreadable = errors.New("credentials: cannot read file")

	// ErrUnknownFormat means data is none of PEM, DER certificate, DER
	// private key, PKCS#12 or Ansible Vault.
	ErrUnknownFormat = errors.New("credentials: unrecognised format")

	// ErrMalformed means data looked like a known format but could not be
	// decoded (a bad PEM block, a truncated certificate, a damaged vault).
	ErrMalformed = errors.New("credentials: malformed data")

	// ErrNoKey means no private key was found where one is needed.
	ErrNoKey = errors.New("credentials: no private key found")

	// ErrNoCertificate means no certificate was found where one is needed.
	ErrNoCertificate = errors.New("credentials: no certificate found")

	// ErrMultipleKeys means more than one private key was found, so the
	// identity is ambiguous.
	ErrMultipleKeys = errors.New("credentials: more than one private key found")

	// ErrKeyMismatch means none of the certificates belongs to the private
	// key.
	ErrKeyMismatch = errors.New("credentials: private key does not match the certificate")

	// ErrUnsupportedKey means a private key was decoded but cannot sign
	// (for example an X25519 key).
	ErrUnsupportedKey = errors.New("credentials: private key type cannot sign")

	// ErrEncryptedKey means a PEM private key is itself password-encrypted
	// (legacy "Proc-Type: 4,ENCRYPTED" or "ENCRYPTED PRIVATE KEY"). Those
	// are not supported: store the key in PKCS#12 or in a vault instead.
	ErrEncryptedKey = errors.New("credentials: encrypted PEM private keys are not supported")

	// ErrWrongPassword means the PKCS#12 password is wrong (or missing).
	ErrWrongPassword = errors.New("credentials: wrong PKCS#12 password")

	// ErrNoPassword means a PasswordSource could not supply a password,
	// such as PasswordEnv naming an unset variable.
	ErrNoPassword = errors.New("credentials: password not available")

	// ErrNoVaultPassword means an Ansible Vault file was found but no vault
	// password is configured, its source failed (the error also matches
	// the source's error), or it gave an empty one.
	ErrNoVaultPassword = errors.New("credentials: no Ansible Vault password")

	// ErrWrongVaultPassword means the Ansible Vault password does not open
	// the vault.
	ErrWrongVaultPassword = errors.New("credentials: wrong Ansible Vault password")

	// ErrExpired means a certificate's NotAfter has passed. See
	// [Loader.AllowExpired].
	ErrExpired = errors.New("credentials: certificate has expired")

	// ErrNotYetValid means a certificate's NotBefore is in the future.
	ErrNotYetValid = errors.New("credentials: certificate is not yet valid")
)

// FileError says which file an error is about.
type FileError struct {
	// Path is the file's name as given to the Loader.
	Path string
	// Err is the error, matching one of this package's sentinel errors.
	Err error
}

// Error implements the error interface.
func (e *FileError) Error() string {
	return "credentials: " + e.Path + ": " + strings.TrimPrefix(e.Err.Error(), "credentials: ")
}

// Unwrap returns Err.
func (e *FileError) Unwrap() error { return e.Err }

// ValidityError reports a certificate used outside its validity period. It
// matches [ErrExpired] or [ErrNotYetValid].
type ValidityError struct {
	// Certificate is the offending certificate (the leaf or one of its
	// issuers).
	Certificate *x509.Certificate
	// Now is the time it was checked against.
	Now time.Time
}

// Expired reports whether the certificate has expired (as opposed to not
// being valid yet).
func (e *ValidityError) Expired() bool { return e.Now.After(e.Certificate.NotAfter) }

// Error implements the error interface.
func (e *ValidityError) Error() string {
	c := e.Certificate
	if e.Expired() {
		return "credentials: certificate " + describe(c) + " expired at " + c.NotAfter.UTC().Format(time.RFC3339)
	}
	return "credentials: certificate " + describe(c) + " is not valid before " + c.NotBefore.UTC().Format(time.RFC3339)
}

// Unwrap returns ErrExpired or ErrNotYetValid.
func (e *ValidityError) Unwrap() error {
	if e.Expired() {
		return ErrExpired
	}
	return ErrNotYetValid
}

func describe(c *x509.Certificate) string {
	name := c.Subject.String()
	if name == "" {
		name = "serial " + c.SerialNumber.String()
	}
	return "\"" + name + "\""
}

// chained is an error that matches both outer and inner, and reads
// "outer: inner" with the package prefix once.
type chained struct{ outer, inner error }

func chain(outer, inner error) error { return &chained{outer, inner} }

func (e *chained) Error() string {
	return e.outer.Error() + ": " + strings.TrimPrefix(e.inner.Error(), "credentials: ")
}

func (e *chained) Unwrap() []error { return []error{e.outer, e.inner} }
