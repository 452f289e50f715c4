package benchdata

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/memory"
)

// TestTokenUpdate drives the benchmark check-in against the memory stores:
// a first TokenUpdate moves the enrollment to Enrolled with one audit
// event, a later one only stores the new token, and a device the
// certificate does not belong to is refused.
func TestTokenUpdate(t *testing.T) {
	ctx := context.Background()
	es, ms := memory.NewEnrollStore(), memory.NewMDMStore()
	for i := range 3 {
		e, events, rec := Enrolled(i)
		if err := es.Create(ctx, e, events...); err != nil {
			t.Fatal(err)
		}
		if err := ms.PutEnrollment(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := NewService(es)
	if err != nil {
		t.Fatal(err)
	}
	now := Start.Add(time.Hour)
	audit := func(i int) int {
		t.Helper()
		a, err := es.Audit(ctx, ID(i))
		if err != nil {
			t.Fatal(err)
		}
		return len(a)
	}
	tests := []struct {
		name   string
		first  bool
		round  int
		audits int // events the TokenUpdate adds
	}{
		{name: "steady", round: 1},
		{name: "first", first: true, round: 2, audits: 1},
		{name: "steady again", round: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.first {
				if err := CheckedIn(ctx, es, 1, now); err != nil {
					t.Fatal(err)
				}
				if st, err := State(ctx, es, 1); err != nil || st != enroll.StateCheckedIn {
					t.Fatalf("after CheckedIn: %q, %v", st, err)
				}
			}
			before := audit(1)
			if err := TokenUpdate(ctx, ms, svc, 1, tt.round, now); err != nil {
				t.Fatal(err)
			}
			if st, err := State(ctx, es, 1); err != nil || st != enroll.StateEnrolled {
				t.Errorf("state %q, %v; want Enrolled", st, err)
			}
			if got := audit(1) - before; got != tt.audits {
				t.Errorf("%d audit events added, want %d", got, tt.audits)
			}
			rec, err := ms.Enrollment(ctx, DeviceID(1))
			if err != nil {
				t.Fatal(err)
			}
			want := Token(1)
			want[0] += byte(tt.round)
			if !bytes.Equal(rec.Token, want) || !rec.Enrolled || !rec.UpdatedAt.Equal(now) {
				t.Errorf("record token %x enrolled %v updated %v; want %x true %v", rec.Token, rec.Enrolled, rec.UpdatedAt, want, now)
			}
		})
	}
	t.Run("unknown device", func(t *testing.T) {
		if err := TokenUpdate(ctx, ms, svc, 7, 1, now); err == nil {
			t.Error("TokenUpdate of a device without a record succeeded")
		}
	})
	t.Run("hooks refuse", func(t *testing.T) {
		refuse := struct {
			mdm.PrecheckFunc
			mdm.ObserverFunc
		}{
			func(context.Context, *mdm.Request) error { return mdm.ErrForbidden },
			func(context.Context, *mdm.Event) error { return nil },
		}
		if err := TokenUpdate(ctx, ms, refuse, 2, 1, now); err == nil {
			t.Error("TokenUpdate refused by the Prechecker succeeded")
		}
		rec, err := ms.Enrollment(ctx, DeviceID(2))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rec.Token, Token(2)) {
			t.Error("a refused TokenUpdate changed the record")
		}
	})
}
