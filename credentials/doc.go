// Package credentials loads the keys and certificates an enrollkit server
// keeps in files: the MDM push certificate that authenticates it to APNs
// (https://developer.apple.com/documentation/devicemanagement/setting-up-push-notifications-for-your-mdm-customers),
// the identity that signs enrollment profiles, and the CA that issues device
// identities. Private keys are read in PKCS#1, PKCS#8 and SEC 1 form,
// certificates and chains from PEM or DER, whole identities from PKCS#12
// files (including the AES and SHA-256 protected files OpenSSL 3 writes by
// default) with their password, and any of these may be wrapped in an
// Ansible Vault file, whose password comes from a file, an environment
// variable or the host ([PasswordSource]).
//
// A [Loader] returns an [Identity] — a crypto.Signer with its certificate
// chain, leaf first — or a tls.Certificate. It refuses, each with its own
// typed error, a key that does not belong to the certificate, a wrong vault
// or PKCS#12 password, an expired or not yet valid certificate (unless
// [Loader.AllowExpired] is set, in which case it is logged), and files that
// cannot be read. [Sniff] tells the formats apart without a password.
package credentials
