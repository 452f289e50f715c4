package passcode_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/enrollkit/enrollkit/passcode"
)

func ExampleGenerator_Generate() {
	g := passcode.Generator{Length: 8, Alphabet: passcode.Unambiguous}
	code, err := g.Generate()
	if err != nil {
		panic(err)
	}
	fmt.Println(len(code), strings.Trim(code, passcode.Unambiguous) == "")
	// Output: 8 true
}

func ExampleNormalize() {
	fmt.Println(passcode.Normalize(" 1234-5678 "))
	fmt.Println(passcode.Normalize("k7mq 2x9p"))
	fmt.Println(passcode.Normalize("１２３４５６７８"))
	// Output:
	// 12345678
	// K7MQ2X9P
	// 12345678
}

func ExampleFormat() {
	fmt.Println(passcode.Format("48152342"))
	// Output: 4815-2342
}

func ExampleHash() {
	hash, err := passcode.Hash("4815-2342", passcode.Params{}) // default parameters
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$"))
	fmt.Println(passcode.Verify(hash, "4815 2342"))
	fmt.Println(passcode.Verify(hash, "4815 2343"))
	// Output:
	// true
	// <nil>
	// passcode: passcode does not match
}

func ExampleParsePHC() {
	h, err := passcode.ParsePHC("$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", h.Params())
	rehash, _ := passcode.NeedsRehash(h.String(), passcode.DefaultParams())
	fmt.Println("needs rehash:", rehash)

	_, err = passcode.ParsePHC("$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG")
	fmt.Println(errors.Is(err, passcode.ErrMalformedHash), err)
	// Output:
	// {Memory:65536 Iterations:2 Parallelism:4 SaltLength:8 KeyLength:32}
	// needs rehash: true
	// true passcode: malformed hash: algorithm is not argon2id
}

func ExamplePolicy_Check() {
	var policy passcode.Policy // 8 digits, valid 72 hours, locked after 5 wrong attempts
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

	code, st, err := policy.Issue(now)
	if err != nil {
		panic(err)
	}
	// Send passcode.Format(code) to the employee; persist st.

	st, err = policy.Check(st, "0000 0000x", now.Add(time.Minute))
	var mismatch *passcode.MismatchError
	if errors.As(err, &mismatch) {
		fmt.Println("wrong passcode,", mismatch.Remaining, "attempts left")
	}

	typed := strings.ReplaceAll(passcode.Format(code), "-", " ")
	st, err = policy.Check(st, typed, now.Add(2*time.Minute))
	fmt.Println("accepted:", err == nil, st)

	_, err = policy.Check(st, code, now.Add(3*time.Minute))
	fmt.Println(errors.Is(err, passcode.ErrUsed))

	_, err = policy.Check(passcode.State{Hash: st.Hash, ExpiresAt: now}, code, now.Add(time.Hour))
	fmt.Println(errors.Is(err, passcode.ErrExpired))
	// Output:
	// wrong passcode, 4 attempts left
	// accepted: true passcode(used, failed attempts: 1, expires: 2026-03-04T09:00:00Z)
	// true
	// true
}

// record is what a store keeps: the passcode state and a version that every
// write increments.
type record struct {
	st      passcode.State
	version int
}

// versionedStore is a stand-in for a database table with an optimistic
// version column (UPDATE … SET state = $1, version = version + 1 WHERE id = $2
// AND version = $3).
type versionedStore struct {
	mu  sync.Mutex
	rec record
}

func (s *versionedStore) load() record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec
}

func (s *versionedStore) compareAndSwap(version int, st passcode.State) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rec.version != version {
		return false
	}
	s.rec = record{st: st, version: version + 1}
	return true
}

// check applies Policy.Check atomically: it persists the outcome only if no
// one else wrote in between, and otherwise decides again on the fresh state.
func (s *versionedStore) check(p passcode.Policy, input string, now time.Time) error {
	for {
		rec := s.load()
		next, outcome := p.Check(rec.st, input, now)
		if next == rec.st || s.compareAndSwap(rec.version, next) {
			return outcome
		}
	}
}

// Example_atomicStore shows how a store applies a check so that replicas
// racing on one passcode cannot both accept it or get more than the allowed
// number of guesses.
func Example_atomicStore() {
	policy := passcode.Policy{Params: passcode.Params{Memory: 64, Iterations: 1}} // cheap, for the example
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	code, st, _ := policy.Issue(now)
	s := &versionedStore{rec: record{st: st}}

	var wg sync.WaitGroup
	results := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			input := "not the code"
			if i%2 == 0 {
				input = code
			}
			results <- s.check(policy, input, now)
		})
	}
	wg.Wait()
	close(results)
	accepted := 0
	for err := range results {
		if err == nil {
			accepted++
		}
	}
	final := s.load().st
	fmt.Println("accepted:", accepted, "used:", final.Used, "attempts within limit:", final.Attempts <= passcode.DefaultMaxAttempts)
	// Output: accepted: 1 used: true attempts within limit: true
}
