package profile

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"howett.net/plist"
)

// TestXMLWriterMatchesLibrary checks the fast XML writer byte for byte
// against the plist library's encoder.
func TestXMLWriterMatchesLibrary(t *testing.T) {
	values := []any{
		map[string]any{},
		map[string]any{"a": []any{}, "b": map[string]any{}, "c": "", "d": []byte{}, "e": false},
		map[string]any{
			"esc":    `<&>"'` + "\t\n\r" + "é\x01\xff",
			"ints":   []any{0, -1, int64(math.MinInt64), uint64(math.MaxUint64), math.MaxInt},
			"reals":  []any{1.5, -0.0, math.Inf(1), math.Inf(-1), math.NaN(), 1e300},
			"date":   time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)),
			"data":   []byte{0, 1, 2, 3, 255},
			"nested": []any{[]any{[]any{"CN", "x"}}, map[string]any{"k": true}},
		},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		values = append(values, randomDict(rng, 3))
	}
	for i, v := range values {
		got, ok := appendXMLPlist(nil, v)
		if !ok {
			t.Fatalf("value %d: fast writer refused %#v", i, v)
		}
		want, err := plist.MarshalIndent(v, plist.XMLFormat, "\t")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("value %d differs:\n got %s\nwant %s", i, got, want)
		}
	}

	// Unhandled types make it refuse, and Marshal falls back.
	for _, v := range []any{map[string]any{"x": nil}, map[string]any{"x": []string{"a"}}, map[string]any{"x": int32(1)}} {
		if _, ok := appendXMLPlist(nil, v); ok {
			t.Errorf("fast writer accepted %#v", v)
		}
	}
	p := &Profile{PayloadIdentifier: "a", Extra: map[string]any{"List": []string{"x", "y"}}}
	got, err := Marshal(p)
	if err != nil || !bytes.Contains(got, []byte("<string>y</string>")) {
		t.Errorf("fallback Marshal = %s, %v", got, err)
	}
}

func randomDict(rng *rand.Rand, depth int) map[string]any {
	d := map[string]any{}
	for range rng.IntN(6) {
		d[randomString(rng)] = randomValue(rng, depth-1)
	}
	return d
}

func randomValue(rng *rand.Rand, depth int) any {
	n := 9
	if depth <= 0 {
		n = 7
	}
	switch rng.IntN(n) {
	case 0:
		return randomString(rng)
	case 1:
		return rng.IntN(2) == 0
	case 2:
		return int(rng.Int64()) - math.MaxInt/2
	case 3:
		return rng.Uint64()
	case 4:
		return rng.NormFloat64() * 1e6
	case 5:
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	case 6:
		return time.Unix(rng.Int64N(4e9), 0)
	case 7:
		a := []any{}
		for range rng.IntN(4) {
			a = append(a, randomValue(rng, depth-1))
		}
		return a
	default:
		return randomDict(rng, depth-1)
	}
}

func randomString(rng *rand.Rand) string {
	const alphabet = "abcXYZ09 .-_<>&\"'\t\n\ré€\x00\x7f"
	var b strings.Builder
	for range rng.IntN(12) {
		b.WriteByte(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

// TestMarshalMatchesLibrary compares Marshal's fast path with the plist
// library on profiles holding every payload type.
func TestMarshalMatchesLibrary(t *testing.T) {
	for _, name := range []string{"user-enrollment", "account-driven", "device-enrollment"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name+".mobileconfig"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := Unmarshal(raw)
		if err != nil {
			t.Fatal(err)
		}
		p.Extra = map[string]any{"ZExtra": []any{map[string]any{"k": uint64(1)}}}
		p.Payloads = append(p.Payloads, &Generic{PayloadType: "com.example.x", Content: map[string]any{"A": "b"}},
			&PKCS12{Content: []byte{1}, KeyIsExtractable: new(bool)}, &PEM{Certificate: Certificate{Content: []byte("x")}})
		d, err := p.toDict()
		if err != nil {
			t.Fatal(err)
		}
		want, err := plist.MarshalIndent(plain(d), plist.XMLFormat, "\t")
		if err != nil {
			t.Fatal(err)
		}
		got, err := Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Marshal differs from the plist library:\n got %s\nwant %s", name, got, want)
		}
	}
}
