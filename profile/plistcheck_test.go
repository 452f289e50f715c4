package profile

import (
	"errors"
	"strings"
	"testing"
)

// TestUnmarshalRefusesDisguisedNesting: XML nesting that a byte scan
// miscounts is still refused before the decoder recurses into it.
func TestUnmarshalRefusesDisguisedNesting(t *testing.T) {
	const n = 5000
	for _, tt := range []struct {
		name string
		doc  string
	}{
		{"quoted self-closing", `<plist version="1.0">` + strings.Repeat(`<array a="/>">`, n) + strings.Repeat("</array>", n) + `</plist>`},
		{"end tags in processing instructions", `<plist version="1.0">` + strings.Repeat(`<array><?pi > </array> ?>`, n) + strings.Repeat("</array>", n) + `</plist>`},
		{"end tags in a doctype", `<!DOCTYPE plist [ <!ENTITY e "` + strings.Repeat("></x>", n) + `"> ]><plist version="1.0">` + strings.Repeat("<array>", n) + strings.Repeat("</array>", n) + `</plist>`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkPlist([]byte(tt.doc)); err == nil {
				t.Fatal("checkPlist accepted it")
			}
			if _, err := Unmarshal([]byte(tt.doc)); !errors.Is(err, ErrNotProfile) {
				t.Fatalf("Unmarshal error = %v, want ErrNotProfile", err)
			}
		})
	}
}
