package profile

import (
	"bytes"
	"errors"
	"testing"

	"github.com/enrollkit/enrollkit/internal/ber"
)

// TestNormalizeBER checks profile's use of the shared converter: its own
// depth limit, deeper than the converter's default, and the error it
// wraps. The converter's cases are tested with it.
func TestNormalizeBER(t *testing.T) {
	deep := func(levels int) []byte {
		b := bytes.Repeat([]byte{0x30, 0x80}, levels)
		return append(b, bytes.Repeat([]byte{0, 0}, levels)...)
	}
	tests := []struct {
		name string
		in   []byte
		out  []byte
		err  error
	}{
		{"chunked octets", []byte{0x24, 0x80, 0x04, 0x02, 'a', 'b', 0x04, 0x01, 'c', 0x00, 0x00}, []byte{0x04, 0x03, 'a', 'b', 'c'}, nil},
		{"deepest accepted", deep(maxBERDepth + 1), nil, nil},
		{"too deep", deep(maxBERDepth + 2), nil, errBERDepth},
		{"too deep, unterminated", bytes.Repeat([]byte{0x30, 0x80}, maxBERDepth+2), nil, errBERDepth},
		{"trailing data", []byte{0x02, 0x01, 0x05, 0x00}, nil, ber.ErrTrailingData},
		{"chunk of wrong type", []byte{0x24, 0x03, 0x02, 0x01, 0x05}, nil, ber.ErrMalformed},
		{"empty", []byte{}, nil, ber.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := normalizeBER(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.out != nil && !bytes.Equal(got, tt.out) {
				t.Errorf("got % x, want % x", got, tt.out)
			}
		})
	}
}
