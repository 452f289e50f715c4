// Package devicesim is a simulated iPhone for integration tests of
// User Enrollment servers. A Device follows the profile-based flow (it opens
// an invitation URL like Mobile Safari, fills the portal's forms and
// downloads the profile) or account-driven User Enrollment (well-known
// discovery, the signed enrollment request, the 401 Bearer apple-as-web
// challenge, the web authentication ending in the 308 hand-off, and the
// request with the access token). It then does what iOS does with the
// profile: verifies its CMS signature and keys, obtains its identity over
// SCEP or, for an ACME payload, over ACME with device-attest-01 (a
// simulated Secure Enclave key attested under Options.AttestationRoot, as
// Apple attests a user-enrolled device's key: no serial number, no UDID),
// and checks in with Authenticate and TokenUpdate naming itself by
// EnrollmentID only, each request signed with an Mdm-Signature the way
// devices sign (SHA-1, no signed attributes, BER). It answers commands when
// pushed (DeviceInformation and SecurityInfo with only the keys a
// user-enrolled device reveals, ProfileList, InstallProfile, RemoveProfile,
// InstalledApplicationList, ManagedApplicationList, CertificateList,
// DeviceLock, and an ErrorChain for anything else), asks for a token with
// GetToken (com.apple.maid, as when a Managed Apple Account signs in) and
// checks the answer's shape, and sends CheckOut when removed. Asked by the
// DeclarativeManagement command, it syncs declarations, refuses what User
// Enrollment does not allow, downloads asset data with its MDM identity,
// obtains the credential of an ACME credential asset that an active
// configuration references (with the same ACME client, a new account and
// an attested key), and reports every declaration's status. PushServer
// stands in for APNs and wakes the devices it serves.
//
// Nothing in the package knows a server's internals: it speaks only the
// wire protocol, so any host's server can be tested with it. A DeviceCA
// stands in for Apple's device identity CA; configure the server under test
// with its root, and its ACME endpoint with the attestation root's.
//
// Apple documents the protocol at
// https://developer.apple.com/documentation/devicemanagement/user-enrollment
// and
// https://developer.apple.com/documentation/devicemanagement/check-in.
package devicesim
