package acme

import (
	"errors"
	"testing"
	"time"
)

// TestMemoryStoreForgets: a day after they expire (orders) or were made
// (accounts), records are forgotten at the next creation.
func TestMemoryStoreForgets(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewMemoryStore()
	s.now = func() time.Time { return now }
	s.CreateAccount(ctx, &Account{ID: "old", Thumbprint: "t-old", Created: now})
	s.CreateOrder(ctx, &Order{ID: "old", Expires: now.Add(time.Minute)})
	now = now.Add(MemoryRetention + 2*time.Minute)
	s.CreateOrder(ctx, &Order{ID: "new", Expires: now.Add(time.Minute)})
	if _, err := s.Order(ctx, "old"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old order: %v", err)
	}
	if _, err := s.AccountByThumbprint(ctx, "t-old"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old account: %v", err)
	}
	if _, err := s.Order(ctx, "new"); err != nil {
		t.Errorf("new order: %v", err)
	}
}
