// Package mdm is the server side of Apple's MDM check-in and command
// protocol, as an enrolled iPhone or iPad speaks it after installing an
// enrollment profile (profile-based or account-driven User Enrollment, and
// device enrollment).
//
// A [Service] is an http.Handler for both the check-in URL and the server
// URL. It decodes check-in messages (Authenticate, TokenUpdate, CheckOut and
// the rest) and command results, works out who is speaking (the Mdm-Signature
// header, a TLS client certificate, or a certificate forwarded by a
// TLS-terminating proxy), binds the identity certificate seen at Authenticate
// to its enrollment and refuses it for any other, keeps an ordered command
// queue per enrollment, wakes devices through a [Pusher] (and again, with
// back-off, when a response was lost: [Service.Sweep], which also expires
// commands and applies the [Retention] policy), refuses at enqueue the
// commands an enrollment may not receive on its platform and channel,
// under User Enrollment or on its OS release ([CheckPolicy], generated from
// Apple's schema), and
// tells a host (and package enroll) what happens through [Prechecker] and
// [Observer] hooks. Everything durable goes through the small [Store]
// interface; store/memory, store/sqlite and store/postgres implement it and
// prove it with the conformance suite in mdm/mdmtest.
//
// Check-ins the Service does not handle itself go to a [Responder];
// [Responders] gives each message type its own. [Tokens] answers GetToken
// by its TokenServiceType, and [MAIDIssuer] issues the com.apple.maid token
// with which Apple lets a Managed Apple Account sign in on a managed device
// when the organization allows it on managed devices only.
//
// Enrollments are keyed by [EnrollmentID]: the EnrollmentID a device reports
// under User Enrollment, the UDID for a device enrollment, and
// "<device id>:<user>" for user channels.
//
// Mdm-Signature verification is done here on cryptobyte rather than with a
// general PKCS #7 package: devices sign with SHA-1 and sha1WithRSAEncryption,
// with or without signed attributes, often BER-encoded; the verifier
// normalises BER within size and depth limits, checks the contentType and
// messageDigest attributes, verifies RSA PKCS #1 v1.5 or ECDSA, and checks the
// certificate chain separately (crypto/x509 refuses SHA-1 in chains, so a
// SHA-1-signed identity certificate is checked against its issuer directly and
// the issuer's chain with crypto/x509). Verified certificates are cached, so a
// device's repeated requests cost one signature check each.
//
// What the protocol cannot prevent: Mdm-Signature is a detached signature
// over the request body only. It covers neither the URL path, nor the
// method, nor the time, and a device's messages carry no nonce, so a body
// captured with its signature (which takes breaking the TLS between device
// and server) verifies again on either URL and at any later time. A
// replayed body speaks only for the enrollment whose bound certificate
// signed it (editing the EnrollmentID breaks the signature); a replayed
// command result is stored once, since the command is then no longer
// pending; a replayed TokenUpdate or Authenticate writes the values the
// device already sent. A replayed CheckOut ends the enrollment, as the
// device itself would; serving MDM only over TLS, with a TLS client
// certificate where the deployment allows, is the protection. Oversize
// bodies are refused from their declared length, or while they are read,
// before anything is parsed or verified.
//
// Decoding. Every device message is first checked by internal/plistcheck
// (what decoding may cost, nesting, shared objects) and then decoded. The
// common shape, a flat XML dictionary of strings, data and booleans (every
// Idle poll, TokenUpdate and Authenticate), is read by a small decoder of
// its own that yields exactly what howett.net/plist yields (FuzzFastXML
// compares them) and hands anything else to that library. It earns its place
// on the whole server: with the example server under load in bench/server,
// server CPU per request was 4–11 % lower for Idle polls and 5–12 % lower for
// TokenUpdates than with the library alone (SQLite: 197 vs 219 µs and 229 vs
// 239 µs per Idle poll, in both build orders), and in BenchmarkCheckin it
// saves 13 µs and 85 allocations per Idle poll and 23 µs and 157 allocations
// per TokenUpdate.
//
// Apple's documentation of the protocol:
// https://developer.apple.com/documentation/devicemanagement/check-in and
// https://developer.apple.com/documentation/devicemanagement/commands-and-queries
package mdm
