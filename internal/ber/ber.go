package ber

import (
	"errors"
	"fmt"
)

// DefaultMaxDepth is the nesting bound when Limits.MaxDepth is zero. CMS
// SignedData with its certificates nests about a dozen levels deep.
const DefaultMaxDepth = 32

// Errors an [*Error] wraps, one per kind of refusal.
var (
	// ErrMalformed reports input that is not a well-formed BER element.
	ErrMalformed = errors.New("ber: malformed encoding")
	// ErrTooDeep reports nesting deeper than Limits.MaxDepth.
	ErrTooDeep = errors.New("ber: nesting too deep")
	// ErrTooLarge reports input longer than Limits.MaxBytes.
	ErrTooLarge = errors.New("ber: input too large")
	// ErrTrailingData reports bytes after the one element the input must be.
	ErrTrailingData = errors.New("ber: trailing data after the element")
)

// Error is the error ToDER returns: what is wrong and where. Unwrap gives
// one of ErrMalformed, ErrTooDeep, ErrTooLarge or ErrTrailingData.
type Error struct {
	Offset int    // byte offset in the input of the offending element
	Reason string // what is wrong, in words
	Err    error  // the kind of refusal
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("%v: %s at offset %d", e.Err, e.Reason, e.Offset)
}

// Unwrap returns the kind of refusal, for errors.Is.
func (e *Error) Unwrap() error { return e.Err }

// Limits bound a conversion of untrusted input.
type Limits struct {
	// MaxBytes is the longest input accepted; zero means no bound beyond
	// the input itself.
	MaxBytes int
	// MaxDepth is how many levels constructed elements may nest below the
	// outermost one; zero means DefaultMaxDepth.
	MaxDepth int
}

// maxTagBytes bounds the identifier octets of one element: the leading
// octet and up to four more, a tag number of up to 28 bits.
const maxTagBytes = 5

// ToDER converts the single BER element in, as limited by lim, into DER
// lengths: every length becomes definite and minimal, and every constructed
// OCTET STRING (the chunks a streaming signer writes) becomes one primitive
// OCTET STRING holding the chunks' contents in order. Tags, element order
// and contents are kept, so a signature over any part stays valid; SET OF
// elements are not re-sorted and other constructed string types are kept as
// they are, since CMS does not chunk them. DER input comes back unchanged,
// as a copy.
//
// ToDER reads the input twice — once to measure every element, once to
// write — and so allocates the output once, at its exact size; time and
// memory are linear in the input however deeply it nests. It never
// modifies in, and the result does not alias it. Errors are [*Error].
func ToDER(in []byte, lim Limits) ([]byte, error) {
	if lim.MaxBytes > 0 && len(in) > lim.MaxBytes {
		return nil, &Error{Reason: fmt.Sprintf("%d bytes, limit %d", len(in), lim.MaxBytes), Err: ErrTooLarge}
	}
	// A signature has about a hundred elements: their lengths fit on the
	// stack, and larger input grows the slice.
	var lens [128]int
	c := conv{in: in, maxDepth: lim.MaxDepth, lens: lens[:0]}
	if c.maxDepth <= 0 {
		c.maxDepth = DefaultMaxDepth
	}
	n, rest, err := c.measure(in, 0, false)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, c.fail(rest, ErrTrailingData, fmt.Sprintf("%d bytes", len(rest)))
	}
	out := make([]byte, 0, n)
	out, _ = c.write(out, in, false)
	return out, nil
}

// conv holds the DER content length of every element, in the order both
// passes visit them.
type conv struct {
	in       []byte
	maxDepth int
	lens     []int
	next     int
}

// fail returns an *Error for the element that starts at data, a suffix of
// c.in (or a prefix of one): its offset follows from the capacities.
func (c *conv) fail(data []byte, kind error, reason string) error {
	return &Error{Offset: cap(c.in) - cap(data), Reason: reason, Err: kind}
}

// isChunked reports whether tag is a universal constructed OCTET STRING.
func isChunked(tag []byte) bool { return len(tag) == 1 && tag[0] == 0x24 }

// measure records the DER content length of the element at data and its
// descendants, and returns how many bytes the element adds to its parent
// (its whole DER encoding or, inside a chunked OCTET STRING, its contents)
// and the input after it.
func (c *conv) measure(data []byte, depth int, inChunks bool) (int, []byte, error) {
	if depth > c.maxDepth {
		return 0, nil, c.fail(data, ErrTooDeep, fmt.Sprintf("more than %d levels", c.maxDepth))
	}
	tag, body, rest, indefinite, err := c.header(data)
	if err != nil {
		return 0, nil, err
	}
	if inChunks && tag[0] != 0x04 && tag[0] != 0x24 {
		return 0, nil, c.fail(data, ErrMalformed, fmt.Sprintf("constructed OCTET STRING holds tag %#x", tag[0]))
	}
	slot := len(c.lens)
	c.lens = append(c.lens, 0)
	size := 0
	if tag[0]&0x20 == 0 {
		if indefinite {
			return 0, nil, c.fail(data, ErrMalformed, "indefinite length on a primitive element")
		}
		size = len(body)
	} else {
		chunked := isChunked(tag)
		src := body
		if indefinite {
			src = rest
		}
		for {
			if indefinite {
				if len(src) >= 2 && src[0] == 0 && src[1] == 0 {
					rest = src[2:]
					break
				}
				if len(src) == 0 {
					return 0, nil, c.fail(data, ErrMalformed, "missing end-of-contents")
				}
			} else if len(src) == 0 {
				break
			}
			var n int
			n, src, err = c.measure(src, depth+1, chunked)
			if err != nil {
				return 0, nil, err
			}
			size += n
		}
	}
	c.lens[slot] = size
	if inChunks {
		return size, rest, nil
	}
	return len(tag) + LengthSize(size) + size, rest, nil
}

// write appends the element at data as measure sized it and returns the
// input after it. measure has validated the input.
func (c *conv) write(out, data []byte, inChunks bool) ([]byte, []byte) {
	tag, body, rest, indefinite, _ := c.header(data)
	size := c.lens[c.next]
	c.next++
	if !inChunks {
		if isChunked(tag) {
			out = append(out, 0x04)
		} else {
			out = append(out, tag...)
		}
		out = AppendLength(out, size)
	}
	if tag[0]&0x20 == 0 {
		return append(out, body...), rest
	}
	chunked := isChunked(tag)
	src := body
	if indefinite {
		src = rest
	}
	for {
		if indefinite {
			if src[0] == 0 && src[1] == 0 {
				return out, src[2:]
			}
		} else if len(src) == 0 {
			return out, rest
		}
		out, src = c.write(out, src, chunked)
	}
}

// header splits off the element at the start of data: its identifier
// octets, its contents (definite length only) and what follows.
func (c *conv) header(data []byte) (tag, body, rest []byte, indefinite bool, err error) {
	if len(data) < 2 {
		return nil, nil, nil, false, c.fail(data, ErrMalformed, "truncated element")
	}
	if data[0]&^0x20 == 0 {
		// Universal tag 0 is reserved for end-of-contents (X.690
		// §8.1.5), which only closes an indefinite length: read as an
		// element inside a definite one, it would end the container
		// early once the output is streamed again.
		return nil, nil, nil, false, c.fail(data, ErrMalformed, "end-of-contents where an element must be")
	}
	i := 1
	if data[0]&0x1f == 0x1f { // high tag number form
		for {
			if i >= len(data) || i >= maxTagBytes {
				return nil, nil, nil, false, c.fail(data, ErrMalformed, "truncated or overlong tag")
			}
			b := data[i]
			i++
			if b&0x80 == 0 {
				break
			}
		}
		if i >= len(data) {
			return nil, nil, nil, false, c.fail(data, ErrMalformed, "truncated element")
		}
	}
	tag = data[:i]
	l := uint64(data[i])
	i++
	switch {
	case l < 0x80:
	case l == 0x80:
		return tag, nil, data[i:], true, nil
	default:
		n := int(l & 0x7f)
		if n > 4 || i+n > len(data) {
			return nil, nil, nil, false, c.fail(data, ErrMalformed, "bad length")
		}
		l = 0
		for _, b := range data[i : i+n] {
			l = l<<8 | uint64(b)
		}
		i += n
	}
	if l > uint64(len(data)-i) {
		return nil, nil, nil, false, c.fail(data, ErrMalformed, "length exceeds the input")
	}
	end := i + int(l)
	return tag, data[i:end], data[end:], false, nil
}

// LengthSize returns the number of DER length octets AppendLength writes
// for n.
func LengthSize(n int) int {
	switch {
	case n < 0x80:
		return 1
	case n < 0x100:
		return 2
	case n < 0x10000:
		return 3
	case n < 0x1000000:
		return 4
	}
	return 5
}

// AppendLength appends the DER length octets for n (at most 2³²−1) to out.
func AppendLength(out []byte, n int) []byte {
	l := LengthSize(n)
	if l == 1 {
		return append(out, byte(n))
	}
	out = append(out, 0x80|byte(l-1))
	for i := l - 2; i >= 0; i-- {
		out = append(out, byte(n>>(8*i)))
	}
	return out
}

// Stream re-encodes the DER element der the way streaming encoders write
// it: every constructed element gets an indefinite length closed by
// end-of-contents octets, and every OCTET STRING longer than chunk bytes
// becomes a constructed OCTET STRING of chunk-byte pieces. ToDER undoes it
// exactly. It exists so that tests and tools can produce the BER shapes
// devices send from any DER signature; errors are [*Error], with nesting
// bounded by DefaultMaxDepth.
func Stream(der []byte, chunk int) ([]byte, error) {
	if chunk <= 0 {
		return nil, fmt.Errorf("ber: chunk size %d is not positive", chunk)
	}
	c := conv{in: der, maxDepth: DefaultMaxDepth}
	out, rest, err := c.stream(make([]byte, 0, len(der)+len(der)/8+16), der, chunk, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, c.fail(rest, ErrTrailingData, fmt.Sprintf("%d bytes", len(rest)))
	}
	return out, nil
}

// stream appends the streamed form of the element at data.
func (c *conv) stream(out, data []byte, chunk, depth int) ([]byte, []byte, error) {
	if depth > c.maxDepth {
		return nil, nil, c.fail(data, ErrTooDeep, fmt.Sprintf("more than %d levels", c.maxDepth))
	}
	tag, body, rest, indefinite, err := c.header(data)
	if err != nil {
		return nil, nil, err
	}
	if indefinite {
		return nil, nil, c.fail(data, ErrMalformed, "indefinite length in DER input")
	}
	switch {
	case tag[0]&0x20 != 0:
		out = append(out, tag...)
		out = append(out, 0x80)
		for len(body) > 0 {
			if out, body, err = c.stream(out, body, chunk, depth+1); err != nil {
				return nil, nil, err
			}
		}
		out = append(out, 0, 0)
	case len(tag) == 1 && tag[0] == 0x04 && len(body) > chunk:
		out = append(out, 0x24, 0x80)
		for len(body) > 0 {
			n := min(chunk, len(body))
			out = append(out, 0x04)
			out = AppendLength(out, n)
			out = append(out, body[:n]...)
			body = body[n:]
		}
		out = append(out, 0, 0)
	default:
		out = append(out, tag...)
		out = AppendLength(out, len(body))
		out = append(out, body...)
	}
	return out, rest, nil
}
