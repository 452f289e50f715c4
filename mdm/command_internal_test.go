package mdm

import (
	"strings"
	"testing"
)

func TestNewCommandUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		u := NewCommandUUID()
		if !isUUID(u) || u != strings.ToUpper(u) || u[14] != '4' || !strings.ContainsRune("89AB", rune(u[19])) {
			t.Fatalf("NewCommandUUID = %q, want an upper-case version 4 UUID", u)
		}
		if seen[u] {
			t.Fatalf("NewCommandUUID repeated %q", u)
		}
		seen[u] = true
	}
}
