package mdm

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	"howett.net/plist"
)

var fuzzBodies = [][]byte{
	[]byte(`<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>BuildVersion</key><string>22B83</string><key>EnrollmentID</key><string>A1B2</string><key>MessageType</key><string>Authenticate</string><key>OSVersion</key><string>18.1</string><key>ProductName</key><string>iPhone16,1</string><key>Topic</key><string>com.apple.mgmt.External.x</string></dict></plist>`),
	[]byte(`<plist><dict><key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>U</string><key>UserID</key><string>u</string><key>Token</key><data>AQI=</data><key>PushMagic</key><string>p</string></dict></plist>`),
	[]byte(`<plist><dict><key>Status</key><string>Error</string><key>EnrollmentID</key><string>E</string><key>CommandUUID</key><string>C</string><key>ErrorChain</key><array><dict><key>ErrorCode</key><integer>1</integer></dict></array></dict></plist>`),
	[]byte(`<plist><dict><key>MessageType</key><string>GetToken</string><key>EnrollmentID</key><string>E</string><key>TokenServiceType</key><string>com.apple.maid</string><key>TokenParameters</key><dict><key>a</key><array><real>1.5</real><date>2026-01-01T00:00:00Z</date></array></dict></dict></plist>`),
	[]byte("bplist00\xd1\x01\x02[MessageTypeXCheckOut\x08\x0b\x17\x00\x00\x00\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00 "),
}

// FuzzDecode feeds device bodies to the decoder: it must never panic, and
// whatever it accepts names an enrollment.
func FuzzDecode(f *testing.F) {
	bodies, _ := captureSeeds(f)
	for _, b := range append(bodies, fuzzBodies...) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := decode(body)
		if err != nil {
			if v != nil {
				t.Fatal("value with error")
			}
			return
		}
		var id Identifiers
		switch m := v.(type) {
		case Message:
			id = m.CheckinHeader().Identifiers
			if g, ok := m.(*GetToken); ok && g.TokenServiceType == "" {
				t.Fatal("accepted a GetToken without TokenServiceType")
			}
		case *CommandResult:
			id = m.Identifiers
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
	_, captured := captureSeeds(f)
	for _, s := range append(seeds, captured...) {
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

// FuzzFastXML is a differential test: whatever the fast path accepts, the
// general plist decoder must accept too and decode to the same values.
func FuzzFastXML(f *testing.F) {
	bodies, _ := captureSeeds(f)
	for _, b := range append(bodies, fuzzBodies...) {
		f.Add(b)
	}
	f.Add([]byte(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>AwaitingConfiguration</key>
	<false/>
	<key>EnrollmentID</key>
	<string>B7C8D9E0-1F2A-4B3C-9D4E-5F6A7B8C9D0E</string>
	<key>MessageType</key>
	<string>TokenUpdate</string>
	<key>PushMagic</key>
	<string>5A2B3C4D-0000-4E5F-8A9B-1C2D3E4F5A6B</string>
	<key>Token</key>
	<data>
	3q2+7w==
	</data>
	<key>Unknown</key>
	<data/>
	<key>Topic</key>
	<string>com.apple.mgmt.External.9b2c</string>
	<key>UserLongName</key>
	<string>Zoë Müller</string>
</dict>
</plist>
`))
	for _, s := range []string{
		`<plist><dict><key>UDID</key><string>a</string><key>UDID</key><string>b</string></dict></plist>`,
		`<plist><dict><key>UDID</key><string/><key>Token</key><data/></dict></plist>`,
		`<plist><dict><key>X</key><true/><key>Y</key><data>AQ==</data></dict></plist>`,
		`<plist><dict><key>Token</key><data>AQ=</data></dict></plist>`,
		"<plist><dict><key>UDID</key><string>\xc3\xa9\t</string></dict></plist>",
		`<?xml version="1.0"?><plist><dict></dict></plist>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast wire
		if !decodeFastXML(body, &fast) {
			return
		}
		var slow wire
		d := plist.NewDecoder(bytes.NewReader(body))
		if err := d.Decode(&slow); err != nil || d.Format != plist.XMLFormat {
			t.Fatalf("fast path accepted what the decoder refuses (format %d): %v", d.Format, err)
		}
		for _, p := range []*[]byte{&fast.Token, &fast.UnlockToken, &fast.BootstrapToken, &fast.Data, &slow.Token, &slow.UnlockToken, &slow.BootstrapToken, &slow.Data} {
			if len(*p) == 0 {
				*p = nil
			}
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast path differs:\nfast %+v\nslow %+v", fast, slow)
		}
	})
}
