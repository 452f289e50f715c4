package passcode

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Alphabets for [Generator.Alphabet].
const (
	// Digits is the default alphabet: 0–9, easy to type on a phone's
	// numeric keypad.
	Digits = "0123456789"

	// Unambiguous is an upper-case alphanumeric alphabet of 32 characters
	// without the easily confused 0/O and 1/I: 5 bits per character, so an
	// 8-character code carries 40 bits against 26.6 for 8 digits. Input is
	// upper-cased by [Normalize], so users may type it in lower case.
	Unambiguous = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
)

// Defaults used by the zero [Generator].
const (
	// DefaultLength is the default number of characters in a code.
	DefaultLength = 8

	// MaxLength is the longest code a Generator produces and the longest
	// normalised input [Policy.Check] hashes; longer input is a mismatch.
	MaxLength = 64
)

// Generator draws passcodes uniformly at random. Its zero value produces
// 8-digit codes from crypto/rand. A Generator is safe for concurrent use if
// its Rand is (crypto/rand's reader is).
type Generator struct {
	// Length is the number of characters; zero means DefaultLength. It must
	// not exceed MaxLength.
	Length int

	// Alphabet lists the characters a code is made of, each once; empty
	// means Digits. It must hold 2 to 256 distinct ASCII characters that
	// Normalize leaves unchanged (no lower-case letters, spaces or dashes).
	Alphabet string

	// Rand is the source of randomness; nil means crypto/rand. Tests may
	// supply a deterministic reader.
	Rand io.Reader
}

// Generate returns a code drawn from crypto/rand with the default generator:
// 8 digits.
func Generate() (string, error) {
	return Generator{}.Generate()
}

// Generate returns a new code of g.Length characters from g.Alphabet. Every
// character is chosen independently and uniformly: random bytes that would
// bias the choice (those at or above the largest multiple of the alphabet
// size not exceeding 256) are rejected and drawn again.
func (g Generator) Generate() (string, error) {
	length := g.Length
	if length == 0 {
		length = DefaultLength
	}
	if length < 0 || length > MaxLength {
		return "", fmt.Errorf("passcode: length %d out of range 1..%d", length, MaxLength)
	}
	alphabet := g.Alphabet
	if alphabet == "" {
		alphabet = Digits
	}
	if err := checkAlphabet(alphabet); err != nil {
		return "", err
	}
	r := g.Rand
	if r == nil {
		r = rand.Reader
	}

	n := len(alphabet)
	// Bytes in [0, limit) map to n characters each exactly limit/n times.
	limit := 256 - 256%n
	out := make([]byte, 0, length)
	buf := make([]byte, length+length/2+8)
	for len(out) < length {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("passcode: reading randomness: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, alphabet[int(b)%n])
			if len(out) == length {
				break
			}
		}
	}
	return string(out), nil
}

func checkAlphabet(a string) error {
	if len(a) < 2 || len(a) > 256 {
		return fmt.Errorf("%w: %d characters, want 2..256", ErrInvalidAlphabet, len(a))
	}
	var seen [256]bool
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c >= utf8.RuneSelf || c <= ' ' || c == 0x7f {
			return fmt.Errorf("%w: character %q is not printable ASCII", ErrInvalidAlphabet, c)
		}
		if seen[c] {
			return fmt.Errorf("%w: character %q repeats", ErrInvalidAlphabet, c)
		}
		seen[c] = true
	}
	if Normalize(a) != a {
		return fmt.Errorf("%w: normalisation changes it (lower case or dashes)", ErrInvalidAlphabet)
	}
	return nil
}

// Normalize returns the canonical form of what a user typed: white space and
// dashes (ASCII and Unicode hyphens, dashes and minus signs) are removed,
// full-width forms from East Asian keyboards become their ASCII counterparts,
// and letters are upper-cased. [Hash], [Verify] and [Policy.Check] normalise
// their input, so "1234 5678", "1234-5678" and "１２３４５６７８" verify
// against the same hash, and "k7mq-2x9p" matches "K7MQ2X9P".
func Normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r >= 0xFF01 && r <= 0xFF5E { // full-width ASCII variants
			r -= 0xFEE0
		} else if r == 0x3000 { // ideographic space
			continue
		}
		if unicode.IsSpace(r) || isDash(r) {
			continue
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

func isDash(r rune) bool {
	switch r {
	case '-', '\u00ad', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', '\ufe58', '\ufe63':
		return true
	}
	return false
}

// Format groups a code for display in an invitation, with dashes between
// groups of four characters, or of three or five when that divides the code
// evenly: "1234-5678", "123-456", "ABCDE-FGHJK". Codes of four characters or
// fewer are returned unchanged. Normalize undoes it.
func Format(code string) string {
	runes := []rune(code)
	n := len(runes)
	if n <= 4 {
		return code
	}
	size := 4
	for _, g := range [...]int{4, 3, 5} {
		if n%g == 0 {
			size = g
			break
		}
	}
	var b strings.Builder
	for i, r := range runes {
		if i > 0 && i%size == 0 {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	return b.String()
}
