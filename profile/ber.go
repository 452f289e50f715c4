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

// normalizeBER rewrites a BER-encoded structure as DER-length encoding:
// indefinite lengths become definite and constructed OCTET STRINGs (the
// chunks a streaming signer such as openssl cms -stream writes for the
// encapsulated content) become one primitive OCTET STRING. The CMS library
// would otherwise keep only the first chunk and report a digest mismatch
// for any profile larger than one chunk. Nesting is bounded by
// maxBERDepth, and the input must be exactly one element.
func normalizeBER(data []byte) ([]byte, error) {
	out, rest, err := berElement(make([]byte, 0, len(data)), data, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("trailing data after the ASN.1 structure")
	}
	return out, nil
}

// berElement converts the element at the start of data, appends it to
// out and returns the input after it.
func berElement(out, data []byte, depth int) ([]byte, []byte, error) {
	if depth > maxBERDepth {
		return nil, nil, errBERDepth
	}
	tag, body, rest, indefinite, err := berHeader(data)
	if err != nil {
		return nil, nil, err
	}
	constructed := tag[0]&0x20 != 0
	if !constructed {
		if indefinite {
			return nil, nil, errors.New("indefinite length on a primitive element")
		}
		out = append(out, tag...)
		out = appendLength(out, len(body))
		return append(out, body...), rest, nil
	}

	// Convert the children into a scratch buffer to learn their length.
	octets := len(tag) == 1 && tag[0] == 0x24 // constructed OCTET STRING
	var children []byte
	src := body
	if indefinite {
		src = rest
	}
	for {
		if indefinite {
			if len(src) >= 2 && src[0] == 0 && src[1] == 0 {
				src = src[2:]
				break
			}
			if len(src) == 0 {
				return nil, nil, errors.New("missing end of contents")
			}
		} else if len(src) == 0 {
			break
		}
		start := len(children)
		children, src, err = berElement(children, src, depth+1)
		if err != nil {
			return nil, nil, err
		}
		if octets {
			// Keep only the chunk's contents: a primitive OCTET STRING
			// header is tag, then the length; nested constructed chunks
			// were already flattened to primitive ones.
			chunk := children[start:]
			if chunk[0] != 0x04 {
				return nil, nil, fmt.Errorf("constructed OCTET STRING holds tag %#x", chunk[0])
			}
			_, content, _, _, _ := berHeader(chunk)
			children = append(children[:start], content...)
		}
	}
	if indefinite {
		rest = src
	}
	if octets {
		out = append(out, 0x04)
	} else {
		out = append(out, tag...)
	}
	out = appendLength(out, len(children))
	return append(out, children...), rest, nil
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
