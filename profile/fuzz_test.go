package profile

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParse feeds Parse what a device or an attacker might: bare XML and
// binary profiles and CMS-wrapped ones. Parse must never panic, and a
// profile it accepts must encode, decode and encode again to the same
// bytes.
func FuzzParse(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*.mobileconfig"))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		p, err := Unmarshal(b)
		if err != nil {
			f.Fatal(err)
		}
		bin, err := marshalFormat(p, Binary)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bin)
		signed, err := fuzzSign(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(signed)
	}
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80, 0x00, 0x00, 0x00, 0x00})
	f.Add([]byte("bplist00"))
	f.Add([]byte(`<plist version="1.0"><dict><key>PayloadType</key><string>Configuration</string></dict></plist>`))

	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Parse(data, ParseOptions{MaxSize: 64 << 10})
		if err != nil {
			if res != nil {
				t.Fatal("result with an error")
			}
			return
		}
		once, err := Marshal(res.Profile)
		if err != nil {
			t.Fatalf("accepted profile does not encode: %v", err)
		}
		again, err := Unmarshal(once)
		if err != nil {
			t.Fatalf("encoded profile does not decode: %v\n%s", err, once)
		}
		twice, err := Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("encoding is not stable:\n%s\n%s", once, twice)
		}
	})
}

// fuzzSign signs content with a throwaway self-signed P-256 certificate.
func fuzzSign(content []byte) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fuzz"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return Sign(content, key, []*x509.Certificate{cert})
}
