package enrolltest

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
)

// RaceWrongPasscodes calls submit(i) for i in [0, n) from n goroutines at
// once, each submitting a wrong passcode to one enrollment (through one
// Service or several sharing a store), and checks that the attempt limit
// held: exactly five submissions were counted, with 4, 3, 2, 1 and 0
// attempts left, and every other one was refused because the enrollment
// is locked. n must be more than five. It exists so that a host running
// several replicas can prove its Store keeps the count exact.
func RaceWrongPasscodes(t testing.TB, n int, submit func(i int) error) {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		left   []int
		locked int
	)
	for i := range n {
		wg.Go(func() {
			err := submit(i)
			mu.Lock()
			defer mu.Unlock()
			var pe *enroll.PasscodeError
			var te *enroll.TransitionError
			switch {
			case errors.As(err, &pe):
				left = append(left, pe.AttemptsLeft)
			case errors.As(err, &te) && te.From == enroll.StateLocked:
				locked++
			default:
				t.Errorf("unexpected outcome of a wrong passcode: %v", err)
			}
		})
	}
	wg.Wait()
	slices.Sort(left)
	if !slices.Equal(left, []int{0, 1, 2, 3, 4}) || locked != n-5 {
		t.Fatalf("counted failures %v and %d locked refusals; want [0 1 2 3 4] and %d", left, locked, n-5)
	}
}
