// Package scep issues identity certificates to enrolling devices over SCEP
// (RFC 8894), the protocol the SCEP payload of an enrollment profile names.
// A Handler answers GetCACaps, GetCACert and PKIOperation; it issues a
// certificate only for a challenge password that enroll redeems
// (Service.RedeemChallenge: single-use, bound to one enrollment waiting for
// its device), and records the certificate against that enrollment
// (Service.RecordCertificate), so that the device's check-ins are accepted
// only with it. Set the enroll.Service's Config.SCEP.URL to where the
// Handler is mounted, and give mdm the CA's certificate as the root that
// verifies device identities. A CA signs the
// device requests: GenerateCA makes one in memory for hosts without their
// own, and ParseCA loads a certificate and key from PEM.
//
// The PKCS#7 messages are parsed and built by github.com/smallstep/scep, the
// SCEP library that the step-ca certificate authority and micromdm/scep's
// own server (since v2.3.0) are built on, and which its maintainers keep
// current. micromdm/scep's server package was used before; it adds to the
// same library an HTTP layer on go-kit 0.4 and gorilla/mux 1.4 (2017), which
// this package replaces with a few lines of net/http.
//
// Apple documents the payload at
// https://developer.apple.com/documentation/devicemanagement/scep; the
// protocol is https://www.rfc-editor.org/rfc/rfc8894.
package scep
