package enroll

import (
	"bytes"
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"errors"
	"sync"
)

// appleDeviceCAPEM is Apple Root CA → Apple iPhone Certification Authority →
// Apple iPhone Device CA: the public chain under which iPhones and iPads sign
// the MachineInfo they post to an account-driven BaseURL. All three are
// SHA-1-signed; the intermediates expired in 2014 and 2022, yet devices
// still sign under them, so the chain is pinned and checked by signature,
// not by crypto/x509's path validation (see machineInfoOptions.Pinned).
//
//go:embed apple-iphone-device-ca.pem
var appleDeviceCAPEM []byte

var appleDeviceCAs = sync.OnceValue(func() []*x509.Certificate {
	var out []*x509.Certificate
	rest := appleDeviceCAPEM
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			panic("enroll: embedded Apple device CA: " + err.Error())
		}
		out = append(out, c)
	}
	return out
})

// AppleDeviceCAs returns Apple's device certificate authorities (Apple Root
// CA, Apple iPhone Certification Authority, Apple iPhone Device CA), the
// chain a Portal pins for account-driven MachineInfo signatures when
// PortalConfig.DeviceRoots is nil. The slice is the caller's; the
// certificates are shared and must not be modified.
func AppleDeviceCAs() []*x509.Certificate {
	return append([]*x509.Certificate(nil), appleDeviceCAs()...)
}

// maxPinnedDepth bounds the certificates walked from a signer to a pinned
// certificate; Apple's device chain is three deep.
const maxPinnedDepth = 8

// errNotPinned reports a signer that does not chain to a pinned certificate.
var errNotPinned = errors.New("no chain of signatures to a pinned certificate")

// verifyPinned checks that leaf chains by signature to one of pinned, through
// certificates of intermediates, each issuer a CA whose subject is the
// child's issuer. Validity dates are not checked and SHA-1 signatures are
// accepted: that is what Apple's device chain needs, and the pin is what
// makes it safe.
func verifyPinned(leaf *x509.Certificate, pinned, intermediates []*x509.Certificate) error {
	signs := func(parent, child *x509.Certificate) bool {
		return parent.BasicConstraintsValid && parent.IsCA &&
			bytes.Equal(parent.RawSubject, child.RawIssuer) &&
			parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil
	}
	cur := leaf
	for range maxPinnedDepth {
		for _, p := range pinned {
			if signs(p, cur) {
				return nil
			}
		}
		next := (*x509.Certificate)(nil)
		for _, c := range intermediates {
			if !c.Equal(cur) && signs(c, cur) {
				next = c
				break
			}
		}
		if next == nil {
			return errNotPinned
		}
		cur = next
	}
	return errNotPinned
}
