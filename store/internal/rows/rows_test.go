package rows

import (
	"bytes"
	"database/sql"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
)

func TestCompactHex(t *testing.T) {
	digest := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct {
		name    string
		in      string
		compact bool
	}{
		{"digest", digest, true},
		{"upper case", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", false},
		{"short", digest[:62], false},
		{"long", digest + "00", false},
		{"not hex", "g" + digest[1:], false},
		{"empty", "", false},
		{"free text", "cert-e1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := CompactHex(tt.in)
			b, isBlob := v.([]byte)
			if isBlob != tt.compact {
				t.Fatalf("CompactHex(%q) = %T, compact %v", tt.in, v, tt.compact)
			}
			if isBlob && len(b) != 32 {
				t.Fatalf("compact form has %d bytes", len(b))
			}
			var out string
			if err := (hexText{&out}).Scan(v); err != nil {
				t.Fatal(err)
			}
			if out != tt.in {
				t.Errorf("round trip %q -> %q", tt.in, out)
			}
		})
	}
	var s string
	if err := (hexText{&s}).Scan(nil); err != nil || s != "" {
		t.Errorf("Scan(nil) = %q, %v", s, err)
	}
	if err := (hexText{&s}).Scan(42); err == nil {
		t.Error("Scan(42) succeeded")
	}
	if !bytes.Equal(CompactHex(digest).([]byte)[:2], []byte{0xe3, 0xb0}) {
		t.Error("wrong bytes")
	}
}

// FuzzCompactHex checks that every string survives CompactHex and the scan
// that reads it back.
func FuzzCompactHex(f *testing.F) {
	f.Add("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	f.Add("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")
	f.Add("")
	f.Add("cert-e1")
	f.Fuzz(func(t *testing.T, s string) {
		v := CompactHex(s)
		if b, ok := v.([]byte); ok && len(b) != 32 {
			t.Fatalf("compact form of %q has %d bytes", s, len(b))
		}
		var out string
		if err := (hexText{&out}).Scan(v); err != nil {
			t.Fatal(err)
		}
		if out != s {
			t.Fatalf("round trip %q -> %q", s, out)
		}
	})
}

func TestTimes(t *testing.T) {
	if Micro(time.Time{}) != nil {
		t.Error("zero time is not NULL")
	}
	if got := Time(sql.NullInt64{}); !got.IsZero() {
		t.Errorf("NULL reads as %v", got)
	}
	ts := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("X", 3600))
	got := Time(sql.NullInt64{Int64: Micro(ts).(int64), Valid: true})
	if !got.Equal(ts.Truncate(time.Microsecond)) || got.Location() != time.UTC {
		t.Errorf("round trip %v -> %v", ts, got)
	}
	epoch := time.Unix(0, 0)
	if got := Time(sql.NullInt64{Int64: Micro(epoch).(int64), Valid: true}); !got.Equal(epoch) {
		t.Errorf("the epoch reads as %v", got)
	}
}

func TestResultRoundTrip(t *testing.T) {
	res := &mdm.CommandResult{
		Identifiers:  mdm.Identifiers{EnrollmentID: "UE-1", UserShortName: "alice"},
		Status:       mdm.StatusError,
		CommandUUID:  "c1",
		ErrorChain:   []mdm.ErrorChainItem{{ErrorCode: 12021, ErrorDomain: "MCMDMErrorDomain", LocalizedDescription: "nope"}},
		NotOnConsole: true,
		Raw:          []byte("<plist/>"),
		ReceivedAt:   time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC),
	}
	meta, err := ResultMeta(res)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Result(res.CommandUUID, string(res.Status), res.Raw, meta, sql.NullInt64{Int64: ResultTime(res), Valid: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, res) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, res)
	}
	if _, err := Result("c1", "Error", nil, []byte("{"), sql.NullInt64{}); err == nil {
		t.Error("a corrupt stored result decoded")
	}
}

func TestScanMDM(t *testing.T) {
	rec := &mdm.EnrollmentRecord{ID: "UE-1", Type: mdm.UserEnrollmentDevice, Certificate: mdm.Fingerprint{1, 2, 3},
		Topic: "com.apple.mgmt.External.x", Token: []byte{9, 8}, PushMagic: "pm", Enrolled: true,
		OSVersion: "15.1", Platform: mdm.PlatformMacOS,
		AuthenticatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)}
	values := MDMValues(rec)
	got, err := ScanMDM(func(dest ...any) error { return assign(dest, values) })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, rec)
	}
	values[3] = []byte{1, 2, 3} // a fingerprint of the wrong length
	if _, err := ScanMDM(func(dest ...any) error { return assign(dest, values) }); err == nil {
		t.Error("a short fingerprint was accepted")
	}
}

// assign stores values into dest as a database driver would.
func assign(dest, values []any) error {
	for i, d := range dest {
		v := values[i]
		switch p := d.(type) {
		case *string:
			*p = v.(string)
		case *int64:
			*p = v.(int64)
		case *bool:
			*p = v.(bool)
		case *[]byte:
			if v != nil {
				*p = v.([]byte)
			}
		case *sql.NullInt64:
			if v != nil {
				*p = sql.NullInt64{Int64: v.(int64), Valid: true}
			}
		default:
			return fmt.Errorf("unhandled %T", d)
		}
	}
	return nil
}
