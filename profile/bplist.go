package profile

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/enrollkit/enrollkit/internal/plistcheck"
)

// maxPlistDepth must equal plistcheck.MaxDepth, the XML depth limit every
// parser of device input uses; this fails to compile when they differ.
var _ = [1]struct{}{}[maxPlistDepth-plistcheck.MaxDepth]

// maxPlistNodes bounds the number of values a binary property list may
// expand to. A binary plist refers to objects by index, so a few kilobytes
// of arrays that each refer to the next one many times decode into
// billions of values; an enrollment profile has a few hundred.
const maxPlistNodes = 1 << 17

// maxPlistDepth bounds container nesting in a binary property list.
const maxPlistDepth = 256

var errPlistBomb = errors.New("binary property list expands too far")

// checkBplist walks the object graph of a binary property list without
// decoding it and fails when the tree it stands for would have more than
// maxPlistNodes values, nest deeper than maxPlistDepth, or loop. It checks
// only what it needs to walk; the decoder checks the rest.
func checkBplist(data []byte) error {
	if len(data) < 40 {
		return errors.New("binary property list too short")
	}
	tr := data[len(data)-32:]
	offSize, refSize := int(tr[6]), int(tr[7])
	num := binary.BigEndian.Uint64(tr[8:])
	top := binary.BigEndian.Uint64(tr[16:])
	table := binary.BigEndian.Uint64(tr[24:])
	end := uint64(len(data) - 32)
	if offSize < 1 || offSize > 8 || refSize < 1 || refSize > 8 || num == 0 || top >= num ||
		table < 8 || table > end || num > (end-table)/uint64(offSize) {
		return errors.New("malformed binary property list trailer")
	}
	readInt := func(at uint64, size int) uint64 {
		var v uint64
		for _, b := range data[at : at+uint64(size)] {
			v = v<<8 | uint64(b)
		}
		return v
	}
	memo := make([]int32, num) // 0 unknown, -1 on the current path, else the size
	var count func(i uint64, depth int) (int64, error)
	count = func(i uint64, depth int) (int64, error) {
		switch m := memo[i]; {
		case m > 0:
			return int64(m), nil
		case m < 0:
			return 0, errors.New("binary property list refers to itself")
		}
		if depth > maxPlistDepth {
			return 0, errPlistBomb
		}
		off := readInt(table+i*uint64(offSize), offSize)
		if off < 8 || off >= table {
			return 0, errors.New("binary property list object out of range")
		}
		marker := data[off]
		refs := uint64(0)
		switch marker >> 4 {
		case 0xA, 0xC: // array, set
			refs = 1
		case 0xD: // dictionary: keys, then values
			refs = 2
		default:
			memo[i] = 1
			return 1, nil
		}
		n, pos := uint64(marker&0x0f), off+1
		if n == 0x0f {
			if pos >= table || data[pos]>>4 != 0x1 {
				return 0, errors.New("malformed binary property list count")
			}
			size := 1 << (data[pos] & 0x0f)
			if size > 8 || pos+1+uint64(size) > table {
				return 0, errors.New("malformed binary property list count")
			}
			n, pos = readInt(pos+1, size), pos+1+uint64(size)
		}
		if n > (table-pos)/uint64(refSize)/refs {
			return 0, errors.New("binary property list container out of range")
		}
		memo[i] = -1
		total := int64(1)
		for k := uint64(0); k < n*refs; k++ {
			r := readInt(pos+k*uint64(refSize), refSize)
			if r >= num {
				return 0, errors.New("binary property list reference out of range")
			}
			c, err := count(r, depth+1)
			if err != nil {
				return 0, err
			}
			if total += c; total > maxPlistNodes {
				return 0, fmt.Errorf("%w (more than %d values)", errPlistBomb, maxPlistNodes)
			}
		}
		memo[i] = int32(total)
		return total, nil
	}
	_, err := count(top, 0)
	return err
}

// checkXMLDepth fails when the elements of an XML document nest deeper
// than maxPlistDepth. The XML decoder recurses once per level, and a
// megabyte of nested arrays costs it over a hundred megabytes. The depth
// is read with the tokenizer the decoder uses, so a quoted "/>" in an
// attribute or an end tag inside a processing instruction or a DOCTYPE
// cannot hide a level.
func checkXMLDepth(data []byte) error {
	return plistcheck.Check(data)
}
