package enroll_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
)

// TestTransitionTable walks every state × event pair: each is either the
// transition written out below (an independent copy of the design) or a
// *TransitionError naming the pair and matching ErrInvalidTransition.
func TestTransitionTable(t *testing.T) {
	type pair struct {
		from enroll.State
		ev   enroll.Event
	}
	want := map[pair]enroll.State{
		{enroll.StateInvited, enroll.EventAuthenticate}: enroll.StateAuthenticated,
		// Signing in again to continue an unfinished enrollment keeps it
		// where it is.
		{enroll.StateAuthenticated, enroll.EventAuthenticate}:    enroll.StateAuthenticated,
		{enroll.StatePasscodeVerified, enroll.EventAuthenticate}: enroll.StatePasscodeVerified,
		{enroll.StateConsented, enroll.EventAuthenticate}:        enroll.StateConsented,
		{enroll.StateProfileIssued, enroll.EventAuthenticate}:    enroll.StateProfileIssued,
		{enroll.StateTokenIssued, enroll.EventAuthenticate}:      enroll.StateTokenIssued,
		{enroll.StateCheckedIn, enroll.EventAuthenticate}:        enroll.StateCheckedIn,
		// A device interrupted after Authenticate installs again from a
		// new link or token.
		{enroll.StateCheckedIn, enroll.EventIssueProfile}: enroll.StateProfileIssued,
		{enroll.StateCheckedIn, enroll.EventIssueToken}:   enroll.StateTokenIssued,

		{enroll.StateAuthenticated, enroll.EventPasscodeRejected}: enroll.StateAuthenticated,
		{enroll.StateAuthenticated, enroll.EventLock}:             enroll.StateLocked,
		{enroll.StateAuthenticated, enroll.EventPasscodeAccepted}: enroll.StatePasscodeVerified,

		{enroll.StatePasscodeVerified, enroll.EventInfoSeen}: enroll.StatePasscodeVerified,
		{enroll.StatePasscodeVerified, enroll.EventConsent}:  enroll.StateConsented,

		{enroll.StateConsented, enroll.EventIssueProfile}:        enroll.StateProfileIssued,
		{enroll.StateProfileIssued, enroll.EventIssueProfile}:    enroll.StateProfileIssued,
		{enroll.StateProfileIssued, enroll.EventDownloadProfile}: enroll.StateProfileIssued,
		{enroll.StateConsented, enroll.EventIssueToken}:          enroll.StateTokenIssued,
		{enroll.StateTokenIssued, enroll.EventIssueToken}:        enroll.StateTokenIssued,
		{enroll.StateTokenIssued, enroll.EventFetchProfile}:      enroll.StateTokenIssued,

		{enroll.StateProfileIssued, enroll.EventRedeemChallenge}: enroll.StateProfileIssued,
		{enroll.StateTokenIssued, enroll.EventRedeemChallenge}:   enroll.StateTokenIssued,
		{enroll.StateProfileIssued, enroll.EventBindCertificate}: enroll.StateProfileIssued,
		{enroll.StateTokenIssued, enroll.EventBindCertificate}:   enroll.StateTokenIssued,

		{enroll.StateProfileIssued, enroll.EventCheckIn}: enroll.StateCheckedIn,
		{enroll.StateTokenIssued, enroll.EventCheckIn}:   enroll.StateCheckedIn,
		{enroll.StateCheckedIn, enroll.EventCheckIn}:     enroll.StateCheckedIn,
		{enroll.StateCheckedIn, enroll.EventTokenUpdate}: enroll.StateEnrolled,
		{enroll.StateEnrolled, enroll.EventTokenUpdate}:  enroll.StateEnrolled,
		{enroll.StateCheckedIn, enroll.EventCheckOut}:    enroll.StateRemoved,
		{enroll.StateEnrolled, enroll.EventCheckOut}:     enroll.StateRemoved,
		// Revoking an enrolled device asks it to unenroll; CheckOut or its
		// deadline ends that, and revoking again ends it at once.
		{enroll.StateEnrolled, enroll.EventRevoke}:         enroll.StateUnenrolling,
		{enroll.StateUnenrolling, enroll.EventTokenUpdate}: enroll.StateUnenrolling,
		{enroll.StateUnenrolling, enroll.EventCheckOut}:    enroll.StateRemoved,
		{enroll.StateUnenrolling, enroll.EventExpire}:      enroll.StateRemoved,
		{enroll.StateUnenrolling, enroll.EventRevoke}:      enroll.StateRevoked,
	}
	unfinished := []enroll.State{
		enroll.StateInvited, enroll.StateAuthenticated, enroll.StatePasscodeVerified, enroll.StateConsented,
		enroll.StateProfileIssued, enroll.StateTokenIssued, enroll.StateCheckedIn,
	}
	for _, s := range unfinished {
		want[pair{s, enroll.EventExpire}] = enroll.StateExpired
		want[pair{s, enroll.EventRevoke}] = enroll.StateRevoked
	}
	want[pair{enroll.StateLocked, enroll.EventRevoke}] = enroll.StateRevoked

	events := append(enroll.Events(), enroll.EventInvite, enroll.Event("no-such-event"))
	states := append(enroll.States(), enroll.State(""), enroll.State("no-such-state"))
	defined := 0
	for _, s := range states {
		for _, ev := range events {
			t.Run(string(s)+"/"+string(ev), func(t *testing.T) {
				got, err := enroll.Next(s, ev)
				if to, ok := want[pair{s, ev}]; ok {
					defined++
					if err != nil || got != to {
						t.Fatalf("Next(%q, %q) = %q, %v; want %q", s, ev, got, err, to)
					}
					return
				}
				var te *enroll.TransitionError
				if !errors.As(err, &te) || !errors.Is(err, enroll.ErrInvalidTransition) {
					t.Fatalf("Next(%q, %q) = %q, %v; want a *TransitionError", s, ev, got, err)
				}
				if te.From != s || te.Event != ev || got != "" {
					t.Fatalf("TransitionError = %+v (state %q), want From %q Event %q", te, got, s, ev)
				}
			})
		}
	}
	if defined != len(want) || len(enroll.Transitions()) != len(want) {
		t.Fatalf("table has %d transitions, %d matched; want %d", len(enroll.Transitions()), defined, len(want))
	}
}

func TestTransitionErrorMatchesState(t *testing.T) {
	tests := []struct {
		from   enroll.State
		target error
		not    []error
	}{
		{enroll.StateExpired, enroll.ErrExpired, []error{enroll.ErrRevoked, enroll.ErrLocked}},
		{enroll.StateRevoked, enroll.ErrRevoked, []error{enroll.ErrExpired, enroll.ErrLocked}},
		{enroll.StateLocked, enroll.ErrLocked, []error{enroll.ErrExpired, enroll.ErrRevoked}},
		{enroll.StateEnrolled, enroll.ErrInvalidTransition, []error{enroll.ErrExpired, enroll.ErrRevoked, enroll.ErrLocked}},
	}
	for _, tt := range tests {
		t.Run(string(tt.from), func(t *testing.T) {
			err := error(&enroll.TransitionError{From: tt.from, Event: enroll.EventConsent})
			if !errors.Is(err, tt.target) || !errors.Is(err, enroll.ErrInvalidTransition) {
				t.Fatalf("%v does not match %v and ErrInvalidTransition", err, tt.target)
			}
			for _, n := range tt.not {
				if errors.Is(err, n) {
					t.Errorf("%v matches %v", err, n)
				}
			}
			if err.Error() != `enroll: event "consent" not allowed in state "`+string(tt.from)+`"` {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

func TestStates(t *testing.T) {
	terminal := []enroll.State{enroll.StateRemoved, enroll.StateExpired, enroll.StateRevoked, enroll.StateLocked}
	restartable := []enroll.State{enroll.StateAuthenticated, enroll.StatePasscodeVerified, enroll.StateConsented, enroll.StateProfileIssued, enroll.StateTokenIssued, enroll.StateCheckedIn}
	for _, s := range enroll.States() {
		if !s.Valid() {
			t.Errorf("%q not Valid", s)
		}
		if got := s.Terminal(); got != slices.Contains(terminal, s) {
			t.Errorf("%q.Terminal() = %v", s, got)
		}
		if got := s.Restartable(); got != slices.Contains(restartable, s) {
			t.Errorf("%q.Restartable() = %v", s, got)
		}
	}
	if enroll.State("bogus").Valid() {
		t.Error("bogus state is Valid")
	}
	if len(enroll.States()) != 13 {
		t.Errorf("%d states, want 13", len(enroll.States()))
	}
	// The table returned is a copy.
	tr := enroll.Transitions()
	tr[0].To = enroll.StateRemoved
	if enroll.Transitions()[0].To == enroll.StateRemoved {
		t.Error("Transitions returned the table itself")
	}
}

func TestPasscodeError(t *testing.T) {
	tests := []struct {
		left   int
		msg    string
		locked bool
	}{
		{3, "enroll: wrong passcode; 3 attempts left", false},
		{1, "enroll: wrong passcode; 1 attempt left", false},
		{0, "enroll: wrong passcode; no attempts left, enrollment locked", true},
	}
	for _, tt := range tests {
		err := error(&enroll.PasscodeError{AttemptsLeft: tt.left})
		if err.Error() != tt.msg {
			t.Errorf("Error() = %q, want %q", err.Error(), tt.msg)
		}
		if !errors.Is(err, enroll.ErrWrongPasscode) || errors.Is(err, enroll.ErrLocked) != tt.locked {
			t.Errorf("%v: matches ErrWrongPasscode %v, ErrLocked %v", err, errors.Is(err, enroll.ErrWrongPasscode), errors.Is(err, enroll.ErrLocked))
		}
	}
}
