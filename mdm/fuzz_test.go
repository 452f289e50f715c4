package mdm

import (
	"os"
	"testing"
)

var fuzzBodies = [][]byte{
	[]byte(`<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>BuildVersion</key><string>22B83</string><key>EnrollmentID</key><string>A1B2</string><key>MessageType</key><string>Authenticate</string><key>OSVersion</key><string>18.1</string><key>ProductName</key><string>iPhone16,1</string><key>Topic</key><string>com.apple.mgmt.External.x</string></dict></plist>`),
	[]byte(`<plist><dict><key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>U</string><key>UserID</key><string>u</string><key>Token</key><data>AQI=</data><key>PushMagic</key><string>p</string></dict></plist>`),
	[]byte(`<plist><dict><key>Status</key><string>Error</string><key>EnrollmentID</key><string>E</string><key>CommandUUID</key><string>C</string><key>ErrorChain</key><array><dict><key>ErrorCode</key><integer>1</integer></dict></array></dict></plist>`),
	[]byte(`<plist><dict><key>MessageType</key><string>GetToken</string><key>EnrollmentID</key><string>E</string><key>TokenParameters</key><dict><key>a</key><array><real>1.5</real><date>2026-01-01T00:00:00Z</date></array></dict></dict></plist>`),
	[]byte("bplist00\xd1\x01\x02[MessageTypeXCheckOut\x08\x0b\x17\x00\x00\x00\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00 "),
}

// FuzzDecode feeds device bodies to the decoder: it must never panic, and
// whatever it accepts names an enrollment.
func FuzzDecode(f *testing.F) {
	for _, b := range fuzzBodies {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := Decode(body)
		if err != nil {
			if v != nil {
				t.Fatal("value with error")
			}
			return
		}
		var id Identity
		switch m := v.(type) {
		case Message:
			id = m.CheckinHeader().Identity
		case *CommandResult:
			id = m.Identity
			if !m.Status.Valid() {
				t.Fatalf("accepted Status %q", m.Status)
			}
		default:
			t.Fatalf("Decode returned %T", v)
		}
		if _, err := id.Resolve(); err != nil {
			t.Fatalf("accepted a message without identity: %v", err)
		}
	})
}

// signatureSeeds returns the body and device-shaped signatures over it
// (SHA-1 without attributes, SHA-256 with), in DER and in BER. They are
// read from testdata because fuzz workers run this setup each time they
// start, and signing there is slow.
func signatureSeeds(f *testing.F) ([]byte, [][]byte) {
	f.Helper()
	var seeds [][]byte
	for _, name := range []string{"testdata/sig-sha1-noattr.der", "testdata/sig-sha256-attrs.der"} {
		der, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, der, derToBER(f, der, 64))
	}
	return fuzzBodies[0], seeds
}

// FuzzVerifySignature feeds Mdm-Signature bytes to the CMS parser and
// verifier.
func FuzzVerifySignature(f *testing.F) {
	body, seeds := signatureSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sig []byte) {
		leaf, _, err := VerifySignature(sig, body)
		if err == nil && leaf == nil {
			t.Fatal("no signer and no error")
		}
	})
}

// FuzzParseCertHeader feeds proxy certificate headers to the parser.
func FuzzParseCertHeader(f *testing.F) {
	f.Add("Client-Cert", ":MIIB:")
	f.Add("X-Cert", "-----BEGIN CERTIFICATE-----%0AMIIB%0A-----END CERTIFICATE-----")
	f.Add("X-Cert", "MIIB")
	f.Fuzz(func(t *testing.T, name, val string) {
		_, _ = parseCertHeader(name, val)
	})
}
