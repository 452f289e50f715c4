package profile

import (
	"errors"
	"fmt"
)

// maxBERDepth bounds the nesting of a CMS structure. A signed profile
// nests about a dozen levels deep, certificates included; hostile input
// could otherwise nest thousands of levels into recursive decoders.
const maxBERDepth = 64

var errBERDepth = errors.New("ASN.1 nesting too deep")

// normalizeBER rewrites a BER-encoded structure with DER lengths:
// indefinite lengths become definite and constructed OCTET STRINGs (the
// chunks a streaming signer such as openssl cms -stream writes for the
// encapsulated content) become one primitive OCTET STRING. The CMS library
// would otherwise keep only the first chunk and report a digest mismatch
// for any profile larger than one chunk. Nesting is bounded by
// maxBERDepth, and the input must be exactly one element.
//
// It works in two passes — measure every element, then write — so that
// memory and time stay linear in the input however deep it nests.
func normalizeBER(data []byte) ([]byte, error) {
	var c berConv
	n, rest, err := c.measure(data, 0, false)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("trailing data after the ASN.1 structure")
	}
	out := make([]byte, 0, n)
	out, _ = c.write(out, data, false)
	return out, nil
}

// berConv holds the DER content length of every element, in the order
// both passes visit them.
type berConv struct {
	lens []int
	next int
}

// isChunked reports whether tag is a universal constructed OCTET STRING.
func isChunked(tag []byte) bool { return len(tag) == 1 && tag[0] == 0x24 }

// measure records the DER content length of the element at data and its
// descendants, and returns how many bytes the element adds to its parent:
// its whole DER encoding or, inside a chunked OCTET STRING, its contents.
func (c *berConv) measure(data []byte, depth int, inChunks bool) (int, []byte, error) {
	if depth > maxBERDepth {
		return 0, nil, errBERDepth
	}
	tag, body, rest, indefinite, err := berHeader(data)
	if err != nil {
		return 0, nil, err
	}
	if inChunks && tag[0] != 0x04 && tag[0] != 0x24 {
		return 0, nil, fmt.Errorf("constructed OCTET STRING holds tag %#x", tag[0])
	}
	slot := len(c.lens)
	c.lens = append(c.lens, 0)
	size := 0
	if tag[0]&0x20 == 0 {
		if indefinite {
			return 0, nil, errors.New("indefinite length on a primitive element")
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
					return 0, nil, errors.New("missing end of contents")
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
	return len(tag) + lenLen(size) + size, rest, nil
}

// write appends the element at data as measure sized it and returns the
// input after it. The input was validated by measure.
func (c *berConv) write(out, data []byte, inChunks bool) ([]byte, []byte) {
	tag, body, rest, indefinite, _ := berHeader(data)
	size := c.lens[c.next]
	c.next++
	if !inChunks {
		if isChunked(tag) {
			out = append(out, 0x04)
		} else {
			out = append(out, tag...)
		}
		out = appendLength(out, size)
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

// berHeader splits off the element at the start of data: its tag bytes,
// its contents (definite length only) and what follows.
func berHeader(data []byte) (tag, body, rest []byte, indefinite bool, err error) {
	if len(data) < 2 {
		return nil, nil, nil, false, errors.New("truncated ASN.1 element")
	}
	i := 1
	if data[0]&0x1f == 0x1f { // high tag number form
		for i < len(data) && data[i]&0x80 != 0 {
			i++
		}
		i++
		if i >= len(data) {
			return nil, nil, nil, false, errors.New("truncated ASN.1 tag")
		}
	}
	tag = data[:i]
	l := int(data[i])
	i++
	switch {
	case l < 0x80:
	case l == 0x80:
		return tag, nil, data[i:], true, nil
	default:
		n := l & 0x7f
		if n > 4 || i+n > len(data) {
			return nil, nil, nil, false, errors.New("bad ASN.1 length")
		}
		l = 0
		for _, b := range data[i : i+n] {
			l = l<<8 | int(b)
		}
		i += n
	}
	if l > len(data)-i {
		return nil, nil, nil, false, errors.New("ASN.1 length exceeds the input")
	}
	return tag, data[i : i+l], data[i+l:], false, nil
}

// appendLength appends a DER length.
func appendLength(out []byte, n int) []byte {
	switch l := lenLen(n); l {
	case 1:
		return append(out, byte(n))
	default:
		out = append(out, 0x80|byte(l-1))
		for i := l - 2; i >= 0; i-- {
			out = append(out, byte(n>>(8*i)))
		}
		return out
	}
}
