package mdm_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
)

// TestDecodeShapes decodes the shapes device messages come in, and the
// near misses, through the public Decode: what a device writes decodes to
// its values, and a key of the wrong type, bad base64 or invalid text is
// ErrMalformed.
func TestDecodeShapes(t *testing.T) {
	doc := func(inner string) []byte {
		return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>` + inner + `</dict>
</plist>
`)
	}
	const idle = `<key>Status</key><string>Idle</string>`
	tests := []struct {
		name string
		body []byte
		err  error // nil: decodes
		// udid is the UDID decoded, for the bodies that decode.
		udid string
	}{
		{"TokenUpdate", doc(`<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>U</string><key>Token</key><data>3q2+7w==</data><key>PushMagic</key><string>p</string><key>NotOnConsole</key><false/>`), nil, "U"},
		{"Idle", doc(idle + `<key>UDID</key><string>U</string>`), nil, "U"},
		{"no declaration", []byte(`<plist><dict>` + idle + `<key>UDID</key><string>U</string></dict></plist>`), nil, "U"},
		{"empty values of unknown keys", doc(idle + `<key>UDID</key><string>U</string><key>X</key><string/><key>Y</key><data/><key>Z</key><true/>`), nil, "U"},
		{"entity", doc(idle + `<key>UDID</key><string>A &amp; B</string>`), nil, "A & B"},
		{"carriage return", doc(idle + "<key>UDID</key><string>a\r\nb</string>"), nil, "a\nb"},
		{"comment", doc(`<!-- c -->` + idle + `<key>UDID</key><string>U</string>`), nil, "U"},
		{"integer in an unknown key", doc(idle + `<key>UDID</key><string>U</string><key>X</key><integer>1</integer>`), nil, "U"},
		{"empty ErrorChain", doc(idle + `<key>UDID</key><string>U</string><key>ErrorChain</key><array/>`), nil, "U"},
		{"string for data", doc(`<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>U</string><key>Token</key><string>AQ==</string><key>PushMagic</key><string>p</string>`), mdm.ErrMalformed, ""},
		{"data for string", doc(idle + `<key>UDID</key><data>AQ==</data>`), mdm.ErrMalformed, ""},
		{"bool for string", doc(idle + `<key>UDID</key><true/>`), mdm.ErrMalformed, ""},
		{"bad base64", doc(`<key>MessageType</key><string>TokenUpdate</string><key>UDID</key><string>U</string><key>Token</key><data>A</data><key>PushMagic</key><string>p</string>`), mdm.ErrMalformed, ""},
		{"invalid UTF-8", doc(idle + "<key>UDID</key><string>\xff</string>"), mdm.ErrMalformed, ""},
		{"control character", doc(idle + "<key>UDID</key><string>\x01</string>"), mdm.ErrMalformed, ""},
		{"text after the document", append(doc(idle+`<key>UDID</key><string>U</string>`), "x"...), nil, "U"},
		{"key without value", doc(idle + `<key>UDID</key>`), mdm.ErrMalformed, ""},
		{"internal DTD subset", []byte(`<!DOCTYPE plist [<!ENTITY a "b">]><plist><dict>` + idle + `<key>UDID</key><string>&a;</string></dict></plist>`), mdm.ErrMalformed, ""},
		{"not a plist", []byte("bplist"), mdm.ErrMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := mdm.Decode(tc.body)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Decode = %v, %v; want %v", v, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			var id mdm.Identifiers
			switch m := v.(type) {
			case *mdm.CommandResult:
				id = m.Identifiers
			case *mdm.TokenUpdate:
				id = m.Identifiers
				if !bytes.Equal(m.Token, []byte{0xde, 0xad, 0xbe, 0xef}) || m.PushMagic != "p" {
					t.Errorf("TokenUpdate = %+v", m)
				}
			default:
				t.Fatalf("Decode = %T", v)
			}
			if id.UDID != tc.udid {
				t.Errorf("UDID = %q, want %q", id.UDID, tc.udid)
			}
		})
	}
}
