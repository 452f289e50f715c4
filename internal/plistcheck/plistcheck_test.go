package plistcheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"

	"howett.net/plist"
)

// doc assembles a binary property list from encoded objects (references
// one byte wide), with top as the root.
func doc(top int, objs ...[]byte) []byte { return docRef(1, top, objs...) }

// docRef is doc with references refSize bytes wide.
func docRef(refSize byte, top int, objs ...[]byte) []byte {
	b := []byte("bplist00")
	var offs []byte
	for _, o := range objs {
		offs = append(offs, byte(len(b)>>8), byte(len(b)))
		b = append(b, o...)
	}
	tableOff := len(b)
	b = append(b, offs...)
	var t [trailerLen]byte
	t[6], t[7] = 2, refSize
	binary.BigEndian.PutUint64(t[8:], uint64(len(objs)))
	binary.BigEndian.PutUint64(t[16:], uint64(top))
	binary.BigEndian.PutUint64(t[24:], uint64(tableOff))
	return append(b, t[:]...)
}

// doubling nests n arrays, each holding two references to the next, over
// one string: 2^n strings once decoded.
func doubling(n int) []byte {
	objs := [][]byte{{0x51, 'x'}}
	for i := 1; i <= n; i++ {
		objs = append(objs, []byte{0xA2, byte(i - 1), byte(i - 1)})
	}
	return doc(n, objs...)
}

// nested nests n arrays of one element each over a string.
func nested(n int) []byte {
	objs := [][]byte{{0x51, 'x'}}
	for i := 1; i <= n; i++ {
		objs = append(objs, []byte{0xA1, byte((i - 1) >> 8), byte(i - 1)})
	}
	return docRef(2, n, objs...)
}

// xmlNested is a plist element around n nested arrays around a true
// element: n+2 levels of elements.
func xmlNested(n int) []byte {
	return []byte("<plist>" + strings.Repeat("<array>", n) + "<true/>" + strings.Repeat("</array>", n) + "</plist>")
}

// doublingDicts nests n dictionaries, each with two keys naming the next.
func doublingDicts(n int) []byte {
	objs := [][]byte{{0x51, 'k'}, {0x51, 'l'}, {0xD0}}
	for i := 3; i < n+3; i++ {
		objs = append(objs, []byte{0xD2, 0, 1, byte(i - 1), byte(i - 1)})
	}
	return doc(n+2, objs...)
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := plist.Marshal(v, plist.BinaryFormat)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tokenUpdate is a TokenUpdate check-in in binary form, shaped as a device
// sends it.
func tokenUpdate(t testing.TB) []byte {
	return marshal(t, map[string]any{
		"MessageType": "TokenUpdate", "EnrollmentID": "8C3E1F2A-6B4D-4E7F-9A1B-2C3D4E5F6A7B",
		"Topic": "com.apple.mgmt.External.1d2c", "PushMagic": "0F1E2D3C", "Token": []byte{1, 2, 3},
		"AwaitingConfiguration": false,
	})
}

func TestCheckAccepts(t *testing.T) {
	apps := make([]any, 500)
	for i := range apps {
		apps[i] = map[string]any{"Identifier": "com.example.app", "Name": "App", "Version": "1.0", "Installing": false}
	}
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"xml", []byte(`<plist><dict/></plist>`)},
		{"xml nested to the limit", xmlNested(MaxDepth - 2)},
		// The cost scan counts the tags inside the comment and the CDATA
		// section too; the text pays for them.
		{"xml with deep comment and cdata", []byte("<plist><!-- " + strings.Repeat("<a>", 300) + " --><string><![CDATA[" + strings.Repeat("<a>", 300) + strings.Repeat("x", 5000) + "]]></string></plist>")},
		{"xml with doctype", []byte(`<?xml version="1.0"?>` + "\n" + `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + string(xmlNested(200)))},
		{"xml unterminated", []byte("<plist><array")},
		{"xml empty tag", []byte("<><>")},
		{"not a plist", []byte("hello")},
		{"token update", tokenUpdate(t)},
		{"application list with shared strings", marshal(t, map[string]any{"Status": "Acknowledged", "InstalledApplicationList": apps})},
		{"empty dictionary", marshal(t, map[string]any{})},
		{"shared scalars", doc(1, []byte{0x51, 'x'}, []byte{0xA4, 0, 0, 0, 0})},
		{"nested to the limit", nested(MaxDepth)},
		{"long count", doc(1, []byte{0x51, 'x'}, []byte{0xAF, 0x10, 3, 0, 0, 0})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := Check(tt.in); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCheckRefuses(t *testing.T) {
	valid := tokenUpdate(t)
	setTrailer := func(i int, v byte) []byte {
		b := bytes.Clone(valid)
		b[len(b)-trailerLen+i] = v
		return b
	}
	for _, tt := range []struct {
		name string
		in   []byte
		want error
	}{
		{"doubling arrays", doubling(26), ErrExpands},
		{"doubling just past its size", doubling(7), ErrExpands},
		{"doubling dictionaries", doublingDicts(20), ErrExpands},
		{"cycle", doc(0, []byte{0xA1, 0}), ErrCycle},
		{"indirect cycle", doc(0, []byte{0xA1, 1}, []byte{0xD1, 2, 0}, []byte{0x51, 'k'}), ErrCycle},
		{"too deep", nested(MaxDepth + 1), ErrTooDeep},
		{"xml too deep", xmlNested(MaxDepth), ErrTooDeep},
		{"xml megabyte of arrays", []byte(strings.Repeat("<array>", 1<<17)), ErrCostly},
		{"xml too deep but affordable", []byte(strings.Repeat("<array>", 1000) + strings.Repeat("x", 20000)), ErrTooDeep},
		{"xml quoted self-closing", []byte("<plist>" + strings.Repeat(`<array a="/>">`, 300) + strings.Repeat("</array>", 300) + "</plist>"), ErrTooDeep},
		{"xml end tags in a processing instruction", []byte("<plist>" + strings.Repeat(`<array><?pi > </array> ?>`, 300) + strings.Repeat("</array>", 300) + "</plist>"), ErrTooDeep},
		{"xml end tags in a doctype", []byte(`<!DOCTYPE plist [ <!ENTITY e "` + strings.Repeat("></x>", 300) + `"> ]><plist>` + strings.Repeat("<array>", 300) + strings.Repeat("</array>", 300) + "</plist>"), ErrTooDeep},
		{"header only", []byte("bplist00"), ErrMalformed},
		{"no objects", setTrailer(15, 0), ErrMalformed},
		{"reference size zero", setTrailer(7, 0), ErrMalformed},
		{"offset size nine", setTrailer(6, 9), ErrMalformed},
		{"top past the objects", setTrailer(23, 200), ErrMalformed},
		{"table past the end", setTrailer(31, 0xff), ErrMalformed},
		{"reference past the objects", doc(0, []byte{0xA1, 7}), ErrMalformed},
		{"count past the end", doc(0, []byte{0xAE}), ErrMalformed},
		{"count not an integer", doc(0, []byte{0xAF, 0x51, 1}), ErrMalformed},
		{"count too wide", doc(0, []byte{0xAF, 0x14, 1}), ErrMalformed},
		{"huge count", doc(0, []byte{0xAF, 0x13, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), ErrMalformed},
		{"offset into the header", doc(0, []byte{0x51, 'x'})[:0:0], ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if len(in) == 0 {
				in = doc(0, []byte{0x51, 'x'})
				in[len(in)-trailerLen-1] = 3 // the one offset points into the header
			}
			err := Check(in)
			var e *Error
			if !errors.Is(err, tt.want) || !errors.As(err, &e) {
				t.Fatalf("Check = %v, want *Error matching %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "plistcheck: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestDoublingDecodes shows what Check prevents: the plist package expands
// the shared arrays, 2^n values from 3n+ bytes.
func TestDoublingDecodes(t *testing.T) {
	var v any
	if _, err := plist.Unmarshal(doubling(10), &v); err != nil {
		t.Fatal(err)
	}
	if n := count(v); n != 2047 {
		t.Fatalf("decoded %d values, want 2047", n)
	}
}

// count returns the number of values in a decoded property list, as Check
// counts them: one per container, key and element.
func count(v any) uint64 {
	switch v := v.(type) {
	case []any:
		n := uint64(1)
		for _, e := range v {
			n += count(e)
		}
		return n
	case map[string]any:
		n := uint64(1)
		for _, e := range v {
			n += 1 + count(e)
		}
		return n
	}
	return 1
}

// depth returns how deeply a decoded value nests containers.
func depth(v any) int {
	d := 0
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			d = max(d, depth(e))
		}
	case map[string]any:
		for _, e := range v {
			d = max(d, depth(e))
		}
	default:
		return 0
	}
	return d + 1
}

// FuzzCheck: Check never panics, and whatever it accepts the plist package
// decodes into no more values than the document has bytes, nested no
// deeper than MaxDepth, allocating no more than the cost bound.
func FuzzCheck(f *testing.F) {
	f.Add(tokenUpdate(f))
	f.Add(doubling(8))
	f.Add(nested(4))
	f.Add(doublingDicts(3))
	f.Add(xmlNested(3))
	f.Add([]byte(`<?xml version="1.0"?><!-- c --><plist><dict><key>a</key><array><data>AQ==</data><![CDATA[x]]></array></dict></plist>`))
	f.Add(marshal(f, map[string]any{"a": []any{1, 2.5, true, []byte("x"), map[string]any{"b": "c"}}}))
	f.Add(flatDicts(40))
	f.Add(xmlDoc("<key>a</key><array>" + strings.Repeat("<dict><key>a</key><true/></dict>", 40) + "</array>"))
	f.Add(xmlDoc("<key>a</key><array><x:dict/><integer>-7</integer><real>1.5</real><date>2024-01-02T03:04:05Z</date></array>"))
	f.Add(identifiers(3))
	f.Add(sharedEmptyDicts(40))
	f.Add(distinctEmptyDicts(40))
	f.Add([]byte("{a=({},(),\"x\",<0fab>);b=c;}"))
	f.Add(textDicts(20))
	f.Add(utf16LE("{a=({},());}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if Check(b) != nil {
			return
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		var v any
		_, err := plist.Unmarshal(b, &v)
		runtime.ReadMemStats(&m1)
		if n := m1.TotalAlloc - m0.TotalAlloc; n > costLimit(len(b)) {
			t.Fatalf("accepted %d bytes that allocate %d to decode, over %d", len(b), n, costLimit(len(b)))
		}
		if err != nil {
			return
		}
		// Only a binary document can share objects; any document
		// decodes into at least one value, however short.
		if n := count(v); IsBinary(b) && n > uint64(len(b)) {
			t.Fatalf("accepted %d bytes that decode into %d values", len(b), n)
		}
		if d := depth(v); d > MaxDepth {
			t.Fatalf("accepted %d bytes that nest %d levels", len(b), d)
		}
	})
}

// BenchmarkCheck measures Check on an InstalledApplicationList result of
// 2000 applications, binary and XML, next to decoding the same body.
func BenchmarkCheck(b *testing.B) {
	apps := make([]any, 2000)
	for i := range apps {
		apps[i] = map[string]any{"Identifier": "com.example.app", "Name": "App", "Version": "1.0", "Installing": false}
	}
	v := map[string]any{"Status": "Acknowledged", "EnrollmentID": "E", "CommandUUID": "C", "InstalledApplicationList": apps}
	for _, format := range []int{plist.BinaryFormat, plist.XMLFormat} {
		body, err := plist.Marshal(v, format)
		if err != nil {
			b.Fatal(err)
		}
		name := plist.FormatNames[format]
		b.Run(name+"/Check", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Check(body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/Decode", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var out any
				if _, err := plist.Unmarshal(body, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestCheckValues(t *testing.T) {
	// doubling(n) decodes into some 2^n values from three bytes a level;
	// a marshalled map is a tree.
	tree := marshal(t, map[string]any{"a": []any{"x", "y", "z"}, "b": map[string]any{"c": true}})
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"tree under the bound", tree, 100, nil},
		{"tree over the bound", tree, 5, ErrExpands},
		{"negative bound", tree, -1, ErrExpands},
		{"sharing within both bounds", doubling(3), 1000, nil},
		{"sharing over the length", doubling(20), 1 << 30, ErrExpands},
		{"XML is checked as by Check", xmlNested(MaxDepth + 1), 1 << 30, ErrTooDeep},
		{"XML has no value bound", xmlNested(10), 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckValues(tt.in, tt.max); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CheckValues = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestUnmarshal(t *testing.T) {
	body := marshal(t, map[string]any{"MessageType": "CheckOut"})
	var v map[string]any
	if f, err := Unmarshal(body, &v); err != nil || f != plist.BinaryFormat || v["MessageType"] != "CheckOut" {
		t.Fatalf("Unmarshal = %v, %v, %v", f, v, err)
	}
	v = nil
	if _, err := Unmarshal(doubling(20), &v); !errors.Is(err, ErrExpands) || v != nil {
		t.Fatalf("doubling: %v, decoded %v", err, v)
	}
	if _, err := UnmarshalValues(body, &v, 1); !errors.Is(err, ErrExpands) {
		t.Fatalf("UnmarshalValues over the bound: %v", err)
	}
	var pe *Error
	if _, err := Unmarshal([]byte("<plist><string>x</string></plist>"), &v); err == nil || errors.As(err, &pe) {
		t.Fatalf("a string into a map: %v, want the decoder's error", err)
	}
}
