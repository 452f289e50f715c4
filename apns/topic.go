package apns

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"strings"
)

// TopicPrefix starts every MDM push topic.
const TopicPrefix = "com.apple.mgmt."

// oidUID is the subject attribute that carries the push topic (userid,
// RFC 4519).
var oidUID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// Topic returns the MDM push topic of a push certificate: its subject UID,
// such as "com.apple.mgmt.External.<uuid>". It returns a [*TopicError] when
// the UID is missing or does not start with [TopicPrefix].
func Topic(cert *x509.Certificate) (string, error) {
	for _, atv := range cert.Subject.Names {
		if !atv.Type.Equal(oidUID) {
			continue
		}
		s, ok := atv.Value.(string)
		if !ok {
			return "", &TopicError{Topic: fmt.Sprint(atv.Value)}
		}
		if !strings.HasPrefix(s, TopicPrefix) || len(s) == len(TopicPrefix) {
			return "", &TopicError{Topic: s}
		}
		return s, nil
	}
	return "", &TopicError{}
}

// leaf returns the parsed leaf of a tls.Certificate.
func leaf(cert tls.Certificate) (*x509.Certificate, error) {
	if cert.Leaf != nil {
		return cert.Leaf, nil
	}
	if len(cert.Certificate) == 0 {
		return nil, fmt.Errorf("apns: push certificate has no certificate: %w", ErrTopic)
	}
	c, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("apns: parse push certificate: %w", err)
	}
	return c, nil
}
