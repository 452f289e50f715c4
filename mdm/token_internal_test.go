package mdm

import (
	"encoding/hex"
	"testing"
)

// TestRawECDSA covers the integer shapes a random signature rarely has: a
// sign byte, a short integer, zero.
func TestRawECDSA(t *testing.T) {
	for _, tt := range []struct {
		name, der, want string // want "" means refused
	}{
		{"sign byte and short integer", "3008" + "020300ff01" + "020102", "00ff01" + "000002"},
		{"full width", "300a" + "0203010203" + "0203040506", "010203" + "040506"},
		{"zero", "3006" + "020100" + "020100", "000000" + "000000"},
		{"integer too long", "300b" + "020401020304" + "0203040506", ""},
		{"trailing bytes", "3008" + "020300ff01" + "020102" + "00", ""},
		{"one integer", "3003" + "020101", ""},
		{"empty", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			der, _ := hex.DecodeString(tt.der)
			got, err := rawECDSA(der, 3)
			switch {
			case tt.want == "" && err == nil:
				t.Fatalf("accepted: %x", got)
			case tt.want != "" && (err != nil || hex.EncodeToString(got) != tt.want):
				t.Fatalf("rawECDSA = %x, %v; want %s", got, err, tt.want)
			}
		})
	}
}
