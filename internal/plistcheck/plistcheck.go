package plistcheck

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
)

var (
	// ErrMalformed reports a binary property list whose trailer, offset
	// table or object references cannot be read.
	ErrMalformed = errors.New("plistcheck: malformed binary property list")
	// ErrExpands reports a document whose shared containers would decode
	// into more values than the document has bytes.
	ErrExpands = errors.New("plistcheck: shared containers expand beyond the document's size")
	// ErrTooDeep reports arrays, sets, dictionaries or XML elements
	// nested deeper than MaxDepth.
	ErrTooDeep = errors.New("plistcheck: nesting too deep")
	// ErrCycle reports a container that contains itself.
	ErrCycle = errors.New("plistcheck: container refers to itself")
)

// MaxDepth is the deepest nesting of arrays, sets and dictionaries (in XML,
// of elements) Check accepts. Device messages nest a handful of levels.
const MaxDepth = 256

// Error is the error Check returns: what is wrong and at which object.
// Unwrap gives one of ErrMalformed, ErrExpands, ErrTooDeep or ErrCycle.
type Error struct {
	// Object is the index of the binary object being read, or -1 for the
	// trailer and for XML.
	Object int
	// Err is the sentinel error.
	Err error
	// Detail says what exactly was wrong.
	Detail string
}

// Error returns the message, prefixed with the package name.
func (e *Error) Error() string {
	if e.Object < 0 {
		return fmt.Sprintf("%v: %s", e.Err, e.Detail)
	}
	return fmt.Sprintf("%v: object %d: %s", e.Err, e.Object, e.Detail)
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }

const trailerLen = 32

// header is how every binary property list starts.
var header = []byte("bplist")

// IsBinary reports whether b is a binary property list (by its header).
func IsBinary(b []byte) bool { return bytes.HasPrefix(b, header) }

// Check returns an *Error when decoding b would build more than len(b)
// values, nest deeper than MaxDepth or loop. A binary property list is
// checked by its trailer, offset table and container references (four
// bytes of memory per object); anything else is scanned as XML for its
// element nesting only (XML cannot share objects). Check does not validate
// the rest: the decoder does.
func Check(b []byte) error {
	if !IsBinary(b) {
		return checkXMLDepth(b)
	}
	if len(b) < 8+trailerLen {
		return &Error{Object: -1, Err: ErrMalformed, Detail: "shorter than header and trailer"}
	}
	t := b[len(b)-trailerLen:]
	offSize, refSize := int(t[6]), int(t[7])
	numObjects, top, tableOff := be(t[8:16]), be(t[16:24]), be(t[24:32])
	end := uint64(len(b) - trailerLen)
	switch {
	case offSize < 1 || offSize > 8 || refSize < 1 || refSize > 8:
		return &Error{Object: -1, Err: ErrMalformed, Detail: fmt.Sprintf("offset size %d, reference size %d", offSize, refSize)}
	case numObjects == 0 || top >= numObjects:
		return &Error{Object: -1, Err: ErrMalformed, Detail: fmt.Sprintf("top object %d of %d", top, numObjects)}
	case tableOff < 8 || tableOff > end || numObjects > (end-tableOff)/uint64(offSize):
		return &Error{Object: -1, Err: ErrMalformed, Detail: "offset table outside the document"}
	}
	c := &checker{
		b:       b,
		table:   b[tableOff : tableOff+numObjects*uint64(offSize)],
		offSize: offSize,
		refSize: refSize,
		end:     tableOff,
		limit:   min(uint64(len(b)), uint64(inProgress-1)),
		sizes:   make([]uint32, numObjects),
	}
	_, err := c.size(int(top), 0)
	return err
}

// inProgress marks a container whose size is being counted, to find cycles.
const inProgress = ^uint32(0)

type checker struct {
	b                []byte
	table            []byte
	offSize, refSize int
	end              uint64 // objects lie in b[8:end]
	limit            uint64
	sizes            []uint32 // values a decoder builds for each object; 0 = not yet counted
}

// size returns how many values decoding object i builds, itself included.
func (c *checker) size(i, depth int) (uint64, error) {
	switch s := c.sizes[i]; s {
	case inProgress:
		return 0, &Error{Object: i, Err: ErrCycle, Detail: "reached again from inside itself"}
	case 0:
	default:
		return uint64(s), nil
	}
	off := be(c.table[i*c.offSize : (i+1)*c.offSize])
	if off < 8 || off >= c.end {
		return 0, &Error{Object: i, Err: ErrMalformed, Detail: fmt.Sprintf("offset %d outside the object area", off)}
	}
	marker := c.b[off]
	var refsPer uint64
	switch marker >> 4 {
	case 0xA, 0xB, 0xC: // array, ordered set, set
		refsPer = 1
	case 0xD: // dictionary: keys, then values
		refsPer = 2
	default: // a scalar decodes into one value
		c.sizes[i] = 1
		return 1, nil
	}
	if depth >= MaxDepth {
		return 0, &Error{Object: i, Err: ErrTooDeep, Detail: fmt.Sprintf("more than %d levels", MaxDepth)}
	}
	count, pos := uint64(marker&0xF), off+1
	if count == 0xF {
		if pos >= c.end || c.b[pos]>>4 != 0x1 || c.b[pos]&0xF > 3 {
			return 0, &Error{Object: i, Err: ErrMalformed, Detail: "container count is not an integer"}
		}
		n := uint64(1) << (c.b[pos] & 0xF)
		if pos+1+n > c.end {
			return 0, &Error{Object: i, Err: ErrMalformed, Detail: "container count past the object area"}
		}
		count, pos = be(c.b[pos+1:pos+1+n]), pos+1+n
	}
	if count > (c.end-pos)/uint64(c.refSize)/refsPer {
		return 0, &Error{Object: i, Err: ErrMalformed, Detail: fmt.Sprintf("%d references past the object area", count*refsPer)}
	}
	c.sizes[i] = inProgress
	total := uint64(1)
	refs := c.b[pos : pos+count*refsPer*uint64(c.refSize)]
	for len(refs) > 0 {
		ref := be(refs[:c.refSize])
		refs = refs[c.refSize:]
		if ref >= uint64(len(c.sizes)) {
			return 0, &Error{Object: i, Err: ErrMalformed, Detail: fmt.Sprintf("reference to object %d of %d", ref, len(c.sizes))}
		}
		n, err := c.size(int(ref), depth+1)
		if err != nil {
			return 0, err
		}
		if total += n; total > c.limit {
			return 0, &Error{Object: i, Err: ErrExpands, Detail: fmt.Sprintf("more than %d values from %d bytes", c.limit, len(c.b))}
		}
	}
	c.sizes[i] = uint32(total)
	return total, nil
}

// be reads a big-endian unsigned integer of up to eight bytes.
func be(p []byte) uint64 {
	var v uint64
	for _, x := range p {
		v = v<<8 | uint64(x)
	}
	return v
}

// checkXMLDepth refuses XML whose elements nest deeper than MaxDepth. It
// reads the document with the tokenizer the plist package decodes with,
// so it sees the same elements: a byte scan can be misled by a quoted "/>"
// in an attribute or an end tag inside a processing instruction or a
// DOCTYPE's internal subset. Where the tokenizer stops on an error the
// decoder stops too, so what follows is not checked. RawToken skips the
// namespace and end-tag matching the decoder's Token adds: a mismatched
// end tag stops the decoder there, and the count is right up to it.
func checkXMLDepth(b []byte) error {
	if bytes.Count(b, []byte("<")) <= MaxDepth {
		return nil
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	depth := 0
	for {
		tok, err := d.RawToken()
		if err != nil {
			return nil
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth++; depth > MaxDepth {
				return &Error{Object: -1, Err: ErrTooDeep, Detail: fmt.Sprintf("XML elements nest more than %d levels at byte %d", MaxDepth, d.InputOffset())}
			}
		case xml.EndElement:
			depth--
		}
	}
}
