package rows

import (
	"bytes"
	"testing"
)

func TestCompactHex(t *testing.T) {
	digest := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct {
		name    string
		in      string
		compact bool
	}{
		{"digest", digest, true},
		{"upper case", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", false},
		{"short", digest[:62], false},
		{"long", digest + "00", false},
		{"not hex", "g" + digest[1:], false},
		{"empty", "", false},
		{"free text", "cert-e1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := CompactHex(tt.in)
			b, isBlob := v.([]byte)
			if isBlob != tt.compact {
				t.Fatalf("CompactHex(%q) = %T, compact %v", tt.in, v, tt.compact)
			}
			if isBlob && len(b) != 32 {
				t.Fatalf("compact form has %d bytes", len(b))
			}
			var out string
			if err := (hexText{&out}).Scan(v); err != nil {
				t.Fatal(err)
			}
			if out != tt.in {
				t.Errorf("round trip %q -> %q", tt.in, out)
			}
		})
	}
	var s string
	if err := (hexText{&s}).Scan(nil); err != nil || s != "" {
		t.Errorf("Scan(nil) = %q, %v", s, err)
	}
	if err := (hexText{&s}).Scan(42); err == nil {
		t.Error("Scan(42) succeeded")
	}
	if !bytes.Equal(CompactHex(digest).([]byte)[:2], []byte{0xe3, 0xb0}) {
		t.Error("wrong bytes")
	}
}
