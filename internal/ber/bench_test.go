package ber

import (
	"bytes"
	"testing"
)

// signedContent returns a DER SignedData-shaped structure whose
// encapsulated content is n bytes, nested as deep as CMS nests it.
func signedContent(n int) []byte {
	el := append(header(0x04, n), bytes.Repeat([]byte("<key>x</key>"), n/12+1)[:n]...)
	el = append(header(0xa0, len(el)), el...)                                                   // [0] EXPLICIT eContent
	el = append(append(header(0x30, len(el)+11), 0x06, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9), el...) // EncapsulatedContentInfo
	el = append(append(header(0x30, len(el)+5), 0x02, 0x01, 0x01, 0x31, 0x00), el...)           // SignedData
	el = append(header(0xa0, len(el)), el...)
	return append(append(header(0x30, len(el)+11), 0x06, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9), el...) // ContentInfo
}

func BenchmarkToDER(b *testing.B) {
	sig := seeds(b)[3] // SHA-256 with attributes, streamed
	profile, err := Stream(signedContent(200<<10), 4096)
	if err != nil {
		b.Fatal(err)
	}
	der := signedContent(200 << 10)
	for _, bc := range []struct {
		name string
		in   []byte
	}{
		{"signature-1KiB", sig},
		{"streamed-200KiB", profile},
		{"der-200KiB", der},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.in)))
			for b.Loop() {
				if _, err := ToDER(bc.in, Limits{MaxBytes: 1 << 20, MaxDepth: 32}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
