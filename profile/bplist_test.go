package profile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/internal/plistcheck"
)

// checkPlist runs the check decodePlist runs.
func checkPlist(data []byte) error { return plistcheck.CheckValues(data, maxPlistNodes) }

// bplistOf assembles a binary property list from encoded objects (with
// one-byte object references) and the index of the top object.
func bplistOf(objects [][]byte, top int) []byte { return bplistRefs(objects, top, 1) }

func bplistRefs(objects [][]byte, top, refSize int) []byte {
	out := []byte("bplist00")
	var offsets []int
	for _, o := range objects {
		offsets = append(offsets, len(out))
		out = append(out, o...)
	}
	table := len(out)
	for _, o := range offsets {
		out = binary.BigEndian.AppendUint32(out, uint32(o))
	}
	trailer := make([]byte, 32)
	trailer[6], trailer[7] = 4, byte(refSize)
	binary.BigEndian.PutUint64(trailer[8:], uint64(len(objects)))
	binary.BigEndian.PutUint64(trailer[16:], uint64(top))
	binary.BigEndian.PutUint64(trailer[24:], uint64(table))
	return append(out, trailer...)
}

// arrayOf encodes an array of n references to object ref.
func arrayOf(n int, ref byte) []byte {
	o := []byte{0xaf, 0x11, byte(n >> 8), byte(n)}
	return append(o, bytes.Repeat([]byte{ref}, n)...)
}

func TestCheckBplist(t *testing.T) {
	// Four levels of 200 references to the next level: 1.6 billion values
	// from about a kilobyte.
	bomb := bplistOf([][]byte{arrayOf(200, 1), arrayOf(200, 2), arrayOf(200, 3), arrayOf(200, 4), {0x51, 'x'}}, 0)
	if _, err := Unmarshal(bomb); !errors.Is(err, ErrNotProfile) || !errors.Is(err, plistcheck.ErrExpands) {
		t.Fatalf("bomb: error = %v", err)
	}

	loop := bplistOf([][]byte{arrayOf(1, 1), arrayOf(1, 0)}, 0)
	if _, err := Unmarshal(loop); !errors.Is(err, ErrNotProfile) {
		t.Errorf("loop: error = %v", err)
	}

	// Sharing within the limit is fine: a dictionary whose keys and
	// values repeat one string.
	shared := bplistOf([][]byte{{0xd1, 1, 2}, {0x5b, 'P', 'a', 'y', 'l', 'o', 'a', 'd', 'T', 'y', 'p', 'e'}, {0x5d, 'C', 'o', 'n', 'f', 'i', 'g', 'u', 'r', 'a', 't', 'i', 'o', 'n'}}, 0)
	if err := checkPlist(shared); err != nil {
		t.Fatalf("shared: %v", err)
	}
	if _, err := Unmarshal(shared); err != nil {
		t.Errorf("shared: %v", err)
	}

	// Every golden profile passes in binary form.
	p, err := Unmarshal(mustRead(t, "testdata/device-enrollment.mobileconfig"))
	if err != nil {
		t.Fatal(err)
	}
	bin, _ := marshalFormat(p, Binary)
	if err := checkPlist(bin); err != nil {
		t.Errorf("golden profile: %v", err)
	}

	bad := map[string][]byte{
		"short":            []byte("bplist00"),
		"top out of range": bplistOf([][]byte{{0x51, 'x'}}, 3),
		"ref out of range": bplistOf([][]byte{arrayOf(1, 9)}, 0),
		"count too large":  bplistOf([][]byte{{0xaf, 0x11, 0xff, 0xff, 0}}, 0),
		"bad count marker": bplistOf([][]byte{{0xaf, 0x51, 0, 0}}, 0),
		"deep":             deepBplist(plistcheck.MaxDepth + 10),
	}
	for name, in := range bad {
		if err := checkPlist(in); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// deepBplist nests depth one-element arrays (two-byte references).
func deepBplist(depth int) []byte {
	var objs [][]byte
	for i := 0; i < depth; i++ {
		objs = append(objs, []byte{0xa1, byte((i + 1) >> 8), byte(i + 1)})
	}
	objs = append(objs, []byte{0x51, 'x'})
	return bplistRefs(objs, 0, 2)
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckXMLDepth(t *testing.T) {
	nest := func(n int) []byte {
		return []byte(`<?xml version="1.0"?><!-- <a><b> --><plist version="1.0">` +
			strings.Repeat("<array>", n) + `<string><![CDATA[<<<<]]></string><true/>` +
			strings.Repeat("</array>", n) + `</plist>`)
	}
	if err := checkPlist(nest(plistcheck.MaxDepth - 2)); err != nil {
		t.Errorf("allowed depth: %v", err)
	}
	if _, err := Unmarshal(nest(plistcheck.MaxDepth + 1)); !errors.Is(err, ErrNotProfile) {
		t.Errorf("too deep: error = %v", err)
	}
	for _, golden := range []string{"user-enrollment", "account-driven", "device-enrollment"} {
		if err := checkPlist(mustRead(t, "testdata/"+golden+".mobileconfig")); err != nil {
			t.Errorf("%s: %v", golden, err)
		}
	}
	// Unterminated constructs are left to the decoder.
	for _, in := range []string{"<!-- x", "<![CDATA[ x", "<dict", "<", "<>"} {
		if err := checkPlist([]byte(in)); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// TestValueCap: a long binary profile may not expand past maxPlistNodes
// values even when it has more bytes than values, which plistcheck.Check
// alone would allow.
func TestValueCap(t *testing.T) {
	capped := func(n int) []byte {
		// One array of n three-byte references to one string.
		arr := []byte{0xaf, 0x12, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
		arr = append(arr, bytes.Repeat([]byte{0, 0, 1}, n)...)
		return bplistRefs([][]byte{arr, {0x51, 'x'}}, 0, 3)
	}
	under, over := capped(maxPlistNodes-1), capped(maxPlistNodes)
	if err := plistcheck.Check(over); err != nil {
		t.Fatalf("plistcheck.Check refused %d values from %d bytes: %v", maxPlistNodes+1, len(over), err)
	}
	if err := checkPlist(over); !errors.Is(err, plistcheck.ErrExpands) {
		t.Errorf("over the cap: error = %v, want ErrExpands", err)
	}
	if _, err := Unmarshal(over); !errors.Is(err, ErrNotProfile) || !errors.Is(err, plistcheck.ErrExpands) {
		t.Errorf("Unmarshal over the cap: error = %v", err)
	}
	if err := checkPlist(under); err != nil {
		t.Errorf("at the cap: %v", err)
	}
}

// TestBinaryCostBound: a binary list that stays within the value bounds
// but would cost the decoder far more memory than its size (an array of
// references to one empty dictionary: a Go map at every reference) is
// refused before it is decoded.
func TestBinaryCostBound(t *testing.T) {
	n := 30000
	arr := []byte{0xaf, 0x11, byte(n >> 8), byte(n)}
	arr = append(arr, bytes.Repeat([]byte{0, 1}, n)...)
	in := bplistRefs([][]byte{arr, {0xd0}}, 0, 2)
	if _, err := Unmarshal(in); !errors.Is(err, ErrNotProfile) || !errors.Is(err, plistcheck.ErrCostly) {
		t.Fatalf("error = %v, want ErrNotProfile and plistcheck.ErrCostly", err)
	}
}
