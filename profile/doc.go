// Package profile builds, signs, parses and verifies the configuration
// profile (.mobileconfig) a device installs to enroll in MDM. It models the
// profile and its payloads as Go types — com.apple.mdm, the SCEP, ACME and
// PKCS#12 identity payloads and the root/PEM certificate payloads — and
// keeps every other payload as an untouched dictionary. Builders produce the
// three kinds of enrollment profile (profile-based User Enrollment,
// account-driven User Enrollment, device enrollment) and validate them with
// typed errors naming the offending key; encoding is deterministic, so the
// same inputs give byte-identical output. Sign wraps a profile in CMS
// SignedData with SHA-256 and the signer's certificate chain, using any
// crypto.Signer (including keys held in an HSM or KMS); Parse accepts signed
// or unsigned, XML or binary profiles, verifies the signature and, when
// roots are given, the signer's chain.
//
// The MDM payload is described at
// https://developer.apple.com/documentation/devicemanagement/mdm and the
// profile itself at
// https://developer.apple.com/documentation/devicemanagement/toplevel.
package profile
