package profile

import (
	"bytes"
	"crypto/sha256"
	"encoding/asn1"
	"testing"
	"time"
)

// TestSignedAttrsDER checks the hand-assembled signed attributes against
// encoding/asn1, which sorts a SET OF as DER requires.
func TestSignedAttrsDER(t *testing.T) {
	type attr struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue `asn1:"set"`
	}
	digest := sha256.Sum256([]byte("content"))
	for _, at := range []time.Time{
		time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC),
		time.Date(2049, 12, 31, 23, 59, 59, 0, time.FixedZone("X", -3600)), // 2050 in UTC
		time.Date(1949, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		mustRaw := func(v any, params string) asn1.RawValue {
			b, err := asn1.MarshalWithParams(v, params)
			if err != nil {
				t.Fatal(err)
			}
			return asn1.RawValue{FullBytes: b}
		}
		timeParams := "utc"
		if y := at.UTC().Year(); y < 1950 || y >= 2050 {
			timeParams = "generalized"
		}
		want, err := asn1.Marshal(struct {
			A []attr `asn1:"set"`
		}{A: []attr{
			{oidMessageDigest, rawSet(t, mustRaw(digest[:], ""))},
			{oidSigningTime, rawSet(t, mustRaw(at.UTC(), timeParams))},
			{oidContentType, rawSet(t, mustRaw(oidData, ""))},
		}})
		if err != nil {
			t.Fatal(err)
		}
		// want is SEQUENCE { SET { … } }; compare the inner SET.
		var outer asn1.RawValue
		if _, err := asn1.Unmarshal(want, &outer); err != nil {
			t.Fatal(err)
		}
		got := appendSignedAttrs(nil, digest[:], at)
		if !bytes.Equal(got, outer.Bytes) {
			t.Errorf("%v:\n got % x\nwant % x", at, got, outer.Bytes)
		}
	}
}

func rawSet(t *testing.T, v asn1.RawValue) asn1.RawValue {
	t.Helper()
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: v.FullBytes}
}
