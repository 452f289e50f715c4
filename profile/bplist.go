package profile

import "github.com/enrollkit/enrollkit/internal/plistcheck"

// maxPlistNodes bounds the number of values a binary property list may
// expand to, however long it is. A binary plist refers to objects by
// index, so a few kilobytes of arrays that each refer to the next one many
// times decode into billions of values; an enrollment profile has a few
// hundred.
const maxPlistNodes = 1 << 17

// checkPlist refuses a property list before it is decoded when decoding
// it would build more values than it has bytes or than maxPlistNodes
// (binary), cost more memory than its size allows, nest deeper than
// plistcheck.MaxDepth or loop. The checks are package plistcheck's, the
// ones every parser of device input runs; the XML depth is read with the
// tokenizer the decoder uses, so a quoted "/>" in an attribute or an end
// tag inside a processing instruction or a DOCTYPE cannot hide a level.
func checkPlist(data []byte) error { return plistcheck.CheckValues(data, maxPlistNodes) }
