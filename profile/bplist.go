package profile

import "github.com/enrollkit/enrollkit/internal/plistcheck"

// maxPlistNodes bounds the number of values a binary property list may
// expand to, however long it is. A binary plist refers to objects by
// index, so a few kilobytes of arrays that each refer to the next one many
// times decode into billions of values; an enrollment profile has a few
// hundred.
const maxPlistNodes = 1 << 17

// decodePlist decodes data into v once it passes the checks every parser
// of device input runs: it is refused when decoding it would build more
// values than it has bytes or than maxPlistNodes (binary), cost more
// memory than its size allows, nest deeper than plistcheck.MaxDepth or
// loop. The XML depth is read with the tokenizer the decoder uses, so a
// quoted "/>" in an attribute or an end tag inside a processing
// instruction or a DOCTYPE cannot hide a level. A panic of the decoder on
// hostile input is an error.
func decodePlist(data []byte, v any) (format int, err error) {
	return plistcheck.UnmarshalValues(data, v, maxPlistNodes)
}
