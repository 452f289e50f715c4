// Package httpauth parses the HTTP authentication headers of account-driven
// User Enrollment: the WWW-Authenticate challenge a server answers an
// unauthenticated enrollment request with (Bearer method="apple-as-web"
// url="…"), and the Authorization: Bearer header a device then sends with
// every request.
//
// The server side (package enroll) and the simulated device (package
// devicesim) read these headers with the one parser here, so that what
// the server writes is what a device reads. The grammar is RFC 9110 §11
// (challenges, auth-params, token68) with the leniency servers need in
// practice: parameters may be separated by commas, by spaces, or both
// (Apple's sample uses commas; some servers send spaces only), and an
// unquoted value may be a URL. Input is untrusted: a header longer than
// MaxHeaderLen is refused before it is read.
//
// Apple describes the headers at
// https://developer.apple.com/documentation/devicemanagement/implementing-the-oauth2-authentication-user-enrollment-flow.
package httpauth

import (
	"errors"
	"fmt"
	"strings"
)

// MaxHeaderLen bounds the header ParseChallenges is willing to read.
const MaxHeaderLen = 8 << 10

// ErrMalformed is what every error of ParseChallenges wraps.
var ErrMalformed = errors.New("httpauth: malformed header")

// Challenge is one challenge of a WWW-Authenticate header.
type Challenge struct {
	// Scheme is the authentication scheme as sent ("Bearer").
	Scheme string
	// Params are the challenge's parameters; names are lower-cased. A
	// token68 credential is kept under the name "".
	Params map[string]string
}

// ParseChallenges parses a WWW-Authenticate header value into its
// challenges, in order. Values may be tokens, quoted strings with
// backslash escapes, or bare values up to the next space, tab or comma. A
// parameter named twice in one challenge, an empty unquoted value, an
// unterminated quoted string, a header with no challenge and one longer
// than MaxHeaderLen are errors.
func ParseChallenges(v string) ([]Challenge, error) {
	if len(v) > MaxHeaderLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxHeaderLen)
	}
	var out []Challenge
	s := v
	for {
		scheme, rest, err := nextToken(v, s)
		switch {
		case err != nil:
			return nil, err
		case scheme == "" && len(out) == 0:
			return nil, fmt.Errorf("%w: no challenge", ErrMalformed)
		case scheme == "":
			return out, nil
		}
		s = strings.TrimLeft(rest, " \t")
		ch := Challenge{Scheme: scheme, Params: map[string]string{}}
		if t68, rest, ok := cutToken68(s); ok {
			ch.Params[""] = t68
			s = rest
			out = append(out, ch)
			continue
		}
		for {
			name, rest, err := nextToken(v, s)
			if err != nil {
				return nil, err
			}
			rest = strings.TrimLeft(rest, " \t")
			if name == "" || !strings.HasPrefix(rest, "=") {
				break // the end, or s starts the next challenge's scheme
			}
			var val string
			if val, s, err = cutValue(strings.TrimLeft(rest[1:], " \t")); err != nil {
				return nil, fmt.Errorf("%w: parameter %q: %v", ErrMalformed, name, err)
			}
			key := strings.ToLower(name)
			if _, dup := ch.Params[key]; dup {
				return nil, fmt.Errorf("%w: parameter %q repeated", ErrMalformed, key)
			}
			ch.Params[key] = val
		}
		out = append(out, ch)
	}
}

// nextToken skips the separators at the start of s, the rest of header v,
// and reads a token; it returns an empty token at the end of v and an
// error where no token starts.
func nextToken(v, s string) (tok, rest string, err error) {
	s = strings.TrimLeft(s, " \t,")
	if s == "" {
		return "", "", nil
	}
	if tok, rest = cutToken(s); tok == "" {
		return "", s, fmt.Errorf("%w: unexpected %q at offset %d", ErrMalformed, s[0], len(v)-len(s))
	}
	return tok, rest, nil
}

// cutValue reads a parameter value at the start of s: a quoted string, or
// a bare value up to a separator (a token by the RFC, but servers send
// unquoted URLs too).
func cutValue(s string) (val, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		i := strings.IndexAny(s, " \t,")
		if i < 0 {
			i = len(s)
		}
		if i == 0 {
			return "", s, errors.New("no value")
		}
		return s[:i], s[i:], nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 == len(s) {
				return "", s, errors.New("unterminated escape in quoted string")
			}
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", s, errors.New("unterminated quoted string")
}

// cutToken reads an RFC 9110 token at the start of s.
func cutToken(s string) (tok, rest string) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// cutToken68 reads a token68 credential (RFC 9110 §11.2) at the start of s:
// token68 characters, optional "=" padding, then the end of the challenge.
func cutToken68(s string) (t68, rest string, ok bool) {
	i := 0
	for i < len(s) && (isAlnum(s[i]) || strings.IndexByte("-._~+/", s[i]) >= 0) {
		i++
	}
	j := i
	for j < len(s) && s[j] == '=' {
		j++
	}
	after := strings.TrimLeft(s[j:], " \t")
	if i == 0 || (after != "" && after[0] != ',') {
		return "", s, false
	}
	return s[:j], after, true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool {
	return isAlnum(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header value (RFC 6750 §2.1): the scheme matched without regard to
// case, the token without surrounding white space. ok is false for any
// other scheme or an empty token.
func BearerToken(authorization string) (token string, ok bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
