package benchdata

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// Checkin is the body of each durable store's BenchmarkCheckin: a device's
// requests against the Devices enrolled devices es and ms were seeded with,
// through the real hooks: an enroll.Service over es is the mdm Prechecker
// and Observer, and the ms calls are those package mdm makes.
//
//   - TokenUpdate-steady: a TokenUpdate from a device that is already
//     Enrolled (the mdm record is rewritten; enroll only reads). steady, if
//     not nil, is called at the end of this sub-benchmark to report metrics
//     of the store's own.
//   - TokenUpdate-first: the first TokenUpdate of a checked-in device, which
//     moves its enrollment to Enrolled with an audit event. Putting the
//     device back to CheckedIn is not timed.
//   - CommandFetch: a device fetching its next command (NextCommand leases
//     it); the acknowledgement that completes it is reported as ack-p50-µs.
func Checkin(b *testing.B, es enroll.Store, ms mdm.Store, steady func(*testing.B)) {
	b.Helper()
	svc, err := NewService(es)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("TokenUpdate-steady", func(b *testing.B) {
		benchTokenUpdate(b, es, ms, svc, false)
		if steady != nil {
			steady(b)
		}
	})
	b.Run("TokenUpdate-first", func(b *testing.B) { benchTokenUpdate(b, es, ms, svc, true) })
	b.Run("CommandFetch", func(b *testing.B) { benchCommandFetch(b, ms) })
}

// P50 reports the median of d in microseconds as the metric unit.
func P50(b *testing.B, d []time.Duration, unit string) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1e3, unit)
}

// benchTokenUpdate times TokenUpdate check-ins spread over the table; with
// first, each device is put back to CheckedIn (untimed) beforehand.
func benchTokenUpdate(b *testing.B, es enroll.Store, ms mdm.Store, h Hooks, first bool) {
	ctx := context.Background()
	var took []time.Duration
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n := (i * 7919) % Devices // spread over the table
		i++
		if first {
			b.StopTimer()
			if err := CheckedIn(ctx, es, n, time.Now()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		t0 := time.Now()
		if err := TokenUpdate(ctx, ms, h, n, i, t0); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	b.StopTimer()
	if st, err := State(ctx, es, (i-1)*7919%Devices); err != nil || st != enroll.StateEnrolled {
		b.Fatalf("after the TokenUpdate the enrollment is %q (%v), want %q", st, err, enroll.StateEnrolled)
	}
	P50(b, took, "p50-µs")
}

// fetchRuns counts the runs of benchCommandFetch.
var fetchRuns int

// benchCommandFetch queues a command for every device and times fetching
// and acknowledging it, spread over the table.
func benchCommandFetch(b *testing.B, ms mdm.Store) {
	ctx := context.Background()
	ids := make([]mdm.EnrollmentID, Devices)
	for i := range ids {
		ids[i] = DeviceID(i)
	}
	// -count runs this again on the same database: every run queues
	// commands of its own.
	fetchRuns++
	enqueue := func(round int) {
		cmd, err := mdm.NewCommand(fmt.Sprintf("bench-%d-%d", fetchRuns, round), map[string]any{"RequestType": "ProfileList"})
		if err != nil {
			b.Fatal(err)
		}
		if err := ms.Enqueue(ctx, cmd, ids); err != nil {
			b.Fatal(err)
		}
	}
	enqueue(0)
	// One result, filled in for each acknowledgement: through the mdm.Store
	// interface a fresh one would escape to the heap, an allocation the
	// benchmarks did not make when they called the concrete stores.
	res := &mdm.CommandResult{Status: mdm.StatusAcknowledged}
	var fetch, ack []time.Duration
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n := (i * 7919) % Devices
		if i > 0 && i%Devices == 0 {
			b.StopTimer()
			enqueue(i / Devices) // every device acknowledged its command
			b.StartTimer()
		}
		i++
		t0 := time.Now()
		c, err := ms.NextCommand(ctx, ids[n], t0, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		res.CommandUUID, res.Identifiers.EnrollmentID = c.UUID, string(ids[n])
		res.Raw = []byte("<plist><dict/></plist>")
		err = ms.PutResult(ctx, ids[n], res)
		if err != nil && !errors.Is(err, mdm.ErrNotFound) {
			b.Fatal(err)
		}
		fetch = append(fetch, t1.Sub(t0))
		ack = append(ack, time.Since(t1))
	}
	P50(b, fetch, "p50-µs")
	P50(b, ack, "ack-p50-µs")
}
