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
	// ErrCostly reports a document, XML or binary, whose decoding would
	// take more memory than MaxCostPerByte times its size plus BaseCost:
	// containers and small values packed denser than any device writes.
	ErrCostly = errors.New("plistcheck: decoding would cost too much memory for the document's size")
)

// MaxCostPerByte and BaseCost bound the memory decoding a document Check
// accepts may take: at most MaxCostPerByte times its length plus BaseCost
// bytes, as estimated from what the plist package allocates for each kind
// of value (see the cost constants). A device's messages cost between 4
// and 35 times their size: long strings and data about 5, an application
// list about 16, a dictionary of booleans in XML about 35. A dictionary
// costs the XML decoder some 1.4 KB however short it is written, so 16 MB
// of "<dict/>" would take 3 GB; such documents are refused.
const (
	MaxCostPerByte = 48
	BaseCost       = 16 << 10
)

// Estimated bytes the plist package allocates while decoding, per value.
// They are measured on its version in go.mod (total allocation, which
// bounds the peak) and rounded up.
const (
	// XML: the tokenizer's copies of text and names, the string and the
	// base64 decoding of data, per byte of document.
	xmlCostPerByte = 5
	// XML: a dictionary starts with two 32-entry slices, an array with a
	// 10-entry one; every element is a token, a name and a value.
	xmlDictCost    = 1536
	xmlArrayCost   = 512
	xmlElementCost = 384
	// Text (OpenStep) format, which the plist package tries when a document
	// does not start as XML: per byte (the document is read and converted
	// to a string), per dictionary and array, and per separator (",", ";"
	// or "="), each of which stands for a value.
	textCostPerByte   = 8
	textDictCost      = 1536
	textArrayCost     = 768
	textSeparatorCost = 192
	// Binary: the body is read into a copy and strings are copied out (UTF-16
	// ones twice), per byte of document; each object has a slot in the
	// object table.
	binCostPerByte   = 6
	binObjectCost    = 16
	binContainerCost = 48 // parsing a container once: its struct
	binRefCost       = 16 // ... and a slot per reference
	// Binary, per value as decoded (shared objects at every reference): a
	// Go map or slice and a slot for each of its entries.
	binDictCost  = 256
	binEntryCost = 48
	binArrayCost = 48
	binElemCost  = 16
	binValueCost = 16
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
// values (binary), take more memory than MaxCostPerByte*len(b) + BaseCost
// bytes, nest deeper than MaxDepth or loop. A binary property list is
// checked by its trailer, offset table and container references (eight
// bytes of memory per object); anything else is scanned as XML: its
// elements are counted by kind without allocating, and their nesting is
// read with the XML tokenizer. A document that does not start with "<"
// may be read in the text (OpenStep) format, and its braces, parentheses
// and separators are counted too. Check does not validate the rest: the
// decoder does.
func Check(b []byte) error { return check(b, uint64(len(b))) }

// CheckValues is Check with one more bound: a binary property list may
// decode into at most maxValues values, however long it is. An XML
// document is checked as by Check. Package profile bounds a profile so.
func CheckValues(b []byte, maxValues int) error {
	return check(b, min(uint64(len(b)), uint64(max(maxValues, 0))))
}

// check is Check with at most limit values from a binary property list.
func check(b []byte, limit uint64) error {
	if !IsBinary(b) {
		tags, err := checkXMLCost(b)
		if err != nil || tags <= MaxDepth {
			return err
		}
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
	budget := costLimit(len(b))
	fixed := binCostPerByte*uint64(len(b)) + binObjectCost*numObjects
	if fixed > budget {
		return &Error{Object: -1, Err: ErrCostly, Detail: fmt.Sprintf("%d objects in %d bytes", numObjects, len(b))}
	}
	c := &checker{
		b:         b,
		table:     b[tableOff : tableOff+numObjects*uint64(offSize)],
		offSize:   offSize,
		refSize:   refSize,
		end:       tableOff,
		limit:     min(limit, uint64(inProgress-1)),
		sizes:     make([]uint32, numObjects),
		costs:     make([]uint32, numObjects),
		budget:    budget,
		spent:     fixed,
		costLimit: min(budget, uint64(inProgress-1)),
	}
	_, _, err := c.size(int(top), 0)
	return err
}

// costLimit is the most memory decoding n bytes may take.
func costLimit(n int) uint64 { return MaxCostPerByte*uint64(n) + BaseCost }

// inProgress marks a container whose size is being counted, to find cycles.
const inProgress = ^uint32(0)

type checker struct {
	b                []byte
	table            []byte
	offSize, refSize int
	end              uint64 // objects lie in b[8:end]
	limit            uint64
	sizes            []uint32 // values a decoder builds for each object; 0 = not yet counted
	costs            []uint32 // bytes decoding each object takes, as sizes
	budget           uint64   // bytes the whole document may cost
	spent            uint64   // fixed costs and containers parsed so far
	costLimit        uint64   // bound of one object's cost
}

// size returns how many values decoding object i builds, itself included,
// and an estimate of the bytes they take.
func (c *checker) size(i, depth int) (uint64, uint64, error) {
	switch s := c.sizes[i]; s {
	case inProgress:
		return 0, 0, &Error{Object: i, Err: ErrCycle, Detail: "reached again from inside itself"}
	case 0:
	default:
		return uint64(s), uint64(c.costs[i]), nil
	}
	off := be(c.table[i*c.offSize : (i+1)*c.offSize])
	if off < 8 || off >= c.end {
		return 0, 0, &Error{Object: i, Err: ErrMalformed, Detail: fmt.Sprintf("offset %d outside the object area", off)}
	}
	marker := c.b[off]
	var refsPer uint64
	switch marker >> 4 {
	case 0xA, 0xB, 0xC: // array, ordered set, set
		refsPer = 1
	case 0xD: // dictionary: keys, then values
		refsPer = 2
	default: // a scalar decodes into one value
		c.sizes[i], c.costs[i] = 1, binValueCost
		return 1, binValueCost, nil
	}
	if depth >= MaxDepth {
		return 0, 0, &Error{Object: i, Err: ErrTooDeep, Detail: fmt.Sprintf("more than %d levels", MaxDepth)}
	}
	count, pos := uint64(marker&0xF), off+1
	if count == 0xF {
		if pos >= c.end || c.b[pos]>>4 != 0x1 || c.b[pos]&0xF > 3 {
			return 0, 0, &Error{Object: i, Err: ErrMalformed, Detail: "container count is not an integer"}
		}
		n := uint64(1) << (c.b[pos] & 0xF)
		if pos+1+n > c.end {
			return 0, 0, &Error{Object: i, Err: ErrMalformed, Detail: "container count past the object area"}
		}
		count, pos = be(c.b[pos+1:pos+1+n]), pos+1+n
	}
	if count > (c.end-pos)/uint64(c.refSize)/refsPer {
		return 0, 0, &Error{Object: i, Err: ErrMalformed, Detail: fmt.Sprintf("%d references past the object area", count*refsPer)}
	}
	// The parser builds each container once, with a slot per reference.
	if c.spent += binContainerCost + binRefCost*count*refsPer; c.spent > c.budget {
		return 0, 0, c.costly(i)
	}
	c.sizes[i] = inProgress
	total, cost := uint64(1), uint64(binArrayCost+binElemCost*count)
	if refsPer == 2 {
		cost = binDictCost + binEntryCost*count
	}
	refs := c.b[pos : pos+count*refsPer*uint64(c.refSize)]
	for len(refs) > 0 {
		ref := be(refs[:c.refSize])
		refs = refs[c.refSize:]
		if ref >= uint64(len(c.sizes)) {
			return 0, 0, &Error{Object: i, Err: ErrMalformed, Detail: fmt.Sprintf("reference to object %d of %d", ref, len(c.sizes))}
		}
		n, nc, err := c.size(int(ref), depth+1)
		if err != nil {
			return 0, 0, err
		}
		if total += n; total > c.limit {
			return 0, 0, &Error{Object: i, Err: ErrExpands, Detail: fmt.Sprintf("more than %d values from %d bytes", c.limit, len(c.b))}
		}
		if cost += nc; cost > c.costLimit || c.spent+cost > c.budget {
			return 0, 0, c.costly(i)
		}
	}
	c.sizes[i], c.costs[i] = uint32(total), uint32(cost)
	return total, cost, nil
}

func (c *checker) costly(i int) error {
	return &Error{Object: i, Err: ErrCostly, Detail: fmt.Sprintf("more than %d bytes to decode from %d bytes", c.budget, len(c.b))}
}

// be reads a big-endian unsigned integer of up to eight bytes.
func be(p []byte) uint64 {
	var v uint64
	for _, x := range p {
		v = v<<8 | uint64(x)
	}
	return v
}

// checkXMLCost refuses XML whose elements would cost the decoder more than
// costLimit(len(b)), and returns how many start tags it counted. It reads
// bytes, not tokens, and never allocates: every element the decoder builds
// starts with "<" and a name, so counting each such "<" by its local name
// (after any prefix) can only count too many (markup inside comments,
// CDATA sections, processing instructions or a DOCTYPE), never too few;
// XML does not allow "<" inside an attribute value.
func checkXMLCost(b []byte) (int, error) {
	limit := costLimit(len(b))
	if !startsAsXML(b) {
		if err := checkTextCost(b, limit); err != nil {
			return 0, err
		}
	}
	cost := xmlCostPerByte * uint64(len(b))
	tags := 0
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '<')
		if j < 0 {
			break
		}
		i += j + 1
		n := i
		for n < len(b) && isNameByte(b[n]) {
			n++
		}
		if n == i {
			continue // an end tag, a comment, a declaration or a stray "<"
		}
		name := b[i:n]
		if k := bytes.LastIndexByte(name, ':'); k >= 0 {
			name = name[k+1:]
		}
		switch string(name) {
		case "dict":
			cost += xmlDictCost
		case "array":
			cost += xmlArrayCost
		default:
			cost += xmlElementCost
		}
		tags++
		if cost > limit {
			return tags, &Error{Object: -1, Err: ErrCostly, Detail: fmt.Sprintf("%d elements by byte %d cost more than %d bytes to decode from %d bytes", tags, i-1, limit, len(b))}
		}
		i = n
	}
	return tags, nil
}

// startsAsXML reports whether b's first byte past white space and a UTF-8
// byte order mark is "<". Only then does the plist package never read b
// in the text format: a text document that starts with "<" starts with a
// data value, and nothing may follow it.
func startsAsXML(b []byte) bool {
	b = bytes.TrimPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '<'
}

// checkTextCost refuses a document whose reading in the text (OpenStep)
// format would cost more than limit. It counts bytes, not tokens, so
// braces, parentheses and separators inside quoted strings and comments
// count too: too many, never too few. Every byte of a UTF-16 "{" is
// itself "{" or zero, so UTF-16 documents are counted too.
func checkTextCost(b []byte, limit uint64) error {
	cost := textCostPerByte * uint64(len(b))
	for i, c := range b {
		switch c {
		case '{':
			cost += textDictCost
		case '(':
			cost += textArrayCost
		case ',', ';', '=':
			cost += textSeparatorCost
		default:
			continue
		}
		if cost > limit {
			return &Error{Object: -1, Err: ErrCostly, Detail: fmt.Sprintf("text format: values by byte %d cost more than %d bytes to decode from %d bytes", i, limit, len(b))}
		}
	}
	return nil
}

// isNameByte reports whether c may be part of an XML name. Every byte of a
// multi-byte UTF-8 sequence counts as one, as the tokenizer accepts most
// non-ASCII letters.
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == ':' || c == '-' || c == '.' || c >= 0x80
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
