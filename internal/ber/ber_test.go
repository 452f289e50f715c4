package ber

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// header builds a DER header for tests, independently of AppendLength.
func header(tag byte, n int) []byte {
	switch {
	case n < 0x80:
		return []byte{tag, byte(n)}
	case n < 0x100:
		return []byte{tag, 0x81, byte(n)}
	case n < 0x10000:
		return []byte{tag, 0x82, byte(n >> 8), byte(n)}
	default:
		return []byte{tag, 0x83, byte(n >> 16), byte(n >> 8), byte(n)}
	}
}

func TestToDER(t *testing.T) {
	tests := []struct {
		name    string
		in, out []byte
	}{
		{"DER unchanged", []byte{0x30, 0x03, 0x02, 0x01, 0x05}, []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
		{"indefinite sequence", []byte{0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00}, []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
		{"empty indefinite sequence", []byte{0x30, 0x80, 0x00, 0x00}, []byte{0x30, 0x00}},
		{"chunked octets", []byte{0x24, 0x80, 0x04, 0x02, 'a', 'b', 0x04, 0x01, 'c', 0x00, 0x00}, []byte{0x04, 0x03, 'a', 'b', 'c'}},
		{"definite chunked octets", []byte{0x24, 0x07, 0x04, 0x02, 'a', 'b', 0x04, 0x01, 'c'}, []byte{0x04, 0x03, 'a', 'b', 'c'}},
		{"nested chunks", []byte{0x24, 0x08, 0x24, 0x03, 0x04, 0x01, 'a', 0x04, 0x01, 'b'}, []byte{0x04, 0x02, 'a', 'b'}},
		{"nested indefinite chunks", []byte{0x24, 0x80, 0x24, 0x80, 0x04, 0x01, 'a', 0, 0, 0x04, 0x01, 'b', 0, 0}, []byte{0x04, 0x02, 'a', 'b'}},
		{"empty chunked octets", []byte{0x24, 0x80, 0x00, 0x00}, []byte{0x04, 0x00}},
		{"explicit tag around chunks", []byte{0xa0, 0x80, 0x24, 0x80, 0x04, 0x01, 'x', 0x00, 0x00, 0x00, 0x00}, []byte{0xa0, 0x03, 0x04, 0x01, 'x'}},
		{"high tag number", []byte{0x9f, 0x81, 0x01, 0x01, 0xff}, []byte{0x9f, 0x81, 0x01, 0x01, 0xff}},
		{"high tag and long length in indefinite", []byte{0x30, 0x80, 0x1f, 0x81, 0x01, 0x01, 0x05, 0x04, 0x82, 0x00, 0x01, 0x07, 0, 0}, []byte{0x30, 0x08, 0x1f, 0x81, 0x01, 0x01, 0x05, 0x04, 0x01, 0x07}},
		{"long length", append([]byte{0x04, 0x81, 0x80}, make([]byte, 128)...), append([]byte{0x04, 0x81, 0x80}, make([]byte, 128)...)},
		{"non-minimal length", []byte{0x04, 0x82, 0x00, 0x01, 'z'}, []byte{0x04, 0x01, 'z'}},
		{"four length octets", []byte{0x04, 0x84, 0x00, 0x00, 0x00, 0x01, 'z'}, []byte{0x04, 0x01, 'z'}},
		{"other constructed string kept", []byte{0x23, 0x80, 0x03, 0x02, 0x00, 0xff, 0, 0}, []byte{0x23, 0x04, 0x03, 0x02, 0x00, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Clone(tt.in)
			got, err := ToDER(in, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.out) {
				t.Errorf("got % x, want % x", got, tt.out)
			}
			if !bytes.Equal(in, tt.in) {
				t.Error("ToDER modified its input")
			}
			if len(got) > 0 && len(in) > 0 && &got[0] == &in[0] {
				t.Error("the result aliases the input")
			}
		})
	}
}

func TestToDERRefusals(t *testing.T) {
	deep := func(levels int) []byte {
		b := bytes.Repeat([]byte{0x30, 0x80}, levels)
		return append(b, bytes.Repeat([]byte{0, 0}, levels)...)
	}
	tests := []struct {
		name   string
		in     []byte
		lim    Limits
		want   error
		offset int
	}{
		{"empty", []byte{}, Limits{}, ErrMalformed, 0},
		{"nil", nil, Limits{}, ErrMalformed, 0},
		{"truncated", []byte{0x30}, Limits{}, ErrMalformed, 0},
		{"length beyond input", []byte{0x04, 0x05, 'a'}, Limits{}, ErrMalformed, 0},
		{"length of length too long", []byte{0x04, 0x85, 1, 1, 1, 1, 1}, Limits{}, ErrMalformed, 0},
		{"length octets missing", []byte{0x04, 0x82, 0x01}, Limits{}, ErrMalformed, 0},
		{"huge length field", []byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff}, Limits{}, ErrMalformed, 0},
		{"indefinite primitive", []byte{0x04, 0x80, 'a', 0x00, 0x00}, Limits{}, ErrMalformed, 0},
		{"no end of contents", []byte{0x30, 0x80, 0x02, 0x01, 0x05}, Limits{}, ErrMalformed, 0},
		{"half an end of contents", []byte{0x30, 0x80, 0x02, 0x01, 0x05, 0x00}, Limits{}, ErrMalformed, 5},
		{"child past its parent", []byte{0x30, 0x02, 0x02, 0x01, 0x05}, Limits{}, ErrMalformed, 2},
		{"trailing data", []byte{0x02, 0x01, 0x05, 0x00}, Limits{}, ErrTrailingData, 3},
		{"chunk of wrong type", []byte{0x24, 0x03, 0x02, 0x01, 0x05}, Limits{}, ErrMalformed, 2},
		{"bad chunk in indefinite string", []byte{0x24, 0x80, 0x02, 0x01, 0x01, 0, 0}, Limits{}, ErrMalformed, 2},
		{"end of contents alone", []byte{0x00, 0x00}, Limits{}, ErrMalformed, 0},
		{"end of contents in a definite sequence", []byte{0x30, 0x04, 0x00, 0x00, 0x30, 0x00}, Limits{}, ErrMalformed, 2},
		{"universal tag 0 with contents", []byte{0x30, 0x03, 0x00, 0x01, 0x07}, Limits{}, ErrMalformed, 2},
		{"constructed universal tag 0", []byte{0x30, 0x80, 0x20, 0x00, 0x00, 0x00}, Limits{}, ErrMalformed, 2},
		{"truncated high tag", []byte{0x1f, 0x81}, Limits{}, ErrMalformed, 0},
		{"high tag without length", []byte{0x1f, 0x01}, Limits{}, ErrMalformed, 0},
		{"long high tag", []byte{0x1f, 0x81, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00}, Limits{}, ErrMalformed, 0},
		{"too deep for the default", deep(DefaultMaxDepth + 2), Limits{}, ErrTooDeep, 2 * (DefaultMaxDepth + 1)},
		{"too deep for a limit of 3", deep(5), Limits{MaxDepth: 3}, ErrTooDeep, 8},
		{"too large", make([]byte, 100), Limits{MaxBytes: 50}, ErrTooLarge, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := ToDER(tt.in, tt.lim)
			if !errors.Is(err, tt.want) || out != nil {
				t.Fatalf("ToDER = %x, %v; want %v", out, err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Offset != tt.offset {
				t.Fatalf("error %#v, want an *Error at offset %d", err, tt.offset)
			}
		})
	}
}

func TestLimitsBoundary(t *testing.T) {
	deep := func(levels int) []byte {
		b := bytes.Repeat([]byte{0x30, 0x80}, levels)
		return append(b, bytes.Repeat([]byte{0, 0}, levels)...)
	}
	// The outermost element is level 0: MaxDepth+1 elements nest exactly
	// MaxDepth levels below it.
	for _, max := range []int{1, 32, 64} {
		if _, err := ToDER(deep(max+1), Limits{MaxDepth: max}); err != nil {
			t.Errorf("MaxDepth %d, %d elements: %v", max, max+1, err)
		}
		if _, err := ToDER(deep(max+2), Limits{MaxDepth: max}); !errors.Is(err, ErrTooDeep) {
			t.Errorf("MaxDepth %d, %d elements: %v, want ErrTooDeep", max, max+2, err)
		}
	}
	in := []byte{0x30, 0x80, 0x00, 0x00}
	if _, err := ToDER(in, Limits{MaxBytes: len(in)}); err != nil {
		t.Errorf("input of exactly MaxBytes: %v", err)
	}
	if _, err := ToDER(in, Limits{MaxBytes: len(in) - 1}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("input of MaxBytes+1: %v", err)
	}
}

func TestErrorText(t *testing.T) {
	_, err := ToDER([]byte{0x30, 0x80, 0x04, 0x80, 0, 0}, Limits{})
	const want = "ber: malformed encoding: indefinite length on a primitive element at offset 2"
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// TestToDERDeep checks a deep, large input against a DER encoding built
// independently.
func TestToDERDeep(t *testing.T) {
	content := bytes.Repeat([]byte("profile "), 10000)
	// BER: 40 indefinite SEQUENCEs around OCTET STRING chunks of 1000 bytes.
	var in []byte
	for range 40 {
		in = append(in, 0x30, 0x80)
	}
	in = append(in, 0x24, 0x80)
	for i := 0; i < len(content); i += 1000 {
		in = append(in, 0x04, 0x82, 0x03, 0xe8)
		in = append(in, content[i:i+1000]...)
	}
	in = append(in, 0, 0)
	for range 40 {
		in = append(in, 0, 0)
	}
	want := append(header(0x04, len(content)), content...)
	for range 40 {
		want = append(header(0x30, len(want)), want...)
	}
	got, err := ToDER(in, Limits{MaxDepth: 64})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
	if cap(got) != len(got) {
		t.Errorf("output capacity %d, length %d: not sized exactly", cap(got), len(got))
	}
	if again, err := ToDER(got, Limits{MaxDepth: 64}); err != nil || !bytes.Equal(again, got) {
		t.Errorf("converting DER changed it (err %v)", err)
	}
}

func TestStreamRoundTrip(t *testing.T) {
	for _, name := range []string{"testdata/sig-sha1-noattr.der", "testdata/sig-sha256-attrs.der"} {
		der, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, chunk := range []int{1, 7, 64, 4096} {
			streamed, err := Stream(der, chunk)
			if err != nil {
				t.Fatalf("%s, chunk %d: %v", name, chunk, err)
			}
			if streamed[1] != 0x80 {
				t.Fatalf("%s, chunk %d: outer element has a definite length", name, chunk)
			}
			got, err := ToDER(streamed, Limits{})
			if err != nil || !bytes.Equal(got, der) {
				t.Fatalf("%s, chunk %d: ToDER(Stream(x)) != x: %v", name, chunk, err)
			}
		}
	}
	// Content longer than a chunk is cut into chunks.
	der := append([]byte{0x30, 0x07, 0x04, 0x05}, "hello"...)
	want := []byte{0x30, 0x80, 0x24, 0x80, 0x04, 0x02, 'h', 'e', 0x04, 0x02, 'l', 'l', 0x04, 0x01, 'o', 0, 0, 0, 0}
	if got, err := Stream(der, 2); err != nil || !bytes.Equal(got, want) {
		t.Errorf("Stream = % x, %v; want % x", got, err, want)
	}
}

func TestStreamRefusals(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		chunk int
		want  error
	}{
		{"indefinite input", []byte{0x30, 0x80, 0, 0}, 8, ErrMalformed},
		{"truncated", []byte{0x30, 0x05, 0x02}, 8, ErrMalformed},
		{"truncated child", []byte{0x30, 0x01, 0x02}, 8, ErrMalformed},
		{"trailing data", []byte{0x05, 0x00, 0x05}, 8, ErrTrailingData},
		{"end of contents as an element", []byte{0x30, 0x04, 0x00, 0x00, 0x30, 0x00}, 8, ErrMalformed},
		{"empty", []byte{}, 8, ErrMalformed},
		{"no chunk size", []byte{0x05, 0x00}, 0, nil},
	}
	deep := []byte{0x05, 0x00}
	for range DefaultMaxDepth + 1 {
		deep = append(header(0x30, len(deep)), deep...)
	}
	tests = append(tests, struct {
		name  string
		in    []byte
		chunk int
		want  error
	}{"nesting beyond the default depth", deep, 8, ErrTooDeep})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Stream(tt.in, tt.chunk)
			if err == nil || out != nil {
				t.Fatalf("Stream = %x, %v; want an error", out, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Stream error %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAppendLength(t *testing.T) {
	tests := []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x00}},
		{0x7f, []byte{0x7f}},
		{0x80, []byte{0x81, 0x80}},
		{0xff, []byte{0x81, 0xff}},
		{0x100, []byte{0x82, 0x01, 0x00}},
		{0xffff, []byte{0x82, 0xff, 0xff}},
		{0x10000, []byte{0x83, 0x01, 0x00, 0x00}},
		{0x1000000, []byte{0x84, 0x01, 0x00, 0x00, 0x00}},
		{0xffffffff, []byte{0x84, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		if got := AppendLength([]byte{0xaa}, tt.n); !bytes.Equal(got, append([]byte{0xaa}, tt.want...)) {
			t.Errorf("AppendLength(%#x) = % x, want aa % x", tt.n, got, tt.want)
		}
	}
}
