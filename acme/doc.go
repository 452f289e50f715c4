// Package acme issues identity certificates to enrolling devices over ACME
// (RFC 8555) with the device-attest-01 challenge of the ACME Device
// Attestation extension and Apple's Managed Device Attestation: the
// identity of the com.apple.security.acme payload (iOS 16, macOS 14 and
// later for attestation) and of the ACME credential asset of declarative
// device management, with a key the Secure Enclave makes and keeps.
//
// # How it plugs in
//
// A Handler is mounted at Config.BaseURL like package scep's: enroll puts
// a single-use per-enrollment secret in the profile, here as the payload's
// ClientIdentifier; the device orders a certificate for it as a
// permanent-identifier; and the Handler, once the attestation and the CSR
// are accepted, redeems it with Enrollments.RedeemChallenge (the interface
// scep uses; give the Handler enroll.Service.ACME(), which redeems only
// the identifiers of ACME payloads) and reports the certificate
// with RecordCertificate, so that mdm accepts the device's check-ins only
// with it. The order is tied to the enrollment by that identifier, never
// by a serial number or a UDID: under User Enrollment Apple leaves both out
// of the attestation, and this package reads neither even when present.
// The certificate is privacy-preserving in the draft's sense: it carries
// the CSR's subject and the attested key, and nothing of the identifier or
// the attestation. The Issuer signs it; a *scep.CA is one, so one CA can
// serve both protocols.
//
// Declarative management's ACME credential assets are served by
// Credentials: the data of a com.apple.asset.credential.acme asset is a
// document whose ClientIdentifier (after CredentialPrefix) is minted for
// the enrollment downloading it, and a second Handler, given the
// Credentials as its Enrollments, redeems it once without binding the
// certificate to anything: it is a credential for the enrollment's
// configurations, not its MDM identity. Each Handler redeems only its own
// kind of identifier.
//
// The exchange: the device fetches the directory and a nonce, makes an
// account (a key; contacts are not stored), orders its identifier, reads
// the authorization's device-attest-01 challenge, asks Apple to attest its
// new Secure Enclave key with the SHA-256 of the challenge token as the
// freshness code, posts the attestation object ({"attObj": …}), finalizes
// with a CSR of that key, and downloads the certificate. Every POST's
// signature, nonce and URL are checked before its payload is decoded;
// bodies are bounded; the attestation object is decoded by
// github.com/fxamacker/cbor with limits, and JWS by
// github.com/go-jose/go-jose, both maintained and widely used.
//
// # What the attestation proves, and what it cannot on a personal device
//
// An accepted attestation proves that the certified key was made in, and
// cannot leave, the Secure Enclave of genuine Apple hardware: Apple's
// attestation servers recognized the hardware against its manufacturing
// record and signed the chain that ends at Apple's Enterprise Attestation
// Root CA (embedded, and checked against AppleRootSHA256). It proves the
// attestation is fresh and made for this order: its freshness code is the
// SHA-256 of this challenge's token, drawn at random when the order was
// made and answerable for Config.OrderTTL, so an attestation cannot be
// replayed on another order. And the certificate is for that key, because
// the CSR must carry it.
//
// It cannot tell which device it is. Under User Enrollment there is no
// serial number or UDID, so nothing proves that the attesting device is
// the one that installed the profile, or one the user owns: the binding to
// the enrollment rests on the single-use identifier, a bearer secret. Who
// presents it first, from any genuine Apple device, gets the certificate,
// and the device that installed the profile is then refused; the
// identifier's secrecy in transit and at rest, its expiry, and its single
// use are what stand between an interception and a stolen identity. Nor
// does it prove who the user is (the portal's sign-in does), that the
// device is healthy (the OS versions it may attest are not evaluated
// here), or anything about what else runs on a personal device: the key
// cannot be copied off the device, but it is used by whatever on the
// device the keychain lets use it. Devices that cannot attest (iPhone and
// iPad with A10X or earlier, Intel Macs with a T2 chip) ignore the
// payload's Attest key and send no attestation; they are refused, and
// stay on SCEP.
//
// # Limits of this version
//
// Accounts and orders live in a Store and nonces in a Nonces; by default
// both in the Handler's memory (MemoryStore, MemoryNonces), for one
// server. Replicas behind a load balancer share a database instead:
// store/sqlite and store/postgres keep both, so that an order made through
// one replica is finalized through another and a nonce issued by one is
// accepted once by any. Orders carry one identifier; there is no account
// update, key change, revocation or external account binding.
//
// Apple documents the payload at
// https://developer.apple.com/documentation/devicemanagement/acmecertificate
// and the attestation's contents under the DevicePropertiesAttestation key
// of the DeviceInformation command; the challenge is https://datatracker.ietf.org/doc/draft-ietf-acme-device-attest/
// and the protocol https://www.rfc-editor.org/rfc/rfc8555.
package acme
