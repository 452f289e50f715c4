package profile_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/profile"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func intPtr(n int) *int { return &n }

// goldenProfiles builds one profile of each kind from fixed inputs.
func goldenProfiles(t *testing.T) map[string]*profile.Profile {
	t.Helper()
	out := map[string]*profile.Profile{}

	e := testEnrollment()
	e.CheckOutWhenRemoved = true
	e.Identity.(*profile.SCEP).Retries = intPtr(5)
	e.Identity.(*profile.SCEP).SubjectAltName = &profile.SubjectAltName{RFC822Name: []string{"jane@example.com"}}
	p, err := profile.NewUserEnrollment(e, "jane@example.com")
	if err != nil {
		t.Fatal(err)
	}
	out["user-enrollment"] = p

	e = testEnrollment()
	e.Identity = &profile.ACME{
		DirectoryURL:     "https://acme.example.com/directory",
		ClientIdentifier: "client-42",
		KeySize:          384,
		KeyType:          profile.KeyTypeEC,
		HardwareBound:    true,
		Attest:           true,
		Subject:          profile.Subject{{{Type: "O", Value: "Example Corp"}}, {{Type: "CN", Value: "enrollment-42"}}},
		ExtendedKeyUsage: []string{"1.3.6.1.5.5.7.3.2"},
		UsageFlags:       1,
	}
	e.ServerCapabilities = []string{profile.CapabilityToken}
	p, err = profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
	if err != nil {
		t.Fatal(err)
	}
	out["account-driven"] = p

	e = testEnrollment()
	ca := fixedCertDER(t)
	e.Certificates = []profile.Payload{&profile.Root{Certificate: profile.Certificate{PayloadCertificateFileName: "root.cer", Content: ca}}}
	e.PinCertificates = true
	p, err = profile.NewDeviceEnrollment(e, profile.AllRights)
	if err != nil {
		t.Fatal(err)
	}
	out["device-enrollment"] = p
	return out
}

// fixedCertDER returns a certificate stored in testdata, so that golden
// output does not depend on freshly generated keys.
func fixedCertDER(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "root.der"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	for name, p := range goldenProfiles(t) {
		t.Run(name, func(t *testing.T) {
			got, err := profile.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".mobileconfig")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run go test -update if the change is intended)\n%s", path, got)
			}

			// Decoding the golden file and encoding it again gives the same
			// bytes, in XML and via binary.
			back, err := profile.Unmarshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, p) {
				t.Errorf("decoded profile differs:\n got %+v\nwant %+v", back, p)
			}
			bin, err := profile.MarshalFormat(back, profile.Binary)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(bin, []byte("bplist00")) {
				t.Fatal("binary encoding lacks the bplist00 magic")
			}
			fromBin, err := profile.Unmarshal(bin)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := profile.Marshal(fromBin)
			if !bytes.Equal(again, want) {
				t.Error("binary round trip changed the profile")
			}
			if err := fromBin.Validate(profile.ValidateOptions{}); err != nil {
				t.Errorf("decoded profile does not validate: %v", err)
			}
		})
	}
}

func TestBuildersAreDeterministic(t *testing.T) {
	a, _ := profile.Marshal(testProfile(t))
	b, _ := profile.Marshal(testProfile(t))
	if !bytes.Equal(a, b) {
		t.Error("same inputs gave different bytes")
	}
	e := testEnrollment()
	e.Seed = "enrollment-43"
	p, err := profile.NewAccountDrivenUserEnrollment(e, "jane@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if p.PayloadUUID == testProfile(t).PayloadUUID {
		t.Error("a different seed gave the same PayloadUUID")
	}
}

func TestBuildersDoNotModifyInputs(t *testing.T) {
	e := testEnrollment()
	id := e.Identity.(*profile.SCEP)
	if _, err := profile.NewUserEnrollment(e, "jane@example.com"); err != nil {
		t.Fatal(err)
	}
	if id.PayloadUUID != "" || id.PayloadIdentifier != "" {
		t.Errorf("builder changed the caller's identity payload: %+v", id.Header)
	}
}

func TestDeriveUUID(t *testing.T) {
	u := profile.DeriveUUID("seed", "com.example.a")
	if len(u) != 36 || u[14] != '5' || !strings.ContainsRune("89AB", rune(u[19])) || strings.ToUpper(u) != u {
		t.Errorf("DeriveUUID = %q, want an upper-case version 5 UUID", u)
	}
	if u != profile.DeriveUUID("seed", "com.example.a") {
		t.Error("DeriveUUID is not deterministic")
	}
	for _, other := range []string{profile.DeriveUUID("seed", "com.example.b"), profile.DeriveUUID("seed2", "com.example.a"), profile.DeriveUUID("seedcom.example", ".a")} {
		if other == u {
			t.Errorf("different inputs gave the same UUID %s", u)
		}
	}
}

const unknownPayloadProfile = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>PayloadContent</key>
	<array>
		<dict>
			<key>AutoJoin</key>
			<true/>
			<key>EAPClientConfiguration</key>
			<dict>
				<key>AcceptEAPTypes</key>
				<array><integer>13</integer></array>
				<key>TLSTrustedServerNames</key>
				<array><string>radius.example.com</string></array>
			</dict>
			<key>Expires</key>
			<date>2030-01-02T03:04:05Z</date>
			<key>Blob</key>
			<data>AAECAw==</data>
			<key>Ratio</key>
			<real>1.5</real>
			<key>PayloadIdentifier</key>
			<string>com.example.wifi</string>
			<key>PayloadType</key>
			<string>com.apple.wifi.managed</string>
			<key>PayloadUUID</key>
			<string>0B5E0F2A-0D7B-4E8C-9C1B-7D7E3D0C2B11</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
			<key>SSID_STR</key>
			<string>Corp</string>
		</dict>
		<dict>
			<key>FutureKey</key>
			<string>kept</string>
			<key>IdentityCertificateUUID</key>
			<string>0B5E0F2A-0D7B-4E8C-9C1B-7D7E3D0C2B11</string>
			<key>PayloadIdentifier</key>
			<string>com.example.mdm</string>
			<key>PayloadType</key>
			<string>com.apple.mdm</string>
			<key>PayloadUUID</key>
			<string>1B5E0F2A-0D7B-4E8C-9C1B-7D7E3D0C2B11</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
			<key>ServerURL</key>
			<string>https://mdm.example.com</string>
			<key>Topic</key>
			<string>com.apple.mgmt.External.x</string>
		</dict>
	</array>
	<key>PayloadIdentifier</key>
	<string>com.example.profile</string>
	<key>PayloadType</key>
	<string>Configuration</string>
	<key>PayloadUUID</key>
	<string>2B5E0F2A-0D7B-4E8C-9C1B-7D7E3D0C2B11</string>
	<key>PayloadVersion</key>
	<integer>1</integer>
	<key>TargetDeviceType</key>
	<integer>1</integer>
</dict>
</plist>
`

func TestUnknownPayloadsRoundTrip(t *testing.T) {
	p, err := profile.Unmarshal([]byte(unknownPayloadProfile))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := p.Payloads[0].(*profile.Generic)
	if !ok || g.Type() != "com.apple.wifi.managed" || g.PayloadIdentifier != "com.example.wifi" {
		t.Fatalf("first payload = %#v, want a Generic wifi payload", p.Payloads[0])
	}
	if p.MDM().Extra["FutureKey"] != "kept" || p.Extra["TargetDeviceType"] == nil {
		t.Error("unmodelled keys were dropped")
	}
	for _, f := range []profile.Format{profile.XML, profile.Binary} {
		b, err := profile.MarshalFormat(p, f)
		if err != nil {
			t.Fatal(err)
		}
		q, err := profile.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Errorf("%v round trip changed the profile:\n got %#v\nwant %#v", f, q.Payloads[0], p.Payloads[0])
		}
	}
}

func TestUnmarshalTypeErrors(t *testing.T) {
	wrap := func(payload string) string {
		return `<plist version="1.0"><dict><key>PayloadType</key><string>Configuration</string>` +
			`<key>PayloadContent</key><array>` + payload + `</array></dict></plist>`
	}
	tests := []struct {
		name, in, field string
		want            error
	}{
		{"topic integer", wrap(`<dict><key>PayloadType</key><string>com.apple.mdm</string><key>Topic</key><integer>1</integer></dict>`), "PayloadContent[0].Topic", profile.ErrWrongType},
		{"access rights string", wrap(`<dict><key>PayloadType</key><string>com.apple.mdm</string><key>AccessRights</key><string>all</string></dict>`), "PayloadContent[0].AccessRights", profile.ErrWrongType},
		{"capabilities not strings", wrap(`<dict><key>PayloadType</key><string>com.apple.mdm</string><key>ServerCapabilities</key><array><true/></array></dict>`), "PayloadContent[0].ServerCapabilities[0]", profile.ErrWrongType},
		{"scep content not dict", wrap(`<dict><key>PayloadType</key><string>com.apple.security.scep</string><key>PayloadContent</key><string>x</string></dict>`), "PayloadContent[0].PayloadContent", profile.ErrWrongType},
		{"scep subject malformed", wrap(`<dict><key>PayloadType</key><string>com.apple.security.scep</string><key>PayloadContent</key><dict><key>Subject</key><array><array><array><string>CN</string></array></array></array></dict></dict>`), "PayloadContent[0].PayloadContent.Subject[0][0]", profile.ErrWrongType},
		{"scep san malformed", wrap(`<dict><key>PayloadType</key><string>com.apple.security.scep</string><key>PayloadContent</key><dict><key>SubjectAltName</key><dict><key>dNSName</key><integer>3</integer></dict></dict></dict>`), "PayloadContent[0].PayloadContent.SubjectAltName.dNSName", profile.ErrWrongType},
		{"acme hardware bound string", wrap(`<dict><key>PayloadType</key><string>com.apple.security.acme</string><key>HardwareBound</key><string>yes</string></dict>`), "PayloadContent[0].HardwareBound", profile.ErrWrongType},
		{"pkcs12 content string", wrap(`<dict><key>PayloadType</key><string>com.apple.security.pkcs12</string><key>PayloadContent</key><string>x</string></dict>`), "PayloadContent[0].PayloadContent", profile.ErrWrongType},
		{"payload not dict", wrap(`<string>x</string>`), "PayloadContent[0]", profile.ErrWrongType},
		{"payload without type", wrap(`<dict/>`), "PayloadContent[0].PayloadType", profile.ErrMissing},
		{"content not array", `<plist version="1.0"><dict><key>PayloadType</key><string>Configuration</string><key>PayloadContent</key><dict/></dict></plist>`, "PayloadContent", profile.ErrWrongType},
		{"consent text not strings", `<plist version="1.0"><dict><key>PayloadType</key><string>Configuration</string><key>ConsentText</key><dict><key>en</key><true/></dict></dict></plist>`, "ConsentText.en", profile.ErrWrongType},
		{"payload type integer", `<plist version="1.0"><dict><key>PayloadType</key><integer>3</integer></dict></plist>`, "PayloadType", profile.ErrWrongType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := profile.Unmarshal([]byte(tt.in))
			var fe *profile.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v on %s", err, tt.want, tt.field)
			}
			if !strings.HasPrefix(err.Error(), "profile: "+tt.field+": ") {
				t.Errorf("message %q does not start with the package and field", err)
			}
		})
	}
}

func TestProfileKeysRoundTrip(t *testing.T) {
	p := testProfile(t)
	p.PayloadScope = "User"
	p.PayloadRemovalDisallowed = true
	p.ConsentText = map[string]string{"default": "Work data only.", "de": "Nur Arbeitsdaten."}
	// A modelled key in Extra loses to the field.
	p.MDM().Extra = map[string]any{"Topic": "com.apple.mgmt.stale", "Future": uint64(7)}
	b, err := profile.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := profile.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if q.PayloadScope != "User" || !q.PayloadRemovalDisallowed || q.ConsentText["de"] != "Nur Arbeitsdaten." {
		t.Errorf("top-level keys lost: %+v", q)
	}
	if m := q.MDM(); m.Topic != p.MDM().Topic || m.Extra["Future"] != uint64(7) || len(m.Extra) != 1 {
		t.Errorf("MDM Topic = %q, Extra = %v", m.Topic, m.Extra)
	}
	if profile.XML.String() != "xml" || profile.Binary.String() != "binary" {
		t.Error("Format.String")
	}
	if (&profile.Profile{}).MDM() != nil {
		t.Error("MDM() of an empty profile is not nil")
	}
	if err := (&profile.SizeError{Size: 2, Limit: 1}).Error(); err != "profile: input is too large (2 bytes, limit 1)" {
		t.Errorf("SizeError = %q", err)
	}
}
