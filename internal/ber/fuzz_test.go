package ber

import (
	"bytes"
	"os"
	"testing"
)

// seeds returns device-shaped signatures (SHA-1 without attributes,
// SHA-256 with) in DER and in streamed BER.
func seeds(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, name := range []string{"testdata/sig-sha1-noattr.der", "testdata/sig-sha256-attrs.der"} {
		der, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		streamed, err := Stream(der, 64)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, der, streamed)
	}
	return out
}

// FuzzBERToDER checks the converter on arbitrary input: no panics, input
// left untouched, output a fixed point that Stream and ToDER carry back to
// itself, and the limits honoured.
func FuzzBERToDER(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Add([]byte{0x30, 0x80, 0x24, 0x80, 0x04, 0x01, 0x07, 0, 0, 0, 0})
	f.Add([]byte{0x24, 0x80, 0x24, 0x80, 0x04, 0x01, 'a', 0, 0, 0x04, 0x01, 'b', 0, 0})
	f.Add([]byte{0x30, 0x80, 0x1f, 0x81, 0x01, 0x01, 0x05, 0x04, 0x82, 0x00, 0x01, 0x07, 0, 0})
	const maxBytes, maxDepth = 64 << 10, 32
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		out, err := ToDER(in, Limits{MaxBytes: maxBytes, MaxDepth: maxDepth})
		if !bytes.Equal(in, orig) {
			t.Fatal("ToDER modified its input")
		}
		if err != nil {
			return
		}
		if len(in) > maxBytes {
			t.Fatalf("accepted %d bytes over a limit of %d", len(in), maxBytes)
		}
		again, err := ToDER(out, Limits{MaxDepth: maxDepth})
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not a fixed point: %x -> %x (%v)", out, again, err)
		}
		streamed, err := Stream(out, 3)
		if err != nil {
			t.Fatalf("Stream refused converted output %x: %v", out, err)
		}
		back, err := ToDER(streamed, Limits{MaxDepth: maxDepth})
		if err != nil || !bytes.Equal(back, out) {
			t.Fatalf("ToDER(Stream(x)) != x for %x: %x (%v)", out, back, err)
		}
	})
}
