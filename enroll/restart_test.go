package enroll_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
)

// TestAuthenticateAgain signs the invited user in again in every state past
// sign-in (a portal session was lost): the enrollment stays where it is
// with all its progress, the audit trail records the sign-in, an issued
// link or token still works, and another user or another ownership is
// refused without a change.
func TestAuthenticateAgain(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		state enroll.State
		// reach brings a fresh invitation of alice to state; its
		// secret, if any, is checked to work after the sign-in.
		reach func(t *testing.T, f *coreFixture, inv *enroll.Invitation) (secret string)
		// check is run after the sign-in.
		check func(t *testing.T, f *coreFixture, inv *enroll.Invitation, secret string)
	}{
		{
			state: enroll.StateAuthenticated,
			reach: func(t *testing.T, f *coreFixture, inv *enroll.Invitation) string {
				coreSignIn(t, f, inv.EnrollmentID, "alice")
				for range 2 {
					_, err := f.svc.SubmitPasscode(ctx, coreMeta, inv.EnrollmentID, "00000000x")
					coreWantErr(t, "wrong passcode", err, enroll.ErrWrongPasscode)
				}
				return ""
			},
			check: func(t *testing.T, f *coreFixture, inv *enroll.Invitation, _ string) {
				// The attempt counter went on from where it was.
				_, err := f.svc.SubmitPasscode(ctx, coreMeta, inv.EnrollmentID, "00000000x")
				var pe *enroll.PasscodeError
				if !errors.As(err, &pe) || pe.AttemptsLeft != enroll.DefaultPasscodeAttempts-3 {
					t.Fatalf("wrong passcode after signing in again: %v, want %d attempts left", err, enroll.DefaultPasscodeAttempts-3)
				}
				if _, err := f.svc.SubmitPasscode(ctx, coreMeta, inv.EnrollmentID, inv.Passcode); err != nil {
					t.Fatalf("right passcode after signing in again: %v", err)
				}
			},
		},
		{
			state: enroll.StatePasscodeVerified,
			reach: func(t *testing.T, f *coreFixture, inv *enroll.Invitation) string {
				coreSignIn(t, f, inv.EnrollmentID, "alice")
				if _, err := f.svc.SubmitPasscode(ctx, coreMeta, inv.EnrollmentID, inv.Passcode); err != nil {
					t.Fatal(err)
				}
				if _, err := f.svc.AcknowledgeInfo(ctx, coreMeta, inv.EnrollmentID); err != nil {
					t.Fatal(err)
				}
				return ""
			},
			check: func(t *testing.T, f *coreFixture, inv *enroll.Invitation, _ string) {
				// The passcode is not asked again, and the information
				// screen counts as seen.
				_, err := f.svc.SubmitPasscode(ctx, coreMeta, inv.EnrollmentID, inv.Passcode)
				coreWantErr(t, "passcode again", err, enroll.ErrInvalidTransition)
				if _, err := f.svc.AcceptTerms(ctx, coreMeta, inv.EnrollmentID, enroll.Consent{Version: coreTerms.Version, Digest: coreTerms.Digest()}); err != nil {
					t.Fatalf("AcceptTerms after signing in again: %v", err)
				}
			},
		},
		{
			state: enroll.StateConsented,
			reach: func(t *testing.T, f *coreFixture, inv *enroll.Invitation) string {
				f.toConsented(t, inv, "alice", enroll.OwnershipEmployee)
				return ""
			},
			check: func(t *testing.T, f *coreFixture, inv *enroll.Invitation, _ string) {
				if _, err := f.svc.IssueDownloadLink(ctx, coreMeta, inv.EnrollmentID); err != nil {
					t.Fatalf("IssueDownloadLink after signing in again: %v", err)
				}
			},
		},
		{
			state: enroll.StateProfileIssued,
			reach: func(t *testing.T, f *coreFixture, inv *enroll.Invitation) string {
				f.toConsented(t, inv, "alice", enroll.OwnershipEmployee)
				link, err := f.svc.IssueDownloadLink(ctx, coreMeta, inv.EnrollmentID)
				if err != nil {
					t.Fatal(err)
				}
				return link.Token
			},
			check: func(t *testing.T, f *coreFixture, _ *enroll.Invitation, link string) {
				if _, err := f.svc.DownloadProfile(ctx, coreMeta, link); err != nil {
					t.Fatalf("download link issued before signing in again: %v", err)
				}
			},
		},
		{
			state: enroll.StateTokenIssued,
			reach: func(t *testing.T, f *coreFixture, inv *enroll.Invitation) string {
				f.toConsented(t, inv, "alice", enroll.OwnershipEmployee)
				tok, err := f.svc.IssueAccessToken(ctx, coreMeta, inv.EnrollmentID)
				if err != nil {
					t.Fatal(err)
				}
				return tok.Token
			},
			check: func(t *testing.T, f *coreFixture, _ *enroll.Invitation, tok string) {
				if _, err := f.svc.FetchProfile(ctx, coreMeta, tok); err != nil {
					t.Fatalf("access token issued before signing in again: %v", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(string(tt.state), func(t *testing.T) {
			f := newCoreFixture(t, func(c *enroll.Config) { c.Corporate = enroll.CorporateDeviceEnrollment })
			inv := f.invite(t, "alice")
			id := inv.EnrollmentID
			secret := tt.reach(t, f, inv)
			before, err := f.svc.Get(ctx, id)
			if err != nil || before.State != tt.state {
				t.Fatalf("reached %+v, %v; want state %s", before, err, tt.state)
			}
			f.clock.Advance(time.Minute)

			// Refused attempts change nothing.
			refused := []struct {
				name, user string
				o          enroll.Ownership
				want       error
			}{
				{"another employee", "bob", enroll.OwnershipEmployee, enroll.ErrBadCredentials},
				{"another ownership", "alice", enroll.OwnershipCorporate, enroll.ErrInvalidInput},
			}
			for _, r := range refused {
				_, err := f.svc.Authenticate(ctx, coreMeta, id, r.user, corePassword, r.o)
				coreWantErr(t, r.name, err, r.want)
			}
			if now, _ := f.svc.Get(ctx, id); !reflect.DeepEqual(now, before) {
				t.Fatalf("a refused sign-in changed the enrollment:\n got %+v\nwant %+v", now, before)
			}

			e, err := f.svc.Authenticate(ctx, coreMeta, id, "alice", corePassword, enroll.OwnershipEmployee)
			if err != nil {
				t.Fatalf("signing in again: %v", err)
			}
			want := before.Clone()
			want.Version++
			want.UpdatedAt = f.clock.Now()
			if !reflect.DeepEqual(e, want) {
				t.Fatalf("signing in again changed more than version and time:\n got %+v\nwant %+v", e, want)
			}
			last := lastAudit(t, f.svc, id)
			if last.Event != enroll.EventAuthenticate || last.From != tt.state || last.To != tt.state ||
				last.Actor != "user:u-alice" || last.ClientIP != coreMeta.ClientIP || last.Detail == "" {
				t.Fatalf("audit event of signing in again: %+v", last)
			}
			tt.check(t, f, inv, secret)
		})
	}
}

// TestAuthenticateAgainRefused: states in which the flow cannot go on are
// not reopened by signing in, whoever signs in.
func TestAuthenticateAgainRefused(t *testing.T) {
	ctx := context.Background()
	for _, state := range []enroll.State{
		enroll.StateLocked, enroll.StateExpired, enroll.StateRevoked,
		enroll.StateEnrolled, enroll.StateRemoved,
	} {
		t.Run(string(state), func(t *testing.T) {
			f := newCoreFixture(t)
			inv := f.invite(t, "alice")
			coreSignIn(t, f, inv.EnrollmentID, "alice")
			before := coreForceState(t, f, inv.EnrollmentID, state)
			_, err := f.svc.Authenticate(ctx, coreMeta, inv.EnrollmentID, "alice", corePassword, enroll.OwnershipEmployee)
			var te *enroll.TransitionError
			if !errors.As(err, &te) || te.From != state || te.Event != enroll.EventAuthenticate {
				t.Fatalf("signing in again in %s: %v, want a *TransitionError", state, err)
			}
			if after, _ := f.svc.Get(ctx, inv.EnrollmentID); after.Version != before.Version {
				t.Fatalf("refused sign-in stored version %d, want %d", after.Version, before.Version)
			}
		})
	}
}

// coreSignIn signs username in on enrollment id with employee ownership.
func coreSignIn(t testing.TB, f *coreFixture, id, username string) *enroll.Enrollment {
	t.Helper()
	e, err := f.svc.Authenticate(context.Background(), coreMeta, id, username, corePassword, enroll.OwnershipEmployee)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return e
}

// coreForceState writes state into the stored enrollment directly, standing
// in for the steps (device check-ins, expiry, revocation) that lead there.
func coreForceState(t testing.TB, f *coreFixture, id string, state enroll.State) *enroll.Enrollment {
	t.Helper()
	ctx := context.Background()
	e, err := f.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	e.State = state
	if err := f.store.Update(ctx, e, e.Version); err != nil {
		t.Fatal(err)
	}
	return e
}
