package profile

import (
	"bytes"
	"errors"
	"testing"
)

func TestNormalizeBER(t *testing.T) {
	tests := []struct {
		name    string
		in, out []byte
	}{
		{"DER unchanged", []byte{0x30, 0x03, 0x02, 0x01, 0x05}, []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
		{"indefinite sequence", []byte{0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00}, []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
		{"chunked octets", []byte{0x24, 0x80, 0x04, 0x02, 'a', 'b', 0x04, 0x01, 'c', 0x00, 0x00}, []byte{0x04, 0x03, 'a', 'b', 'c'}},
		{"nested chunks", []byte{0x24, 0x08, 0x24, 0x03, 0x04, 0x01, 'a', 0x04, 0x01, 'b'}, []byte{0x04, 0x02, 'a', 'b'}},
		{"explicit tag around chunks", []byte{0xa0, 0x80, 0x24, 0x80, 0x04, 0x01, 'x', 0x00, 0x00, 0x00, 0x00}, []byte{0xa0, 0x03, 0x04, 0x01, 'x'}},
		{"high tag number", []byte{0x9f, 0x81, 0x01, 0x01, 0xff}, []byte{0x9f, 0x81, 0x01, 0x01, 0xff}},
		{"long length", append([]byte{0x04, 0x81, 0x80}, make([]byte, 128)...), append([]byte{0x04, 0x81, 0x80}, make([]byte, 128)...)},
		{"non-minimal length", []byte{0x04, 0x82, 0x00, 0x01, 'z'}, []byte{0x04, 0x01, 'z'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := normalizeBER(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.out) {
				t.Errorf("got % x, want % x", got, tt.out)
			}
		})
	}

	bad := map[string][]byte{
		"empty":                     {},
		"truncated":                 {0x30},
		"length beyond input":       {0x04, 0x05, 'a'},
		"length of length too long": {0x04, 0x85, 1, 1, 1, 1, 1},
		"indefinite primitive":      {0x04, 0x80, 'a', 0x00, 0x00},
		"no end of contents":        {0x30, 0x80, 0x02, 0x01, 0x05},
		"trailing data":             {0x02, 0x01, 0x05, 0x00},
		"chunk of wrong type":       {0x24, 0x03, 0x02, 0x01, 0x05},
		"truncated high tag":        {0x1f, 0x81},
		"too deep":                  bytes.Repeat([]byte{0x30, 0x80}, maxBERDepth+2),
	}
	for name, in := range bad {
		if _, err := normalizeBER(in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := normalizeBER(bytes.Repeat([]byte{0x30, 0x80}, maxBERDepth+2)); !errors.Is(err, errBERDepth) {
		t.Errorf("deep nesting: error = %v, want errBERDepth", err)
	}
}

// TestNormalizeBERDeep checks a deep, large input against a DER encoding
// built independently.
func TestNormalizeBERDeep(t *testing.T) {
	content := bytes.Repeat([]byte("profile "), 10000)
	// BER: 40 indefinite SEQUENCEs around OCTET STRING chunks of 1000 bytes.
	var ber []byte
	for range 40 {
		ber = append(ber, 0x30, 0x80)
	}
	ber = append(ber, 0x24, 0x80)
	for i := 0; i < len(content); i += 1000 {
		ber = append(ber, 0x04, 0x82, 0x03, 0xe8)
		ber = append(ber, content[i:i+1000]...)
	}
	ber = append(ber, 0, 0)
	for range 40 {
		ber = append(ber, 0, 0)
	}
	want := appendHeader(nil, 0x04, len(content))
	want = append(want, content...)
	for range 40 {
		want = append(appendHeader(nil, 0x30, len(want)), want...)
	}
	got, err := normalizeBER(ber)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
	if again, err := normalizeBER(got); err != nil || !bytes.Equal(again, got) {
		t.Errorf("normalizing DER changed it (err %v)", err)
	}
}
