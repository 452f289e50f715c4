package mdm

import "testing"

func TestFastXMLShapes(t *testing.T) {
	doc := func(inner string) []byte {
		return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>` + inner + `</dict>
</plist>
`)
	}
	tests := []struct {
		name string
		body []byte
		fast bool
	}{
		{"TokenUpdate", doc(`<key>MessageType</key><string>TokenUpdate</string><key>EnrollmentID</key><string>E</string><key>Token</key><data>3q2+7w==</data><key>PushMagic</key><string>p</string><key>NotOnConsole</key><false/>`), true},
		{"Idle", doc(`<key>Status</key><string>Idle</string><key>UDID</key><string>U</string>`), true},
		{"no declaration", []byte(`<plist><dict><key>Status</key><string>Idle</string></dict></plist>`), true},
		{"empty string and data", doc(`<key>UDID</key><string/><key>Token</key><data/><key>X</key><true/>`), true},
		{"entity", doc(`<key>DeviceName</key><string>Bob &amp; Alice</string>`), false},
		{"carriage return", doc("<key>DeviceName</key><string>a\r\nb</string>"), false},
		{"comment", doc(`<!-- c --><key>UDID</key><string>U</string>`), false},
		{"integer", doc(`<key>X</key><integer>1</integer>`), false},
		{"ErrorChain", doc(`<key>ErrorChain</key><array/>`), false},
		{"string for data", doc(`<key>Token</key><string>AQ==</string>`), false},
		{"data for string", doc(`<key>UDID</key><data>AQ==</data>`), false},
		{"bool for string", doc(`<key>UDID</key><true/>`), false},
		{"bad base64", doc(`<key>Token</key><data>A</data>`), false},
		{"bad base64 in an unknown key", doc(`<key>X</key><data>A</data>`), false},
		{"invalid UTF-8", doc("<key>UDID</key><string>\xff</string>"), false},
		{"control character", doc("<key>UDID</key><string>\x01</string>"), false},
		{"other encoding", []byte(`<?xml version="1.0" encoding="ISO-8859-1"?><plist><dict/></plist>`), false},
		{"trailing data", append(doc(``), "x"...), false},
		{"key without value", doc(`<key>UDID</key>`), false},
		{"internal DTD subset", []byte(`<!DOCTYPE plist [<!ENTITY a "b">]><plist><dict></dict></plist>`), false},
		{"binary", []byte("bplist00"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w wire
			if got := decodeFastXML(tc.body, &w); got != tc.fast {
				t.Fatalf("decodeFastXML = %v, want %v", got, tc.fast)
			}
		})
	}
}
