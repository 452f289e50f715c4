package acmesql

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// nonceBackend answers the nonce key and keeps the nonces consumed; it
// knows no other statement. Its key is drawn for each process, so that
// the nonces of another (the fuzzer's workers) are not its own.
type nonceBackend struct {
	mu   sync.Mutex
	used map[string]bool
}

var processKey = func() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}()

func (*nonceBackend) Prefix() string { return "fake" }

func (b *nonceBackend) Exec(_ context.Context, op, query string, args ...any) (int64, error) {
	if !strings.HasPrefix(query, "INSERT INTO acme_nonces") {
		return 0, nil // the sweep
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := string(args[0].([]byte))
	if b.used[k] {
		return 0, nil
	}
	b.used[k] = true
	return 1, nil
}

func (*nonceBackend) QueryRow(_ context.Context, op, query string, _ []any, dest ...any) (bool, error) {
	if !strings.Contains(query, "acme_nonce_key") {
		return false, errors.New("unexpected query")
	}
	*dest[0].(*[]byte) = processKey
	return true, nil
}

// FuzzConsumeNonce: whatever a client sends as its nonce, ConsumeNonce
// neither fails nor accepts anything but a nonce issued and not yet
// consumed.
func FuzzConsumeNonce(f *testing.F) {
	s := New(&nonceBackend{used: map[string]bool{}}, slog.New(slog.DiscardHandler), "")
	ctx := context.Background()
	issued := map[string]bool{}
	for range 4 {
		n, err := s.IssueNonce(ctx)
		if err != nil {
			f.Fatal(err)
		}
		issued[n] = true
		f.Add(n)
		f.Add(n[:len(n)-1] + "B")
		f.Add(n + "=")
	}
	f.Add("")
	f.Add(strings.Repeat("A", nonceLen))
	f.Add(strings.Repeat("_", nonceLen))
	var mu sync.Mutex
	f.Fuzz(func(t *testing.T, nonce string) {
		ok, err := s.ConsumeNonce(ctx, nonce)
		if err != nil {
			t.Fatalf("ConsumeNonce(%q): %v", nonce, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if ok && !issued[nonce] {
			t.Fatalf("ConsumeNonce accepted %q, which was never issued", nonce)
		}
		if ok {
			delete(issued, nonce)
		}
	})
}
