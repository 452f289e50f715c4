package credentials

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Format names an encoding of keys and certificates.
type Format int

// The formats Sniff recognises.
const (
	FormatUnknown        Format = iota
	FormatPEM                   // one or more PEM blocks
	FormatDERCertificate        // one or more concatenated DER certificates
	FormatPKCS8                 // DER PKCS#8 private key
	FormatPKCS1                 // DER PKCS#1 RSA private key
	FormatSEC1                  // DER SEC 1 EC private key
	FormatPKCS12                // DER PKCS#12 (PFX) file
	FormatVault                 // Ansible Vault file
)

var formatNames = [...]string{"unknown", "PEM", "DER certificate", "PKCS#8", "PKCS#1", "SEC 1", "PKCS#12", "Ansible Vault"}

// String returns the format's name.
func (f Format) String() string {
	if f < 0 || int(f) >= len(formatNames) {
		return "unknown"
	}
	return formatNames[f]
}

const vaultPrefix = "$ANSIBLE_VAULT;"

var (
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
)

// Sniff tells which format data is in, without a password and without
// decrypting anything. DER data is recognised by parsing it, so a result
// other than FormatUnknown for DER means the structure decodes (PKCS#12 only
// in its outer layer, which is all that can be read without the password).
// Leading white space and a UTF-8 byte order mark are ignored.
func Sniff(data []byte) Format {
	data = trimLeading(data)
	switch {
	case len(data) == 0:
		return FormatUnknown
	case bytes.HasPrefix(data, []byte(vaultPrefix)):
		return FormatVault
	case isPEM(data):
		return FormatPEM
	}
	return sniffDER(data)
}

func trimLeading(data []byte) []byte {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	return bytes.TrimLeft(data, " \t\r\n")
}

func isPEM(data []byte) bool {
	if !bytes.Contains(data, []byte("-----BEGIN ")) {
		return false
	}
	block, _ := pem.Decode(data)
	return block != nil
}

func sniffDER(data []byte) Format {
	if len(data) == 0 || data[0] != 0x30 { // every format here is a SEQUENCE
		return FormatUnknown
	}
	if isPFX(data) {
		return FormatPKCS12
	}
	if _, err := x509.ParseCertificates(data); err == nil {
		return FormatDERCertificate
	}
	if _, err := x509.ParsePKCS8PrivateKey(data); err == nil {
		return FormatPKCS8
	}
	if _, err := x509.ParsePKCS1PrivateKey(data); err == nil {
		return FormatPKCS1
	}
	if _, err := x509.ParseECPrivateKey(data); err == nil {
		return FormatSEC1
	}
	return FormatUnknown
}

// isPFX reports whether data is a PFX PDU (RFC 7292 §4): SEQUENCE { version
// INTEGER (3), authSafe ContentInfo (data or signedData), macData OPTIONAL }.
func isPFX(data []byte) bool {
	in := cryptobyte.String(data)
	var pfx, authSafe cryptobyte.String
	var version int
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&pfx, casn1.SEQUENCE) || !in.Empty() ||
		!pfx.ReadASN1Integer(&version) || version != 3 ||
		!pfx.ReadASN1(&authSafe, casn1.SEQUENCE) ||
		!authSafe.ReadASN1ObjectIdentifier(&oid) {
		return false
	}
	return oid.Equal(oidData) || oid.Equal(oidSignedData)
}
