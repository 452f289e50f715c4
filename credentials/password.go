package credentials

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// PasswordSource supplies a password: for an Ansible Vault file or a PKCS#12
// file. Password may be called once per file loaded, from any goroutine;
// implementations must be safe for concurrent use. An empty password with a
// nil error means "none".
type PasswordSource interface {
	Password(ctx context.Context) (string, error)
}

// PasswordFunc adapts a function to the PasswordSource interface, so a host
// can fetch the password from its own secret store.
type PasswordFunc func(ctx context.Context) (string, error)

// Password calls f(ctx).
func (f PasswordFunc) Password(ctx context.Context) (string, error) { return f(ctx) }

// PasswordString is a fixed password.
type PasswordString string

// Password returns s.
func (s PasswordString) Password(context.Context) (string, error) { return string(s), nil }

// PasswordFile reads the password from a file, as ansible-vault's
// --vault-password-file does: the first line, without the line break and
// surrounding white space. (Executable password scripts are not run.)
type PasswordFile string

// Password reads the file. A file that cannot be read is a [*FileError]
// matching [ErrUnreadable].
func (path PasswordFile) Password(ctx context.Context) (string, error) {
	data, err := readFile(ctx, string(path))
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSpace(line), nil
}

// PasswordEnv takes the password from the named environment variable, as
// ansible's ANSIBLE_VAULT_PASSWORD does for the password itself. An unset
// variable is an error that names it.
type PasswordEnv string

// Password returns the variable's value.
func (name PasswordEnv) Password(context.Context) (string, error) {
	v, ok := os.LookupEnv(string(name))
	if !ok {
		return "", fmt.Errorf("%w: environment variable %s is not set", ErrNoPassword, string(name))
	}
	return v, nil
}

var (
	_ PasswordSource = PasswordFunc(nil)
	_ PasswordSource = PasswordString("")
	_ PasswordSource = PasswordFile("")
	_ PasswordSource = PasswordEnv("")
)
