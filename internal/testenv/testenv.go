// Package testenv lets tests depend on outside programs and services in one
// consistent way: on a developer's machine a missing program skips the test
// with a clear message; in continuous integration (CI=true) it fails it, so
// that nothing is silently left untested. Its Clock gives tests the time.
package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// InCI reports whether the tests run in continuous integration, where every
// outside dependency must be present.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing skips the test (or fails it under CI) because what names is absent.
func Missing(t testing.TB, what string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required when CI=true but is not available", what)
	}
	t.Skipf("skipping: %s is not available (install it to run this test)", what)
}

// LookPath returns the path of program, or skips/fails the test as Missing
// does when it is not on PATH.
func LookPath(t testing.TB, program string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		Missing(t, "the program "+program)
	}
	return p
}

// PostgresDSN returns the DSN in ENROLLKIT_POSTGRES_DSN, or skips/fails the
// test as Missing does when it is unset.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("ENROLLKIT_POSTGRES_DSN")
	if dsn == "" {
		Missing(t, "PostgreSQL (set ENROLLKIT_POSTGRES_DSN)")
	}
	return dsn
}

// Clock is a settable time source for the Now fields of configurations,
// shared by a test and what it tests. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Buffer is a bytes.Buffer that a server's goroutines may write while a
// test reads it: the destination of a logger whose records a test checks.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
