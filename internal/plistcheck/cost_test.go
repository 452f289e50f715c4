package plistcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"howett.net/plist"
)

// xmlDoc wraps inner in a device-style XML plist dictionary.
func xmlDoc(inner string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Status</key>
	<string>Acknowledged</string>
` + inner + `</dict>
</plist>
`)
}

// flatDicts is the body of the memory attack: one dictionary holding n
// keys, each naming an empty dictionary.
func flatDicts(n int) []byte {
	return xmlDoc(repeated("", "<key>k%d</key><dict/>", "", n))
}

// sharedEmptyDicts is a binary document whose array refers n times to one
// empty dictionary, with references four bytes wide.
func sharedEmptyDicts(n int) []byte {
	arr := []byte{0xAF, 0x12}
	arr = binary.BigEndian.AppendUint32(arr, uint32(n))
	for range n {
		arr = append(arr, 0, 0, 0, 1)
	}
	return docRef4(0, arr, []byte{0xD0})
}

// distinctEmptyDicts is a binary array of n (< 12000) different empty
// dictionaries, references and offsets two bytes wide.
func distinctEmptyDicts(n int) []byte {
	arr := []byte{0xAF, 0x11, byte(n >> 8), byte(n)}
	objs := [][]byte{nil}
	for i := range n {
		arr = append(arr, byte((i+1)>>8), byte(i+1))
		objs = append(objs, []byte{0xD0})
	}
	objs[0] = arr
	return docRef(2, 0, objs...)
}

// docRef4 is doc with offsets and references four bytes wide.
func docRef4(top int, objs ...[]byte) []byte {
	b := []byte("bplist00")
	var offs []byte
	for _, o := range objs {
		offs = binary.BigEndian.AppendUint32(offs, uint32(len(b)))
		b = append(b, o...)
	}
	tableOff := len(b)
	b = append(b, offs...)
	var t [trailerLen]byte
	t[6], t[7] = 4, 4
	binary.BigEndian.PutUint64(t[8:], uint64(len(objs)))
	binary.BigEndian.PutUint64(t[16:], uint64(top))
	binary.BigEndian.PutUint64(t[24:], uint64(tableOff))
	return append(b, t[:]...)
}

// appList is an InstalledApplicationList result of n applications as a
// device writes it in XML (tabs, a line per element).
func appList(n int) []byte {
	return xmlDoc(repeated("\t<key>InstalledApplicationList</key>\n\t<array>\n",
		"\t\t<dict>\n\t\t\t<key>Identifier</key>\n\t\t\t<string>com.example.app%[1]d</string>\n"+
			"\t\t\t<key>Name</key>\n\t\t\t<string>App %[1]d</string>\n\t\t\t<key>ShortVersion</key>\n\t\t\t<string>1.0</string>\n"+
			"\t\t\t<key>BundleSize</key>\n\t\t\t<integer>%[1]d</integer>\n\t\t\t<key>Installing</key>\n\t\t\t<false/>\n\t\t</dict>\n",
		"\t</array>\n", n))
}

// identifiers is an application list that asked only for Identifier: the
// densest dictionaries a device writes.
func identifiers(n int) []byte {
	return xmlDoc(repeated("\t<key>InstalledApplicationList</key>\n\t<array>\n",
		"\t\t<dict>\n\t\t\t<key>Identifier</key>\n\t\t\t<string>com.apple.app%d</string>\n\t\t</dict>\n", "\t</array>\n", n))
}

// flags is a dictionary of n booleans, the densest scalars a device writes.
func flags(n int) []byte {
	return xmlDoc(repeated("\t<key>Settings</key>\n\t<dict>\n", "\t\t<key>k%d</key>\n\t\t<true/>\n", "\t</dict>\n", n))
}

// textDicts is a text-format dictionary of n keys, each naming an empty
// dictionary.
func textDicts(n int) []byte {
	return []byte(repeated("{", "k%d={};", "}", n))
}

// repeated is open, then format with i for each i below n, then end.
func repeated(open, format, end string, n int) string {
	var b strings.Builder
	b.WriteString(open)
	for i := range n {
		fmt.Fprintf(&b, format, i)
	}
	b.WriteString(end)
	return b.String()
}

// utf16LE encodes ASCII s as UTF-16, little-endian, with a byte order mark.
func utf16LE(s string) []byte {
	b := []byte{0xFF, 0xFE}
	for i := range len(s) {
		b = append(b, s[i], 0)
	}
	return b
}

// TestCheckCost: documents packed denser than any device writes are
// refused with ErrCostly, XML and binary; what devices write passes, and
// decoding whatever passes allocates less than the bound.
func TestCheckCost(t *testing.T) {
	apps := make([]any, 2000)
	for i := range apps {
		apps[i] = map[string]any{"Identifier": fmt.Sprintf("com.example.app%d", i), "Name": "App", "Version": "1.0", "Installing": false}
	}
	for _, tt := range []struct {
		name string
		in   []byte
		want error
	}{
		{"xml flat dictionaries", flatDicts(20000), ErrCostly},
		{"xml array of empty dictionaries", xmlDoc("<key>a</key><array>" + strings.Repeat("<dict/>", 20000) + "</array>"), ErrCostly},
		{"xml array of one-key dictionaries", xmlDoc("<key>a</key><array>" + strings.Repeat("<dict><key>a</key><true/></dict>", 20000) + "</array>"), ErrCostly},
		{"xml array of empty arrays", xmlDoc("<key>a</key><array>" + strings.Repeat("<array/>", 20000) + "</array>"), ErrCostly},
		{"xml packed booleans", xmlDoc("<key>a</key><array>" + strings.Repeat("<true/>", 20000) + "</array>"), ErrCostly},
		{"xml prefixed dictionaries", xmlDoc("<key>a</key><array>" + strings.Repeat("<x:dict/>", 20000) + "</array>"), ErrCostly},
		{"binary shared empty dictionary", sharedEmptyDicts(20000), ErrCostly},
		{"binary distinct empty dictionaries", distinctEmptyDicts(10000), ErrCostly},
		{"text empty dictionaries", []byte("{a=(" + strings.Repeat("{},", 20000) + ");}"), ErrCostly},
		{"text keyed dictionaries", textDicts(20000), ErrCostly},
		{"text after white space", []byte(" \n\t{a=(" + strings.Repeat("(),", 20000) + ");}"), ErrCostly},
		{"text in UTF-16", utf16LE("{a=(" + strings.Repeat("{},", 20000) + ");}"), ErrCostly},
		{"xml after text", []byte("{a=b;} " + string(flatDicts(20000))), ErrCostly},
		{"text strings", []byte("{a=(" + strings.Repeat("abcdef,", 20000) + ");}"), nil},
		{"xml with commas", xmlDoc("<key>a</key><string>" + strings.Repeat("1, ", 20000) + "</string>"), nil},
		{"xml application list", appList(2000), nil},
		{"xml identifiers only", identifiers(2000), nil},
		{"xml booleans", flags(20000), nil},
		{"xml long string", xmlDoc("<key>a</key><string>" + strings.Repeat("x", 1<<20) + "</string>"), nil},
		{"binary application list", marshal(t, map[string]any{"Status": "Acknowledged", "InstalledApplicationList": apps}), nil},
		{"binary shared strings", marshal(t, map[string]any{"Status": "Acknowledged", "InstalledApplicationList": apps[:500:500]}), nil},
		{"small check-in", xmlDoc("<key>MessageType</key><string>Idle</string>"), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.in)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check(%d bytes) = %v", len(tt.in), err)
				}
				if got, limit := decodeAlloc(t, tt.in), costLimit(len(tt.in)); got > limit {
					t.Fatalf("decoding %d bytes allocated %d, more than the bound %d", len(tt.in), got, limit)
				}
				return
			}
			var e *Error
			if !errors.Is(err, tt.want) || !errors.As(err, &e) {
				t.Fatalf("Check = %v, want *Error matching %v", err, tt.want)
			}
		})
	}
}

// decodeAlloc returns the bytes the plist package allocates decoding b
// into an any, the most general target.
func decodeAlloc(t testing.TB, b []byte) uint64 {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	var v any
	_, err := plist.Unmarshal(b, &v)
	runtime.ReadMemStats(&m1)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	runtime.KeepAlive(v)
	return m1.TotalAlloc - m0.TotalAlloc
}

// TestCheckXMLCostAllocatesLittle: the XML scan that refuses the attack
// allocates its error only, whatever the document's size. The bound leaves
// room for what the race detector and the runtime allocate meanwhile; the
// decoder would allocate hundreds of times the body.
func TestCheckXMLCostAllocatesLittle(t *testing.T) {
	body := flatDicts(20000)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	err := Check(body)
	runtime.ReadMemStats(&m1)
	if !errors.Is(err, ErrCostly) {
		t.Fatalf("Check = %v, want ErrCostly", err)
	}
	if n := m1.TotalAlloc - m0.TotalAlloc; n > 64<<10 {
		t.Fatalf("Check of %d bytes allocated %d bytes", len(body), n)
	}
}
