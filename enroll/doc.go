// Package enroll takes an employee from an invitation to an enrolled personal
// iPhone or iPad with Apple User Enrollment, in both of Apple's flows: the
// profile-based one (iOS 13–17: invitation link, corporate sign-in and
// ownership choice, passcode, information screen, terms, single-use 8-minute
// profile download) and account-driven User Enrollment (iOS 15+: the device
// discovers the server through the .well-known/com.apple.remotemanagement
// document, runs the same portal steps in a web view and fetches its profile
// with an access token).
//
// # State machine and Service
//
// The flow is an explicit state machine whose transition table is data
// ([Transitions], [Next]). A [Service] applies one step per method; every
// step is stored through the host's [Store] as a compare-and-swap on the
// enrollment's version together with an [AuditEvent], so several replicas can
// share one store without ever using a passcode twice, skipping the attempt
// counter or serving a download link twice. Secrets that travel to the user
// (invitation token, download link, access token) are 256-bit random values
// returned once and stored only as SHA-256 hashes; passcodes are stored as
// argon2id hashes by package passcode. A user who lost the portal session
// signs in again ([Service.Authenticate] in a [State.Restartable] state) and
// carries on with all progress kept, the passcode attempt counter included.
// Corporate password guesses are throttled per enrollment and per client
// address with a doubling back-off whose counts live in the store
// ([ThrottleConfig], [FailureStore]), so replicas share them.
//
// A device that was interrupted before it finished (a crash of the server
// or the device, a lost response, anywhere from the download to a
// TokenUpdate that never arrived) installs again from scratch: the user
// signs in again, in Safari from the invitation or in the web view that
// discovery opens, and gets a new single-use download link or access token;
// the new profile carries a fresh identity challenge. Until the enrollment
// is enrolled, the new profile replaces the earlier installation's
// identity: from StateCheckedIn the new link or token moves the enrollment
// back to StateProfileIssued or StateTokenIssued (a transition of the
// table, audited), and the earlier challenge, certificate and EnrollmentID
// are forgotten, so the old certificate and EnrollmentID are refused and
// the re-installed device checks in with new ones. An enrolled enrollment
// is finished; a device that lost it needs a new invitation.
//
// The host supplies small interfaces: [Authenticator] (corporate
// credentials), [Directory] (Managed Apple Accounts) and [Notifier] (delivery
// of the [Invitation], with a QR code; [Invitation.Text] spells out both ways
// to enroll). Profiles get a SCEP identity with a
// single-use challenge ([Config.SCEP]), or a hardware-bound, attested ACME
// identity whose ClientIdentifier is that challenge ([Config.ACME], redeemed
// by the ACME server through [Service.ACME]); a host with its own
// certificate authority supplies an [IdentityProvider] instead.
// Unfinished enrollments expire lazily and with [Service.Sweep].
//
// # Portal
//
// [NewPortal] wraps a Service in a [Portal], the http.Handler of the web
// side, mounted at the Service's [Config.PortalURL]. It serves the invitation link
// (and its QR code), sign-in with the ownership choice, the privacy notice,
// the passcode, the information screen, the terms and the profile download.
// It leads each device to the way its release can take, read from the
// User-Agent: iOS and iPadOS 18 and later, which cannot install a
// profile-based User Enrollment, get the steps to enroll from Settings with
// the user's Managed Apple Account instead of the sign-in form, and never a
// profile they cannot install (see [Portal]). Pages are html/template, mobile-first and without external assets; the
// host may override templates. A browser is bound to one enrollment by an
// HMAC-signed session cookie, every POST is protected against cross-origin
// forgery, and a session that did not sign in itself (a new browser, or a
// web view without the first session's cookie) is sent to sign in before
// any later step.
//
// # Account-driven enrollment
//
// [Portal.WellKnownHandler], mounted at [WellKnownPath] on the domain of the
// users' Managed Apple Accounts, answers discovery with the Portal's
// [Portal.BaseURL] (version mdm-byod) for users with an open enrollment, and
// 403 com.apple.well-known.failed otherwise. The device posts its signed
// MachineInfo to the BaseURL; without a valid access token it gets 401 with
// a Bearer challenge (method apple-as-web) naming [Portal.AccountStartURL].
// There, in the device's web view and starting from the user-identifier,
// the portal runs its steps and ends with a 308 to [AccessTokenCallbackURL]
// carrying the access token. With that token as a bearer token the BaseURL
// answers with the profile (EnrollmentMode BYOD, AssignedManagedAppleID, no
// AccessRights).
//
// # Following the device
//
// The Service is package mdm's Prechecker and Observer ([Service.Precheck],
// [Service.Observe]): pass it as both in mdm.Config. Authenticate from the
// device the profile or token was issued to (identified by the identity
// certificate issued for this enrollment, see [Service.RecordCertificate],
// or by its access token) moves the enrollment to checked-in, TokenUpdate to
// enrolled, CheckOut to removed; every later request of an account-driven
// enrollment must carry its access token, and requests from any other device
// (including the identity of an installation that a re-installation
// replaced) are refused. A device id (EnrollmentID or UDID) belongs to at
// most one live enrollment, which every Store enforces ([ErrDeviceInUse]): the
// credentials of one enrollment never take over the device channel of
// another. The Service, not the device, decides the enrollment's type: a
// User Enrollment device must name itself by EnrollmentID, a corporate
// device under [CorporateDeviceEnrollment] by UDID, so the command policy
// package mdm applies follows the enrollment.
//
// Apple's documentation of the flows this package implements: User
// Enrollment, https://developer.apple.com/documentation/devicemanagement/user-enrollment
// and https://support.apple.com/guide/deployment/user-enrollment-and-mdm-dep23db2037d/web;
// account-driven enrollment,
// https://developer.apple.com/documentation/devicemanagement/onboarding-users-with-account-sign-in
package enroll
