package cms

import (
	"bytes"
	"crypto"
	"encoding/asn1"
	"testing"
	"time"
)

// TestSignedAttrsDER checks the hand-assembled signed attributes against
// encoding/asn1, which sorts a SET OF as DER requires, for every digest
// size and both time encodings.
func TestSignedAttrsDER(t *testing.T) {
	type attr struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue `asn1:"set"`
	}
	var (
		oidCT = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
		oidMD = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
		oidST = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
		oidD  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	)
	mustRaw := func(v any, params string) asn1.RawValue {
		b, err := asn1.MarshalWithParams(v, params)
		if err != nil {
			t.Fatal(err)
		}
		return asn1.RawValue{FullBytes: b}
	}
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		d := h.New()
		d.Write([]byte("content"))
		digest := d.Sum(nil)
		for _, at := range []time.Time{
			time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC),
			time.Date(2049, 12, 31, 23, 59, 59, 0, time.FixedZone("X", -3600)), // 2050 in UTC
			time.Date(1949, 1, 1, 0, 0, 0, 0, time.UTC),
		} {
			timeParams := "utc"
			if y := at.UTC().Year(); y < 1950 || y >= 2050 {
				timeParams = "generalized"
			}
			want, err := asn1.Marshal(struct {
				A []attr `asn1:"set"`
			}{A: []attr{
				{oidMD, rawSet(mustRaw(digest, ""))},
				{oidST, rawSet(mustRaw(at.UTC(), timeParams))},
				{oidCT, rawSet(mustRaw(oidD, ""))},
			}})
			if err != nil {
				t.Fatal(err)
			}
			// want is SEQUENCE { SET { … } }; compare the inner SET.
			var outer asn1.RawValue
			if _, err := asn1.Unmarshal(want, &outer); err != nil {
				t.Fatal(err)
			}
			got, hdr := appendSignedAttrs(nil, digest, at)
			if !bytes.Equal(got, outer.Bytes) {
				t.Errorf("%v %v:\n got % x\nwant % x", h, at, got, outer.Bytes)
			}
			var set asn1.RawValue
			if _, err := asn1.Unmarshal(got, &set); err != nil || !bytes.Equal(got[hdr:], set.Bytes) {
				t.Errorf("%v %v: header length %d wrong (%v)", h, at, hdr, err)
			}
		}
	}
}

func rawSet(v asn1.RawValue) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: v.FullBytes}
}

// TestAssembleSize: the output is allocated once, at its exact size in
// DER, and with room for the end-of-contents octets in BER.
func TestAssembleSize(t *testing.T) {
	for _, o := range []Options{{}, {NoSignedAttributes: true}, {Indefinite: true}, {Indefinite: true, NoSignedAttributes: true}} {
		s := &Signer{opts: o, certs: make([]byte, 300), sid: make([]byte, 40), digestAlg: make([]byte, 13), sigAlg: make([]byte, 15)}
		attrs := make([]byte, 120)
		if o.NoSignedAttributes {
			attrs = nil
		}
		for _, content := range [][]byte{nil, make([]byte, 100), make([]byte, 70000)} {
			var out []byte
			allocs := testing.AllocsPerRun(3, func() { out = s.assemble(content, attrs, make([]byte, 256)) })
			if allocs != 1 || (!o.Indefinite && cap(out) != len(out)) {
				t.Errorf("%+v, %d bytes: %v allocations, length %d, capacity %d", o, len(content), allocs, len(out), cap(out))
			}
		}
	}
}
