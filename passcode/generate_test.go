package passcode

import (
	"bytes"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"unicode"
	"unicode/utf8"
)

func TestGenerateDefaults(t *testing.T) {
	for range 50 {
		code, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if len(code) != DefaultLength {
			t.Fatalf("len(%q) = %d, want %d", code, len(code), DefaultLength)
		}
		if strings.Trim(code, Digits) != "" {
			t.Fatalf("%q has a character outside %q", code, Digits)
		}
	}
}

func TestGeneratorOptions(t *testing.T) {
	tests := []struct {
		name     string
		g        Generator
		wantLen  int
		alphabet string
	}{
		{"six digits", Generator{Length: 6}, 6, Digits},
		{"unambiguous", Generator{Length: 10, Alphabet: Unambiguous}, 10, Unambiguous},
		{"binary", Generator{Length: 64, Alphabet: "AB"}, 64, "AB"},
		{"one", Generator{Length: 1}, 1, Digits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := tt.g.Generate()
			if err != nil {
				t.Fatal(err)
			}
			if len(code) != tt.wantLen || strings.Trim(code, tt.alphabet) != "" {
				t.Fatalf("code %q: want %d characters from %q", code, tt.wantLen, tt.alphabet)
			}
			if Normalize(code) != code {
				t.Errorf("Normalize(%q) = %q, want it unchanged", code, Normalize(code))
			}
		})
	}
}

func TestUnambiguousAlphabet(t *testing.T) {
	if len(Unambiguous) != 32 {
		t.Errorf("len(Unambiguous) = %d, want 32", len(Unambiguous))
	}
	if strings.ContainsAny(Unambiguous, "01OIo il") {
		t.Errorf("Unambiguous %q holds a confusable character", Unambiguous)
	}
	if err := checkAlphabet(Unambiguous); err != nil {
		t.Error(err)
	}
}

func TestGeneratorErrors(t *testing.T) {
	tests := []struct {
		name    string
		g       Generator
		wantErr error
	}{
		{"one character", Generator{Alphabet: "7"}, ErrInvalidAlphabet},
		{"repeated", Generator{Alphabet: "0123456789A0"}, ErrInvalidAlphabet},
		{"lower case", Generator{Alphabet: "abc"}, ErrInvalidAlphabet},
		{"dash", Generator{Alphabet: "AB-"}, ErrInvalidAlphabet},
		{"space", Generator{Alphabet: "AB "}, ErrInvalidAlphabet},
		{"non-ASCII", Generator{Alphabet: "ABÄ"}, ErrInvalidAlphabet},
		{"too long", Generator{Alphabet: strings.Repeat("A", 257)}, ErrInvalidAlphabet},
		{"negative length", Generator{Length: -1}, nil},
		{"length over max", Generator{Length: MaxLength + 1}, nil},
		{"rand fails", Generator{Rand: iotest.ErrReader(errors.New("no entropy"))}, nil},
		{"rand short", Generator{Rand: bytes.NewReader([]byte{1, 2, 3})}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := tt.g.Generate()
			if err == nil {
				t.Fatalf("Generate() = %q, want an error", code)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "passcode: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestGenerateRejectsBiasedBytes feeds bytes at and above the rejection limit
// and checks they are skipped, not folded onto the alphabet.
func TestGenerateRejectsBiasedBytes(t *testing.T) {
	// For 10 digits the limit is 250: bytes 250..255 must be dropped.
	src := []byte{250, 251, 255, 3, 249, 252, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	code, err := Generator{Length: 3, Rand: bytes.NewReader(src)}.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if code != "390" {
		t.Fatalf("code = %q, want %q (bytes 3, 249, 10 after skipping 250..255)", code, "390")
	}
}

// chiSquare returns Pearson's statistic for counts against a uniform
// distribution.
func chiSquare(counts []int) float64 {
	total := 0
	for _, c := range counts {
		total += c
	}
	want := float64(total) / float64(len(counts))
	var x float64
	for _, c := range counts {
		d := float64(c) - want
		x += d * d / want
	}
	return x
}

func countChars(t *testing.T, g Generator, codes int) (all []int, byPos [][]int) {
	t.Helper()
	alphabet := g.Alphabet
	idx := map[byte]int{}
	for i := 0; i < len(alphabet); i++ {
		idx[alphabet[i]] = i
	}
	all = make([]int, len(alphabet))
	byPos = make([][]int, g.Length)
	for i := range byPos {
		byPos[i] = make([]int, len(alphabet))
	}
	for range codes {
		code, err := g.Generate()
		if err != nil {
			t.Fatal(err)
		}
		for p := 0; p < len(code); p++ {
			all[idx[code[p]]]++
			byPos[p][idx[code[p]]]++
		}
	}
	return all, byPos
}

// Upper critical values of the chi-square distribution with df degrees of
// freedom at significance 1e-3 and 1e-6 (Wilson–Hilferty approximation, within
// 1 % of tabulated values and slightly above them at df 9).
var chiCritical = map[int]struct{ p3, p6 float64 }{
	9:  {28.06, 45.97},   // 10 symbols
	31: {61.20, 84.21},   // 32 symbols
	66: {107.33, 135.98}, // 67 symbols
}

// wideAlphabet is the 67 printable ASCII characters Normalize leaves alone:
// 256 mod 67 = 55, so over a fifth of random bytes must be rejected.
func wideAlphabet() string {
	var b []byte
	for c := byte('!'); c <= '~'; c++ {
		if c >= 'a' && c <= 'z' || c == '-' {
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// TestGenerateUnbiased is the statistical test of uniformity. With a seeded
// stream the result is reproducible, and the test proves it can fail: the
// same stream folded with a plain modulo (the bias rejection removes) is
// refused by the same threshold.
func TestGenerateUnbiased(t *testing.T) {
	tests := []struct {
		name     string
		alphabet string
		codes    int
	}{
		{"digits", Digits, 40000},
		{"unambiguous", Unambiguous, 40000},
		{"67 symbols", wideAlphabet(), 40000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			df := len(tt.alphabet) - 1
			crit := chiCritical[df]
			g := Generator{Length: 8, Alphabet: tt.alphabet, Rand: mrand.NewChaCha8([32]byte{1, 2, 3})}
			all, byPos := countChars(t, g, tt.codes)
			if x := chiSquare(all); x > crit.p3 {
				t.Errorf("all positions: chi-square %.1f > %.1f (df %d): biased", x, crit.p3, df)
			}
			for p, counts := range byPos {
				if x := chiSquare(counts); x > crit.p3 {
					t.Errorf("position %d: chi-square %.1f > %.1f (df %d): biased", p, x, crit.p3, df)
				}
			}
		})
	}

	t.Run("crypto/rand", func(t *testing.T) {
		// Live randomness: a threshold at 1e-6 keeps false alarms negligible.
		g := Generator{Length: 8, Alphabet: Digits, Rand: rand.Reader}
		all, _ := countChars(t, g, 40000)
		if x := chiSquare(all); x > chiCritical[9].p6 {
			t.Errorf("chi-square %.1f > %.1f: biased", x, chiCritical[9].p6)
		}
	})

	t.Run("the test detects modulo bias", func(t *testing.T) {
		src := mrand.NewChaCha8([32]byte{1, 2, 3})
		buf := make([]byte, 8*40000)
		src.Read(buf)
		counts := make([]int, 10)
		for _, b := range buf {
			counts[int(b)%10]++ // 0..5 drawn 26 times in 256, 6..9 only 25
		}
		if x := chiSquare(counts); x <= chiCritical[9].p3 {
			t.Fatalf("plain modulo gives chi-square %.1f <= %.1f: the test would not notice bias", x, chiCritical[9].p3)
		}
	})
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"12345678", "12345678"},
		{"1234 5678", "12345678"},
		{" 1234-5678\n", "12345678"},
		{"1234\u20135678", "12345678"}, // en dash
		{"1234\u22125678", "12345678"}, // minus sign
		{"１２３４\u3000５６７８", "12345678"}, // full-width digits, ideographic space
		{"k7mq-2x9p", "K7MQ2X9P"},
		{"ｋ７ｍｑ", "K7MQ"},
		{"\t\u00a0", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"1234", "1234"},
		{"12345", "12345"},
		{"123456", "123-456"},
		{"1234567", "1234-567"},
		{"12345678", "1234-5678"},
		{"123456789", "123-456-789"},
		{"ABCDEFGHJK", "ABCDE-FGHJK"},
		{"ABCDEFGHJKLMN", "ABCD-EFGH-JKLM-N"},
	}
	for _, tt := range tests {
		got := Format(tt.in)
		if got != tt.want {
			t.Errorf("Format(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if Normalize(got) != tt.in {
			t.Errorf("Normalize(Format(%q)) = %q", tt.in, Normalize(got))
		}
	}
}

// FuzzNormalize checks what the portal relies on for any typed input:
// normalising twice changes nothing, the result has no white space, dashes or
// lower-case letters, and any code Format groups comes back unchanged.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"1234 5678", "k7mq-2x9p", "１２３４\u3000５６７８", "\u2212\u00ad", "ß", "ǅ", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if Normalize(n) != n {
			t.Fatalf("Normalize not idempotent: %q -> %q -> %q", s, n, Normalize(n))
		}
		for _, r := range n {
			if unicode.IsSpace(r) || isDash(r) || (r < utf8.RuneSelf && unicode.IsLower(r)) {
				t.Fatalf("Normalize(%q) = %q keeps %q", s, n, r)
			}
		}
		if strings.Trim(n, Unambiguous) == "" && Normalize(Format(n)) != n {
			t.Fatalf("Normalize(Format(%q)) = %q", n, Normalize(Format(n)))
		}
	})
}
