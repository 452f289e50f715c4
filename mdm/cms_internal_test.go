package mdm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/internal/ber"
)

// derToBER re-encodes DER the way streaming encoders do: every constructed
// element gets an indefinite length, and OCTET STRINGs longer than chunk
// bytes become constructed strings of chunks.
func derToBER(t testing.TB, der []byte, chunk int) []byte {
	t.Helper()
	out, err := ber.Stream(der, chunk)
	if err != nil {
		t.Fatalf("derToBER: %v", err)
	}
	return out
}

// testCert returns a self-signed certificate for the RSA-2048 key in
// testdata (read, not generated, so that fuzz workers start quickly).
func testCert(t testing.TB) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	raw, err := os.ReadFile("testdata/device-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(raw)
	pk, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	k := pk.(*rsa.PrivateKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "d"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, k
}

func TestDetachedBER(t *testing.T) {
	cert, key := testCert(t)
	body := []byte("<plist><dict><key>Status</key><string>Idle</string></dict></plist>")
	for _, attrs := range []bool{false, true} {
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
			b64, err := Sign(body, cert, key, &SignOptions{Hash: h, SignedAttributes: attrs})
			if err != nil {
				t.Fatal(err)
			}
			der, _ := base64.StdEncoding.DecodeString(b64)
			ber := derToBER(t, der, 100)
			if bytes.Equal(ber, der) || ber[1] != 0x80 {
				t.Fatal("derToBER produced no BER")
			}
			norm, err := berToDER(ber, DefaultMaxSignatureBytes)
			if err != nil || !bytes.Equal(norm, der) {
				t.Fatalf("berToDER(derToBER(x)) != x: %v", err)
			}
			leaf, _, err := VerifySignature(ber, body)
			if err != nil || !leaf.Equal(cert) {
				t.Fatalf("attrs=%v %v: %v", attrs, h, err)
			}
			if _, _, err := VerifySignature(ber, append([]byte(" "), body...)); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("tampered: %v", err)
			}
		}
	}
}

func TestBERGuards(t *testing.T) {
	deep := bytes.Repeat([]byte{0x30, 0x80}, maxBERDepth+2)
	deep = append(deep, bytes.Repeat([]byte{0, 0}, maxBERDepth+2)...)
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"too deep", deep, DefaultMaxSignatureBytes, errBER},
		{"too large", make([]byte, 100), 50, ErrBodyTooLarge},
		{"truncated header", []byte{0x30}, 100, errBER},
		{"length past the end", []byte{0x04, 0x05, 1}, 100, errBER},
		{"indefinite primitive", []byte{0x04, 0x80, 0, 0}, 100, errBER},
		{"missing end-of-contents", []byte{0x30, 0x80, 0x02, 0x01, 0x01}, 100, errBER},
		{"trailing data", []byte{0x02, 0x01, 0x01, 0xff}, 100, errCMS},
		{"huge length field", []byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff}, 100, errBER},
		{"bad chunk in a constructed string", []byte{0x24, 0x80, 0x02, 0x01, 0x01, 0, 0}, 100, errBER},
		{"long high tag", []byte{0x1f, 0x81, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00}, 100, errBER},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := berToDER(tc.in, tc.max); !errors.Is(err, tc.want) {
				t.Fatalf("berToDER = %v, want %v", err, tc.want)
			}
		})
	}
	// mdm's own depth limit: maxBERDepth levels below the outermost
	// element pass, one more does not (the "too deep" case above).
	deepest := bytes.Repeat([]byte{0x30, 0x80}, maxBERDepth+1)
	deepest = append(deepest, bytes.Repeat([]byte{0, 0}, maxBERDepth+1)...)
	if _, err := berToDER(deepest, DefaultMaxSignatureBytes); err != nil {
		t.Fatalf("%d levels: %v", maxBERDepth, err)
	}
	if _, err := berToDER(deep, DefaultMaxSignatureBytes); !errors.Is(err, ber.ErrTooDeep) {
		t.Fatalf("too deep: %v, want it to wrap ber.ErrTooDeep", err)
	}
	ok := []byte{0x30, 0x80, 0x1f, 0x81, 0x01, 0x01, 0x05, 0x04, 0x82, 0x00, 0x01, 0x07, 0, 0}
	if out, err := berToDER(ok, 100); err != nil || !bytes.Equal(out, []byte{0x30, 0x08, 0x1f, 0x81, 0x01, 0x01, 0x05, 0x04, 0x01, 0x07}) {
		t.Fatalf("high tag and long length: %x, %v", out, err)
	}
}

func TestSignatureRefusals(t *testing.T) {
	cert, key := testCert(t)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "d"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	oder, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ek.Public(), ek)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := x509.ParseCertificate(oder)
	body := []byte("body")
	b64, _ := Sign(body, cert, key, &SignOptions{SignedAttributes: true})
	der, _ := base64.StdEncoding.DecodeString(b64)
	// The signature names a certificate that is not included.
	wrong, _ := Sign(body, other, key, nil)
	wder, _ := base64.StdEncoding.DecodeString(wrong)
	if _, _, err := VerifySignature(wder, body); !errors.Is(err, ErrBadSignature) {
		t.Errorf("key not matching the certificate: %v", err)
	}
	if _, _, err := VerifySignature(der[:len(der)-3], body); !errors.Is(err, ErrBadSignature) {
		t.Errorf("truncated: %v", err)
	}
	if _, _, err := VerifySignature(make([]byte, DefaultMaxSignatureBytes+1), body); !errors.Is(err, ErrBodyTooLarge) {
		t.Errorf("oversize: %v", err)
	}
	// An unsupported digest algorithm.
	if _, err := Sign(body, cert, key, &SignOptions{Hash: crypto.MD5}); err == nil {
		t.Error("MD5 accepted by Sign")
	}
	// An ECDSA signature by a key that is not the certificate's.
	ecSig, _ := Sign(body, other, mismatchedEC(t), nil)
	ecder, _ := base64.StdEncoding.DecodeString(ecSig)
	if _, _, err := VerifySignature(ecder, body); !errors.Is(err, ErrBadSignature) {
		t.Errorf("ECDSA by another key: %v", err)
	}
	sd, err := parseSignedData(der, DefaultMaxSignatureBytes)
	if err != nil {
		t.Fatal(err)
	}
	s := sd.signers[0]
	s.digestAlg = []byte{1, 2, 3}
	if err := s.verify(cert, body); !errors.Is(err, ErrBadSignature) {
		t.Errorf("unknown digest: %v", err)
	}
	// Missing messageDigest attribute.
	if _, err := checkSignedAttrs(nil); !errors.Is(err, ErrBadSignature) {
		t.Errorf("no attributes: %v", err)
	}
	// Encapsulated content that differs from the body.
	sd.content = []byte("other")
	if _, err := sd.verify(body, func(int) *x509.Certificate { return cert }); !errors.Is(err, ErrBadSignature) {
		t.Errorf("different eContent: %v", err)
	}
}

func TestParseCertHeader(t *testing.T) {
	cert, _ := testCert(t)
	b64 := base64.StdEncoding.EncodeToString(cert.Raw)
	pemText := "-----BEGIN CERTIFICATE-----\n" + b64 + "\n-----END CERTIFICATE-----\n"
	tests := []struct {
		name, header, val string
		ok                bool
	}{
		{"RFC 9440", "Client-Cert", ":" + b64 + ":", true},
		{"RFC 9440 without colons", "Client-Cert", b64, false},
		{"RFC 9440 bad base64", "Client-Cert", ":!!:", false},
		{"byte sequence under another name", "X-Cert", ":" + b64 + ":", true},
		{"base64 DER", "X-Cert", b64, true},
		{"bad base64", "X-Cert", "***", false},
		{"PEM", "X-Cert", pemText, true},
		{"escaped PEM", "X-Cert", strings.ReplaceAll(strings.ReplaceAll(pemText, "\n", "%0A"), "-", "%2D"), true},
		{"PEM of a key", "X-Cert", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			der, err := parseCertHeader(tc.header, tc.val)
			if tc.ok != (err == nil) || (tc.ok && !bytes.Equal(der, cert.Raw)) {
				t.Fatalf("parseCertHeader = %d bytes, %v", len(der), err)
			}
			if err != nil && !errors.Is(err, ErrNoCertificate) {
				t.Fatalf("error %v does not match ErrNoCertificate", err)
			}
		})
	}
}

func mismatchedEC(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
