package profile

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"howett.net/plist"
)

// TestMarshalRoundTrip: every payload type and unmodelled keys of every
// value type survive Marshal and Unmarshal, in both formats, and encoding
// twice gives the same bytes (the plist library sorts the keys).
func TestMarshalRoundTrip(t *testing.T) {
	extra := map[string]any{
		"ZString": "<&>\"'é", "ZBool": false, "ZInt": uint64(1 << 63), "ZNeg": int64(-3), "ZReal": 1.5,
		"ZData": []byte{0, 255}, "ZDate": time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		"ZArray": []any{"a", map[string]any{"k": true}}, "ZDict": map[string]any{},
	}
	for _, name := range []string{"user-enrollment", "account-driven", "device-enrollment"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name+".mobileconfig"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := Unmarshal(raw)
		if err != nil {
			t.Fatal(err)
		}
		p.Extra = extra
		p.Payloads = append(p.Payloads, &Generic{PayloadType: "com.example.x", Content: map[string]any{"A": "b"}},
			&PKCS12{Content: []byte{1}, KeyIsExtractable: new(bool)}, &PEM{Certificate: Certificate{Content: []byte("x")}})
		for _, f := range []Format{XML, Binary} {
			once, err := marshalFormat(p, f)
			if err != nil {
				t.Fatal(err)
			}
			twice, err := marshalFormat(p, f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(once, twice) {
				t.Errorf("%s %s: two encodings differ", name, f)
			}
			back, err := Unmarshal(once)
			if err != nil {
				t.Fatalf("%s %s: %v", name, f, err)
			}
			again, err := marshalFormat(back, f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(once, again) {
				t.Errorf("%s %s: decoding and encoding again changed the profile:\n%s\n%s", name, f, once, again)
			}
			if !reflect.DeepEqual(back.Extra, extra) {
				t.Errorf("%s %s: Extra = %#v, want %#v", name, f, back.Extra, extra)
			}
		}
		// The XML is the plist library's, tab-indented, as in the golden
		// files.
		got, err := Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var generic any
		if _, err := plist.Unmarshal(got, &generic); err != nil {
			t.Fatal(err)
		}
		want, err := plist.MarshalIndent(generic, plist.XMLFormat, "\t")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Marshal differs from the plist library's encoding of the same values:\n got %s\nwant %s", name, got, want)
		}
	}
}
