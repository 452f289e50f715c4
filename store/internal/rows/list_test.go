package rows

import (
	"errors"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
)

func TestListQuery(t *testing.T) {
	dollar := func(n int) string { return "$" + strconv.Itoa(n) }
	at := time.UnixMicro(1_700_000_000_000_000)
	tests := []struct {
		name     string
		o        enroll.ListOptions
		where    string
		limitArg string
		wantArgs []any
	}{
		{"everything", enroll.ListOptions{}, "", "", nil},
		{"user and states", enroll.ListOptions{UserID: "u1", States: []enroll.State{enroll.StateInvited, enroll.StateEnrolled}},
			" WHERE user_id = $1 AND state IN ($2, $3)", "", []any{"u1", "invited", "enrolled"}},
		{"every filter and a limit", enroll.ListOptions{UserID: "u1", ManagedAppleID: "m@x", States: []enroll.State{enroll.StateInvited},
			ExpiresBefore: at, Limit: 5},
			" WHERE user_id = $1 AND managed_apple_id = $2 AND state IN ($3) AND expires_us IS NOT NULL AND expires_us <= $4",
			" LIMIT $5", []any{"u1", "m@x", "invited", at.UnixMicro(), 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, args := ListQuery(tt.o, dollar, "id")
			want := "SELECT " + EnrollSelect + " FROM enrollments" + tt.where + " ORDER BY created_us NULLS FIRST, id" + tt.limitArg
			if q != want {
				t.Errorf("query\n%s\nwant\n%s", q, want)
			}
			if !reflect.DeepEqual(args, tt.wantArgs) {
				t.Errorf("args %#v, want %#v", args, tt.wantArgs)
			}
		})
	}
}

// fakeRows returns the rows of scans, then err.
type fakeRows struct {
	scans []func(dest ...any) error
	err   error
}

func (r *fakeRows) Next() bool { return len(r.scans) > 0 }

func (r *fakeRows) Scan(dest ...any) error {
	s := r.scans[0]
	r.scans = r.scans[1:]
	return s(dest...)
}

func (r *fakeRows) Err() error { return r.err }

func TestCollectEnrollErrors(t *testing.T) {
	broken := errors.New("broken")
	if out, err := CollectEnroll(&fakeRows{err: broken}, false); !errors.Is(err, broken) || out != nil {
		t.Errorf("with a failing iteration: %v, %v; want the error", out, err)
	}
	failScan := func(...any) error { return broken }
	if out, err := CollectEnroll(&fakeRows{scans: []func(...any) error{failScan}}, false); !errors.Is(err, broken) || out != nil {
		t.Errorf("with a failing scan: %v, %v; want the error", out, err)
	}
	if out, err := CollectEnroll(&fakeRows{}, false); err != nil || out != nil {
		t.Errorf("with no rows: %v, %v; want nil, nil", out, err)
	}
}
