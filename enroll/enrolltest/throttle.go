package enrolltest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
)

// testFailures checks the enroll.FailureStore contract of a Store that
// keeps the sign-in throttle's counts; a Store that does not is skipped
// (the Service then counts in memory).
func testFailures(t *testing.T, s enroll.Store) {
	fs, ok := s.(enroll.FailureStore)
	if !ok {
		t.Skip("the Store is no enroll.FailureStore")
	}
	ctx := context.Background()
	const window = time.Hour
	add := func(key string, at time.Time) enroll.Failures {
		t.Helper()
		prev, err := fs.AddFailure(ctx, key, at, window)
		if err != nil {
			t.Fatalf("AddFailure(%s): %v", key, err)
		}
		return normFailures(prev)
	}
	get := func(key string) enroll.Failures {
		t.Helper()
		f, err := fs.Failures(ctx, key)
		if err != nil {
			t.Fatalf("Failures(%s): %v", key, err)
		}
		return normFailures(f)
	}
	want := func(what string, got enroll.Failures, count int, last time.Time) {
		t.Helper()
		if w := normFailures(enroll.Failures{Count: count, Last: last}); got != w {
			t.Fatalf("%s: %+v, want %+v", what, got, w)
		}
	}

	key := "enrollment:0123456789abcdef0123456789abcdef"
	other := "address:2001:db8:1:2::/64"
	want("unknown key", get(key), 0, time.Time{})

	// Each AddFailure reports the count before it; times keep
	// microseconds.
	t1, t2, t3 := base, base.Add(time.Minute), base.Add(2*time.Minute)
	want("first AddFailure", add(key, t1), 0, time.Time{})
	want("second AddFailure", add(key, t2), 1, t1)
	want("third AddFailure", add(key, t3), 2, t2)
	want("Failures after three", get(key), 3, t3)
	want("another key", get(other), 0, time.Time{})

	// Last never moves back (a replica with a slower clock).
	want("AddFailure with an older time", add(key, t1), 3, t3)
	want("Failures after the older time", get(key), 4, t3)

	// A failure after the window starts the count again.
	late := t3.Add(window + time.Second)
	want("AddFailure after the window", add(key, late), 0, time.Time{})
	want("Failures after the window", get(key), 1, late)

	// Reset forgets one key only; resetting an unknown key is no error.
	add(other, late)
	if err := fs.ResetFailures(ctx, key); err != nil {
		t.Fatalf("ResetFailures: %v", err)
	}
	if err := fs.ResetFailures(ctx, "enrollment:unknown"); err != nil {
		t.Fatalf("ResetFailures(unknown): %v", err)
	}
	want("after ResetFailures", get(key), 0, time.Time{})
	want("other key after ResetFailures", get(other), 1, late)
	want("AddFailure after ResetFailures", add(key, late), 0, time.Time{})

	// Prune forgets the keys whose latest failure is older.
	old := "address:192.0.2.7"
	add(old, base)
	if err := fs.PruneFailures(ctx, late); err != nil {
		t.Fatalf("PruneFailures: %v", err)
	}
	want("pruned key", get(old), 0, time.Time{})
	want("kept key", get(key), 1, late)

	// Racing AddFailures, also through several handles, count exactly:
	// n calls make the count n, and each saw a different count before
	// its own.
	const n = 40
	race := "enrollment:race"
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen []int
	)
	for i := range n {
		wg.Go(func() {
			prev, err := fs.AddFailure(ctx, race, base.Add(time.Duration(i)*time.Millisecond), window)
			if err != nil {
				t.Errorf("racing AddFailure: %v", err)
				return
			}
			mu.Lock()
			seen = append(seen, prev.Count)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(seen)
	for i, c := range seen {
		if c != i {
			t.Fatalf("racing AddFailures saw counts %v before their own; want 0 … %d once each", seen, n-1)
		}
	}
	if got := get(race); got.Count != n {
		t.Fatalf("after %d racing AddFailures the count is %d", n, got.Count)
	}
}

// normFailures truncates f's time to microseconds in UTC.
func normFailures(f enroll.Failures) enroll.Failures {
	f.Last = normTime(f.Last)
	return f
}

// RaceWrongPasswords calls signIn(i) for i in [0, n) from n goroutines at
// once, each signing in to one enrollment with a wrong password (through
// one Service or several sharing a store, all with the default
// enroll.ThrottleConfig and a clock that does not move), and checks that
// the throttle held: exactly enroll.DefaultInvitationFailures attempts had
// their credentials checked (and refused), every other one was refused as
// throttled. n must be more than that. It exists so that a host running
// several replicas can prove its store keeps the count exact.
func RaceWrongPasswords(t testing.TB, n int, signIn func(i int) error) {
	t.Helper()
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		checked   int
		throttled int
	)
	for i := range n {
		wg.Go(func() {
			err := signIn(i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, enroll.ErrThrottled):
				throttled++
			case errors.Is(err, enroll.ErrBadCredentials):
				checked++
			default:
				t.Errorf("unexpected outcome of a wrong password: %v", err)
			}
		})
	}
	wg.Wait()
	if want := enroll.DefaultInvitationFailures; checked != want || throttled != n-want {
		t.Fatalf("%d wrong passwords checked and %d throttled; want %d and %d", checked, throttled, want, n-want)
	}
}
