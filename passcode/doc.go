// Package passcode issues and checks the one-time enrollment passcodes an
// employee receives with an invitation and types on the enrollment portal, the
// second factor after corporate sign-in in Apple's profile-based User
// Enrollment flow (https://support.apple.com/guide/deployment/user-enrollment-and-mdm-dep23db2037d/web).
//
// Codes are drawn from crypto/rand without modulo bias ([Generator]), are
// normalised before use so that spaces, dashes and letter case typed by the
// user do not matter ([Normalize]), and are stored only as argon2id hashes in
// the PHC string form "$argon2id$v=19$m=…,t=…,p=…$salt$hash" ([Hash],
// [ParsePHC], [NeedsRehash]). Verification compares in constant time
// ([Verify]).
//
// What a store persists for one passcode is the [State] value: the hash, the
// expiry, the number of failed attempts, and whether the passcode is locked or
// already used. [Policy.Check] is a pure function from (state, input, now) to
// (new state, outcome): it performs no I/O and keeps no memory of its own, so
// a store can apply its result atomically with an optimistic version check,
// and two replicas racing on the same passcode can never both win or bypass
// the attempt limit. The outcome is the returned error: nil when accepted,
// otherwise one of the exported sentinel errors (or a typed error wrapping
// one) that callers branch on with errors.Is and errors.As.
//
// The package knows nothing about HTTP, storage or the enrollment flow.
package passcode
