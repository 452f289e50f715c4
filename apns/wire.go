package apns

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"time"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// appendBody appends the MDM push body {"mdm":"<magic>"} to b, escaping magic
// as encoding/json does without HTML escaping.
func appendBody(b []byte, magic string) []byte {
	b = append(b, `{"mdm":"`...)
	start := 0
	for i := 0; i < len(magic); {
		c := magic[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, magic[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(magic[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, magic[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, magic[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, magic[start:]...)
	return append(b, `"}`...)
}

// errorBody is the JSON body APNs sends with a failure.
type errorBody struct {
	Reason    string `json:"reason"`
	Timestamp int64  `json:"timestamp"` // milliseconds since the epoch, with 410
}

// parseErrorBody returns the reason and timestamp of an APNs error body. A
// body that is not the expected JSON yields an empty reason.
func parseErrorBody(body []byte) (reason string, ts time.Time) {
	if len(body) == 0 {
		return "", time.Time{}
	}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		return "", time.Time{}
	}
	if eb.Timestamp > 0 {
		ts = time.UnixMilli(eb.Timestamp).UTC()
	}
	return eb.Reason, ts
}

// classify turns a failed attempt into a PushError and reports whether the
// push should be retried.
func classify(token []byte, resp response, err error) (*PushError, bool) {
	e := &PushError{Token: token}
	if err != nil {
		e.Err = err
		var op *net.OpError
		var verr *tls.CertificateVerificationError
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			e.class = ErrUnavailable
			return e, false
		case errors.Is(err, ErrClosed):
			e.class = ErrUnavailable
			return e, false
		case errors.As(err, &op) && op.Op == "remote error" && certificateAlert(op.Err):
			// The server ended the TLS handshake with an alert about
			// the push certificate.
			e.class = ErrCertificate
			return e, false
		case errors.As(err, &verr):
			// We do not trust the server; retrying will not change it.
			e.class = ErrUnavailable
			return e, false
		}
		e.class = ErrUnavailable
		return e, true
	}
	e.Status = resp.status
	e.ID = resp.id
	e.Reason, e.Timestamp = parseErrorBody(resp.body)
	switch s := resp.status; {
	case s == 403:
		e.class = ErrCertificate
		return e, false
	case s == 429 || s >= 500:
		e.class = ErrUnavailable
		return e, true
	case s >= 400:
		e.class = ErrRejected
		return e, false
	default:
		// Informational or redirect statuses are not part of the protocol.
		e.class = ErrUnavailable
		return e, false
	}
}

// certificateAlert reports whether a TLS alert from the server is about our
// certificate: bad, unsupported, revoked, expired or unknown certificate,
// unknown CA, access denied, certificate required.
func certificateAlert(alert error) bool {
	msg := alert.Error()
	return strings.Contains(msg, "certificate") || strings.Contains(msg, "access denied")
}
