package passcode

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func cheapHash(t *testing.T, code string) string {
	t.Helper()
	enc, err := Hash(code, cheap)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestCheckOutcomes(t *testing.T) {
	hash := cheapHash(t, "12345678")
	exp := t0.Add(time.Hour)
	active := State{Hash: hash, ExpiresAt: exp}
	pol := Policy{Params: cheap}

	tests := []struct {
		name      string
		policy    Policy
		st        State
		input     string
		now       time.Time
		want      State
		wantErrs  []error // every one must match
		notErrs   []error // none may match
		remaining int     // for *MismatchError, else -1
	}{
		{
			name: "accepted", policy: pol, st: active, input: "12345678", now: t0,
			want: State{Hash: hash, ExpiresAt: exp, Used: true}, remaining: -1,
		},
		{
			name: "accepted normalised", policy: pol, st: active, input: " 1234-5678 ", now: t0,
			want: State{Hash: hash, ExpiresAt: exp, Used: true}, remaining: -1,
		},
		{
			name: "accepted after earlier failures", policy: pol,
			st:    State{Hash: hash, ExpiresAt: exp, Attempts: 4},
			input: "12345678", now: t0,
			want: State{Hash: hash, ExpiresAt: exp, Attempts: 4, Used: true}, remaining: -1,
		},
		{
			name: "accepted just before expiry", policy: pol, st: active, input: "12345678", now: exp.Add(-time.Nanosecond),
			want: State{Hash: hash, ExpiresAt: exp, Used: true}, remaining: -1,
		},
		{
			name: "no expiry", policy: pol, st: State{Hash: hash}, input: "12345678", now: t0.AddDate(10, 0, 0),
			want: State{Hash: hash, Used: true}, remaining: -1,
		},
		{
			name: "first mismatch", policy: pol, st: active, input: "12345679", now: t0,
			want:     State{Hash: hash, ExpiresAt: exp, Attempts: 1},
			wantErrs: []error{ErrMismatch}, notErrs: []error{ErrLocked}, remaining: 4,
		},
		{
			name: "empty input is a mismatch", policy: pol, st: active, input: "", now: t0,
			want:     State{Hash: hash, ExpiresAt: exp, Attempts: 1},
			wantErrs: []error{ErrMismatch}, remaining: 4,
		},
		{
			name: "overlong input is a mismatch", policy: pol, st: active, input: strings.Repeat("1", MaxLength+1), now: t0,
			want:     State{Hash: hash, ExpiresAt: exp, Attempts: 1},
			wantErrs: []error{ErrMismatch}, remaining: 4,
		},
		{
			name: "last attempt locks", policy: pol, st: State{Hash: hash, ExpiresAt: exp, Attempts: 4}, input: "0", now: t0,
			want:     State{Hash: hash, ExpiresAt: exp, Attempts: 5, Locked: true},
			wantErrs: []error{ErrMismatch, ErrLocked}, remaining: 0,
		},
		{
			name: "custom limit", policy: Policy{MaxAttempts: 3}, st: State{Hash: hash, Attempts: 1}, input: "0", now: t0,
			want:     State{Hash: hash, Attempts: 2},
			wantErrs: []error{ErrMismatch}, notErrs: []error{ErrLocked}, remaining: 1,
		},
		{
			name: "locked refuses the right code", policy: pol,
			st:    State{Hash: hash, ExpiresAt: exp, Attempts: 5, Locked: true},
			input: "12345678", now: t0,
			want:     State{Hash: hash, ExpiresAt: exp, Attempts: 5, Locked: true},
			wantErrs: []error{ErrLocked}, notErrs: []error{ErrMismatch}, remaining: -1,
		},
		{
			name: "limit lowered below attempts", policy: Policy{MaxAttempts: 2},
			st: State{Hash: hash, Attempts: 3}, input: "12345678", now: t0,
			want:     State{Hash: hash, Attempts: 3, Locked: true},
			wantErrs: []error{ErrLocked}, notErrs: []error{ErrMismatch}, remaining: -1,
		},
		{
			name: "used refuses", policy: pol, st: State{Hash: hash, ExpiresAt: exp, Used: true}, input: "12345678", now: t0,
			want:     State{Hash: hash, ExpiresAt: exp, Used: true},
			wantErrs: []error{ErrUsed}, remaining: -1,
		},
		{
			name: "expired at the instant", policy: pol, st: active, input: "12345678", now: exp,
			want: active, wantErrs: []error{ErrExpired}, remaining: -1,
		},
		{
			name: "expired later, wrong code not counted", policy: pol, st: active, input: "0", now: exp.Add(time.Hour),
			want: active, wantErrs: []error{ErrExpired}, notErrs: []error{ErrMismatch}, remaining: -1,
		},
		{
			name: "malformed hash", policy: pol, st: State{Hash: "$argon2id$broken", ExpiresAt: exp}, input: "12345678", now: t0,
			want: State{Hash: "$argon2id$broken", ExpiresAt: exp}, wantErrs: []error{ErrMalformedHash}, remaining: -1,
		},
		{
			name: "zero state", policy: pol, st: State{}, input: "", now: t0,
			want: State{}, wantErrs: []error{ErrMalformedHash}, remaining: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.policy.Check(tt.st, tt.input, tt.now)
			if got != tt.want {
				t.Errorf("state = %+v, want %+v", got, tt.want)
			}
			if len(tt.wantErrs) == 0 && err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			for _, w := range tt.wantErrs {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want it to match %v", err, w)
				}
			}
			for _, n := range tt.notErrs {
				if errors.Is(err, n) {
					t.Errorf("err = %v matches %v, want it not to", err, n)
				}
			}
			var me *MismatchError
			if errors.As(err, &me) != (tt.remaining >= 0) {
				t.Fatalf("err = %#v: *MismatchError expected: %v", err, tt.remaining >= 0)
			}
			if me != nil && me.Remaining != tt.remaining {
				t.Errorf("Remaining = %d, want %d", me.Remaining, tt.remaining)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "passcode: ") {
				t.Errorf("error text %q lacks the package prefix", err)
			}
		})
	}
}

// TestCheckSequence plays a user who keeps guessing: the limit holds, and the
// right code afterwards is refused.
func TestCheckSequence(t *testing.T) {
	code, st, err := Policy{Params: cheap}.Issue(t0)
	if err != nil {
		t.Fatal(err)
	}
	wrong := "0" + code[1:]
	if code[0] == '0' {
		wrong = "1" + code[1:]
	}
	for i := 1; i <= DefaultMaxAttempts; i++ {
		st, err = Check(st, wrong, t0)
		var me *MismatchError
		if !errors.As(err, &me) {
			t.Fatalf("attempt %d: err = %v, want *MismatchError", i, err)
		}
		if me.Remaining != DefaultMaxAttempts-i || st.Attempts != i {
			t.Fatalf("attempt %d: remaining %d, attempts %d", i, me.Remaining, st.Attempts)
		}
		if st.Locked != (i == DefaultMaxAttempts) {
			t.Fatalf("attempt %d: locked = %v", i, st.Locked)
		}
	}
	if _, err := Check(st, code, t0); !errors.Is(err, ErrLocked) {
		t.Fatalf("right code after lock-out: %v, want ErrLocked", err)
	}
}

// TestCheckSingleUse: a code that was accepted is refused the second time,
// and a store that applies both results in order ends up used once.
func TestCheckSingleUse(t *testing.T) {
	code, st, err := Policy{Params: cheap}.Issue(t0)
	if err != nil {
		t.Fatal(err)
	}
	st1, err := Check(st, code, t0)
	if err != nil {
		t.Fatal(err)
	}
	st2, err := Check(st1, code, t0)
	if !errors.Is(err, ErrUsed) || st2 != st1 {
		t.Fatalf("second use: %v, state %v", err, st2)
	}
	// Check did not modify its argument.
	if st.Used {
		t.Fatal("Check mutated the state it was given")
	}
}

func TestIssue(t *testing.T) {
	tests := []struct {
		name    string
		policy  Policy
		wantExp time.Time
		wantLen int
		chars   string
	}{
		{"defaults", Policy{Params: cheap}, t0.Add(DefaultTTL), DefaultLength, Digits},
		{"ttl", Policy{Params: cheap, TTL: 10 * time.Minute}, t0.Add(10 * time.Minute), DefaultLength, Digits},
		{"no expiry", Policy{Params: cheap, TTL: -1}, time.Time{}, DefaultLength, Digits},
		{"alphabet", Policy{Params: cheap, Generator: Generator{Length: 6, Alphabet: Unambiguous}}, t0.Add(DefaultTTL), 6, Unambiguous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, st, err := tt.policy.Issue(t0)
			if err != nil {
				t.Fatal(err)
			}
			if len(code) != tt.wantLen || strings.Trim(code, tt.chars) != "" {
				t.Errorf("code %q", code)
			}
			if !st.ExpiresAt.Equal(tt.wantExp) || st.Attempts != 0 || st.Locked || st.Used {
				t.Errorf("state %+v, want fresh, expiring %v", st, tt.wantExp)
			}
			if strings.Contains(st.Hash, code) {
				t.Error("state holds the code in the clear")
			}
			if err := Verify(st.Hash, strings.ToLower(Format(code))); err != nil {
				t.Errorf("Verify(formatted code) = %v", err)
			}
		})
	}
}

func TestIssueErrors(t *testing.T) {
	tests := []struct {
		name    string
		policy  Policy
		wantErr error
	}{
		{"bad alphabet", Policy{Generator: Generator{Alphabet: "aa"}}, ErrInvalidAlphabet},
		{"bad params", Policy{Params: Params{Memory: 1}}, ErrInvalidParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, st, err := tt.policy.Issue(t0)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if code != "" || st != (State{}) {
				t.Errorf("partial result %q, %+v", code, st)
			}
		})
	}
}

func TestStateString(t *testing.T) {
	hash := cheapHash(t, "1")
	tests := []struct {
		st   State
		want string
	}{
		{State{Hash: hash}, "passcode(active, failed attempts: 0, expires: never)"},
		{State{Hash: hash, Attempts: 2, ExpiresAt: t0}, "passcode(active, failed attempts: 2, expires: 2026-03-01T09:00:00Z)"},
		{State{Hash: hash, Attempts: 5, Locked: true}, "passcode(locked, failed attempts: 5, expires: never)"},
		{State{Hash: hash, Used: true}, "passcode(used, failed attempts: 0, expires: never)"},
	}
	for _, tt := range tests {
		got := tt.st.String()
		if got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
		if strings.Contains(got, "argon2") {
			t.Errorf("String() reveals the hash: %q", got)
		}
	}
}

func TestMismatchErrorText(t *testing.T) {
	tests := []struct {
		remaining int
		want      string
	}{
		{3, "passcode: passcode does not match; 3 attempts left"},
		{1, "passcode: passcode does not match; 1 attempt left"},
		{0, "passcode: passcode does not match; no attempts left, passcode locked"},
	}
	for _, tt := range tests {
		if got := (&MismatchError{Remaining: tt.remaining}).Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
