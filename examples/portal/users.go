package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/enrollkit/enrollkit/enroll"
)

// demoUser is one line of the demo directory.
type demoUser struct {
	Username       string `json:"username"`
	Name           string `json:"name,omitempty"`
	Email          string `json:"email,omitempty"`
	PasswordHash   string `json:"password_hash"`
	ManagedAppleID string `json:"managed_apple_id"`
}

// directory is the example server's user directory: a small JSON file of
// users with bcrypt password hashes and Managed Apple Accounts. It implements
// enroll.Authenticator and enroll.Directory. A real host would use its own
// identity provider (LDAP, OIDC, …) instead.
type directory struct {
	path string

	mu    sync.RWMutex
	users map[string]demoUser // by lower-case username
	// seen is the users file as last read: it is parsed again only after
	// it changed (adduser may replace it from another process).
	seen fs.FileInfo
}

var (
	_ enroll.Authenticator = (*directory)(nil)
	_ enroll.Directory     = (*directory)(nil)
)

// dummyHash is compared against when the user does not exist, so that a
// wrong username costs as much time as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("enrollkit dummy password"), bcrypt.DefaultCost)

func openDirectory(path string) (*directory, error) {
	d := &directory{path: path, users: map[string]demoUser{}}
	return d, d.reload()
}

func (d *directory) reload() error {
	fi, err := os.Stat(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	d.mu.RLock()
	unchanged := d.seen != nil && os.SameFile(d.seen, fi) && d.seen.Size() == fi.Size() && d.seen.ModTime().Equal(fi.ModTime())
	d.mu.RUnlock()
	if unchanged {
		return nil
	}
	b, err := os.ReadFile(d.path)
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	var list []demoUser
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("directory: %s: %w", d.path, err)
	}
	users := make(map[string]demoUser, len(list))
	for _, u := range list {
		users[strings.ToLower(u.Username)] = u
	}
	d.mu.Lock()
	d.users, d.seen = users, fi
	d.mu.Unlock()
	return nil
}

// add adds or replaces a user and writes the file atomically.
func (d *directory) add(username, password, managedAppleID string) error {
	if username == "" || password == "" || managedAppleID == "" {
		return errors.New("adduser: -user, -password and -managed-apple-id are required")
	}
	if !strings.Contains(managedAppleID, "@") {
		return fmt.Errorf("adduser: %q is not a Managed Apple Account (name@domain)", managedAppleID)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("adduser: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.users[strings.ToLower(username)] = demoUser{
		Username:       username,
		Name:           username,
		PasswordHash:   string(hash),
		ManagedAppleID: managedAppleID,
	}
	list := make([]demoUser, 0, len(d.users))
	for _, u := range d.users {
		list = append(list, u)
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(d.path), ".users-*.json")
	if err != nil {
		return fmt.Errorf("adduser: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("adduser: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("adduser: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("adduser: %w", err)
	}
	return os.Rename(tmp.Name(), d.path)
}

func (d *directory) lookup(username string) (demoUser, bool) {
	// The file may have been changed by `adduser` in another process.
	_ = d.reload()
	d.mu.RLock()
	defer d.mu.RUnlock()
	u, ok := d.users[strings.ToLower(strings.TrimSpace(username))]
	return u, ok
}

func (u demoUser) user() enroll.User {
	name := u.Name
	if name == "" {
		name = u.Username
	}
	return enroll.User{ID: u.Username, Name: name, Email: u.Email}
}

// Authenticate implements enroll.Authenticator.
func (d *directory) Authenticate(ctx context.Context, username, password string) (enroll.User, error) {
	u, ok := d.lookup(username)
	hash := dummyHash
	if ok {
		hash = []byte(u.PasswordHash)
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(password)); err != nil || !ok {
		return enroll.User{}, enroll.ErrBadCredentials
	}
	return u.user(), nil
}

// ManagedAppleID implements enroll.Directory.
func (d *directory) ManagedAppleID(ctx context.Context, userID string) (string, error) {
	u, ok := d.lookup(userID)
	if !ok {
		return "", enroll.ErrUnknownUser
	}
	return u.ManagedAppleID, nil
}

// UserID implements enroll.Directory.
func (d *directory) UserID(ctx context.Context, managedAppleID string) (string, error) {
	_ = d.reload()
	d.mu.RLock()
	defer d.mu.RUnlock()
	want := strings.ToLower(strings.TrimSpace(managedAppleID))
	for _, u := range d.users {
		if subtle.ConstantTimeCompare([]byte(strings.ToLower(u.ManagedAppleID)), []byte(want)) == 1 {
			return u.Username, nil
		}
	}
	return "", enroll.ErrUnknownUser
}
