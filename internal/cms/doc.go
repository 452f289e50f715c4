// Package cms writes CMS SignedData (RFC 5652) with any crypto.Signer.
//
// It is the one CMS writer of the module. Package profile signs
// configuration profiles with it (its Signer is the public face: the
// content encapsulated, SHA-256, signed attributes, the chain), and the
// simulated device and the tests of package mdm sign Mdm-Signature headers
// with it (detached, SHA-1 or SHA-2, with or without signed attributes, in
// DER or in the indefinite-length BER iOS writes).
//
// The structure is written here rather than by a pkcs7 package:
// go.mozilla.org/pkcs7 signs only with *rsa.PrivateKey and
// *ecdsa.PrivateKey values, so a key in an HSM or a cloud KMS cannot sign;
// github.com/smallstep/pkcs7 accepts a crypto.Signer, but it verifies the
// chain again on every signature, always stamps the signing time from the
// wall clock (no deterministic signatures for tests), writes neither the
// BER form devices send nor the algorithm identifiers they use, and made
// building and signing a profile 2 to 2.7 times as expensive as the
// signature alone with a P-256 key, where this package stays within 1.5.
// The verifiers (package mdm's for Mdm-Signature, the pkcs7 package for
// profiles and MachineInfo) and the tests' OpenSSL runs check what it
// writes.
package cms
