// Package ber converts BER-encoded ASN.1, as streaming CMS signers write it,
// into DER before a CMS parser sees it.
//
// Devices sign what they send with CMS SignedData (RFC 5652): the
// Mdm-Signature header of every check-in, the MachineInfo a device posts to
// the account-driven enrollment BaseURL, and signed configuration profiles.
// Streaming signers such as `openssl cms -sign -stream` and Apple's own
// encoder write indefinite lengths and cut the encapsulated content into a
// constructed OCTET STRING of chunks. Go's encoding/asn1 and cryptobyte
// accept DER only, and a CMS library that reads BER itself may keep only the
// first chunk of streamed content, so every caller first rewrites the
// signature with [ToDER]. The input is untrusted: [Limits] bound its size
// and its nesting depth, and every malformed input gives an [*Error].
//
// The encoding rules are ITU-T X.690 §8 (BER) and §10 (DER); the signatures
// this package prepares are described at
// https://developer.apple.com/documentation/devicemanagement/mdm-signature-header
// and
// https://developer.apple.com/documentation/devicemanagement/implementing-the-oauth2-authentication-user-enrollment-flow.
package ber
