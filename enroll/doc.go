// Package enroll takes an employee from an invitation to an enrolled personal
// iPhone or iPad with Apple User Enrollment, in both of Apple's flows: the
// profile-based one (iOS 13–17: invitation link, corporate sign-in and
// ownership choice, passcode, information screen, terms, single-use 8-minute
// profile download) and account-driven User Enrollment (iOS 15+: the device
// discovers the server through the .well-known/com.apple.remotemanagement
// document, runs the same portal steps in a web view and fetches its profile
// with an access token).
//
// The flow is an explicit state machine whose transition table is data
// ([Transitions], [Next]). A [Service] applies one step per method; every
// step is stored through the host's [Store] as a compare-and-swap on the
// enrollment's version together with an [AuditEvent], so several replicas can
// share one store without ever using a passcode twice, skipping the attempt
// counter or serving a download link twice. Secrets that travel to the user
// (invitation token, download link, access token) are 256-bit random values
// returned once and stored only as SHA-256 hashes; passcodes are stored as
// argon2id hashes by package passcode.
//
// The host supplies small interfaces: [Authenticator] (corporate
// credentials), [Directory] (Managed Apple IDs), [Notifier] (delivery of the
// [Invitation], with a QR code), [IdentityProvider] (the identity payload of
// the profile; [SCEPChallenges] is a ready one) and optionally a [Clock].
// After installation the Service follows the device through package mdm's
// hooks: Authenticate from the device the profile or token was issued to
// (identified by its identity certificate or bearer token) moves the
// enrollment to checked-in, TokenUpdate to enrolled, CheckOut to removed.
// Unfinished enrollments expire lazily and with [Service.Sweep].
//
// Apple's documentation of the flows this package implements:
// https://support.apple.com/guide/deployment/user-enrollment-and-mdm-dep23db2037d/web
// and https://developer.apple.com/documentation/devicemanagement/onboarding-users-with-account-sign-in
package enroll
