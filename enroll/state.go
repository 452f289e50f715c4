package enroll

import "slices"

// State is where an enrollment stands in the enrollment flow. States are
// stored by their string value, which is stable.
type State string

// The states of an enrollment. An enrollment starts in StateInvited; the only
// way it moves is by an Event through the transition table (see [Transitions]).
//
// The information screen of the profile-based flow is a step inside
// StatePasscodeVerified, not a state of its own: [EventInfoSeen] leaves the
// enrollment in StatePasscodeVerified and records when the screen was shown,
// and [Service.AcceptTerms] refuses with [ErrInfoNotSeen] until it was.
const (
	// StateInvited: an invitation was created and delivered; nobody has
	// signed in yet.
	StateInvited State = "invited"
	// StateAuthenticated: the invited user signed in with corporate
	// credentials and chose the device's ownership; the passcode is next.
	StateAuthenticated State = "authenticated"
	// StatePasscodeVerified: the passcode from the invitation was entered
	// correctly; the information screen and the terms are next.
	StatePasscodeVerified State = "passcode-verified"
	// StateConsented: the user accepted the terms (version and digest are
	// recorded); a profile download link or an access token is next.
	StateConsented State = "consented"
	// StateProfileIssued: a single-use profile download link was issued
	// (profile-based flow); the device's first check-in is next.
	StateProfileIssued State = "profile-issued"
	// StateTokenIssued: an access token was handed to the device
	// (account-driven flow); the device's first check-in is next.
	StateTokenIssued State = "token-issued"
	// StateCheckedIn: the device sent Authenticate; its EnrollmentID is
	// recorded and TokenUpdate is next. A device that was interrupted here
	// (a crash, a lost response) installs again from scratch: the user signs
	// in again and a new download link or access token moves the
	// enrollment back to StateProfileIssued or StateTokenIssued, with the
	// earlier identity forgotten (see [State.Restartable]).
	StateCheckedIn State = "checked-in"
	// StateEnrolled: the device sent TokenUpdate and can be managed.
	StateEnrolled State = "enrolled"
	// StateUnenrolling: the host revoked an enrolled device and the server
	// asked the device to remove its enrollment profile (Config.Unenroller);
	// the device may still poll, to receive that command, until it confirms
	// with CheckOut (then StateRemoved) or Config.UnenrollDeadline passes
	// (then StateRemoved as well, by [EventExpire]); revoking again ends the
	// enrollment at once (StateRevoked).
	StateUnenrolling State = "unenrolling"
	// StateRemoved: the device sent CheckOut (the profile was removed).
	// Terminal.
	StateRemoved State = "removed"
	// StateExpired: the enrollment was not finished in time. Terminal.
	StateExpired State = "expired"
	// StateRevoked: the host revoked the enrollment; its secrets no longer
	// work. Terminal.
	StateRevoked State = "revoked"
	// StateLocked: too many wrong passcodes were entered. Only revocation
	// leaves it.
	StateLocked State = "locked"
)

// States lists every state in flow order.
func States() []State {
	return []State{
		StateInvited, StateAuthenticated, StatePasscodeVerified, StateConsented,
		StateProfileIssued, StateTokenIssued, StateCheckedIn, StateEnrolled,
		StateUnenrolling, StateRemoved, StateExpired, StateRevoked, StateLocked,
	}
}

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool { return slices.Contains(States(), s) }

// Terminal reports whether no event moves an enrollment out of s, except
// revocation of a locked enrollment.
func (s State) Terminal() bool {
	switch s {
	case StateRemoved, StateExpired, StateRevoked, StateLocked:
		return true
	}
	return false
}

// Restartable reports whether the invited user may sign in again in s
// ([EventAuthenticate] as a self-transition): the enrollment is past
// sign-in but not enrolled, so a user who lost the portal session, or whose
// device was interrupted while installing, can carry on. Every bit of
// progress is kept, the passcode attempt counter included.
//
// A device that re-installs from scratch gets a new profile: in
// StateProfileIssued and StateTokenIssued a new profile carries a fresh
// identity challenge and makes the enrollment forget the certificate of the
// earlier one; in StateCheckedIn a new download link ([EventIssueProfile])
// or access token ([EventIssueToken]) moves the enrollment back to
// StateProfileIssued or StateTokenIssued and forgets the earlier identity
// (challenge, certificate and the device's EnrollmentID) at once. A
// re-installed device checks in with a new EnrollmentID and a new
// certificate; the old ones are refused from then on.
func (s State) Restartable() bool {
	switch s {
	case StateAuthenticated, StatePasscodeVerified, StateConsented, StateProfileIssued, StateTokenIssued, StateCheckedIn:
		return true
	}
	return false
}

// expirable reports whether an enrollment in s is unfinished and expires at
// its ExpiresAt: an unfinished enrollment, or the unenrollment of a device
// whose deadline passes.
func (s State) expirable() bool {
	switch s {
	case StateInvited, StateAuthenticated, StatePasscodeVerified, StateConsented,
		StateProfileIssued, StateTokenIssued, StateCheckedIn, StateUnenrolling:
		return true
	}
	return false
}

// Event is something that happens to an enrollment. Events are stored in the
// audit trail by their string value, which is stable.
type Event string

// The events of the enrollment flow.
const (
	// EventInvite creates the enrollment. It is recorded in the audit trail
	// (from the empty state to StateInvited) but is not in the table: it
	// moves nothing that exists.
	EventInvite Event = "invite"
	// EventAuthenticate: corporate sign-in and ownership choice succeeded.
	// From StateInvited it starts the flow; from a later unfinished state
	// (see [State.Restartable]) it is the invited user signing in again in
	// a new browser or web view and leaves the enrollment where it was.
	EventAuthenticate Event = "authenticate"
	// EventPasscodeRejected: a wrong passcode was entered and counted.
	EventPasscodeRejected Event = "passcode-rejected"
	// EventLock: a wrong passcode used up the last attempt.
	EventLock Event = "lock"
	// EventPasscodeAccepted: the passcode was entered correctly.
	EventPasscodeAccepted Event = "passcode-accepted"
	// EventInfoSeen: the information screen was shown and acknowledged.
	EventInfoSeen Event = "info-seen"
	// EventConsent: the terms were accepted.
	EventConsent Event = "consent"
	// EventIssueProfile: a profile download link was issued (a new link
	// replaces an earlier one). From StateCheckedIn it starts a
	// re-installation: back to StateProfileIssued, the earlier identity
	// forgotten.
	EventIssueProfile Event = "issue-profile"
	// EventDownloadProfile: the profile was downloaded with the link; the
	// link is used up.
	EventDownloadProfile Event = "download-profile"
	// EventIssueToken: an account-driven access token was issued (a new
	// token replaces an earlier one). From StateCheckedIn it starts a
	// re-installation: back to StateTokenIssued, the earlier identity
	// forgotten.
	EventIssueToken Event = "issue-token"
	// EventFetchProfile: the device fetched its profile with the access
	// token.
	EventFetchProfile Event = "fetch-profile"
	// EventRedeemChallenge: the identity challenge in the profile was
	// redeemed at the certificate authority.
	EventRedeemChallenge Event = "redeem-challenge"
	// EventBindCertificate: the identity certificate issued for the
	// enrollment was recorded.
	EventBindCertificate Event = "bind-certificate"
	// EventCheckIn: the device sent Authenticate.
	EventCheckIn Event = "check-in"
	// EventTokenUpdate: the device sent TokenUpdate.
	EventTokenUpdate Event = "token-update"
	// EventCheckOut: the device sent CheckOut.
	EventCheckOut Event = "check-out"
	// EventExpire: the enrollment ran out of time.
	EventExpire Event = "expire"
	// EventRevoke: the host revoked the enrollment. An enrolled device is
	// asked to unenroll first (StateUnenrolling) when the Service has an
	// Unenroller.
	EventRevoke Event = "revoke"
)

// Events lists every event that appears in the transition table.
func Events() []Event {
	return []Event{
		EventAuthenticate, EventPasscodeRejected, EventLock, EventPasscodeAccepted,
		EventInfoSeen, EventConsent, EventIssueProfile, EventDownloadProfile,
		EventIssueToken, EventFetchProfile, EventRedeemChallenge, EventBindCertificate,
		EventCheckIn, EventTokenUpdate, EventCheckOut, EventExpire, EventRevoke,
	}
}

// Transition is one row of the transition table: in state From, event Event
// moves the enrollment to state To.
type Transition struct {
	// From is the state the event applies in.
	From State
	// Event is what happens.
	Event Event
	// To is the state the enrollment is in afterwards.
	To State
}

// transitions is the whole state machine. Nothing else moves an enrollment.
var transitions = func() []Transition {
	t := []Transition{
		{StateInvited, EventAuthenticate, StateAuthenticated},

		{StateAuthenticated, EventPasscodeRejected, StateAuthenticated},
		{StateAuthenticated, EventLock, StateLocked},
		{StateAuthenticated, EventPasscodeAccepted, StatePasscodeVerified},

		{StatePasscodeVerified, EventInfoSeen, StatePasscodeVerified},
		{StatePasscodeVerified, EventConsent, StateConsented},

		{StateConsented, EventIssueProfile, StateProfileIssued},
		{StateProfileIssued, EventIssueProfile, StateProfileIssued},
		{StateProfileIssued, EventDownloadProfile, StateProfileIssued},

		{StateConsented, EventIssueToken, StateTokenIssued},
		{StateTokenIssued, EventIssueToken, StateTokenIssued},
		{StateTokenIssued, EventFetchProfile, StateTokenIssued},

		{StateProfileIssued, EventRedeemChallenge, StateProfileIssued},
		{StateTokenIssued, EventRedeemChallenge, StateTokenIssued},
		{StateProfileIssued, EventBindCertificate, StateProfileIssued},
		{StateTokenIssued, EventBindCertificate, StateTokenIssued},

		{StateProfileIssued, EventCheckIn, StateCheckedIn},
		{StateTokenIssued, EventCheckIn, StateCheckedIn},
		{StateCheckedIn, EventCheckIn, StateCheckedIn},

		// A device interrupted after Authenticate installs again.
		{StateCheckedIn, EventIssueProfile, StateProfileIssued},
		{StateCheckedIn, EventIssueToken, StateTokenIssued},

		{StateCheckedIn, EventTokenUpdate, StateEnrolled},
		{StateEnrolled, EventTokenUpdate, StateEnrolled},

		{StateCheckedIn, EventCheckOut, StateRemoved},
		{StateEnrolled, EventCheckOut, StateRemoved},

		// Revoking an enrolled device asks it to unenroll; it confirms with
		// CheckOut, or its deadline passes.
		{StateEnrolled, EventRevoke, StateUnenrolling},
		{StateUnenrolling, EventTokenUpdate, StateUnenrolling},
		{StateUnenrolling, EventCheckOut, StateRemoved},
		{StateUnenrolling, EventExpire, StateRemoved},
	}
	for _, s := range States() {
		if s.Restartable() {
			t = append(t, Transition{s, EventAuthenticate, s})
		}
		if s.expirable() && s != StateUnenrolling {
			t = append(t, Transition{s, EventExpire, StateExpired})
		}
		if s == StateEnrolled {
			continue // revocation goes through StateUnenrolling (above)
		}
		if !s.Terminal() || s == StateLocked {
			t = append(t, Transition{s, EventRevoke, StateRevoked})
		}
	}
	return t
}()

// Transitions returns a copy of the transition table.
func Transitions() []Transition { return slices.Clone(transitions) }

// Next returns the state that event leads to from state from, or a
// *TransitionError (matching [ErrInvalidTransition]) when the table has no
// such transition.
func Next(from State, event Event) (State, error) {
	for _, t := range transitions {
		if t.From == from && t.Event == event {
			return t.To, nil
		}
	}
	return "", &TransitionError{From: from, Event: event}
}
