// Package plistcheck bounds the work of decoding an untrusted property list
// before a decoder walks it.
//
// Devices send property lists: check-ins and command results, and the
// MachineInfo they post to the account-driven enrollment BaseURL. Decoding
// one into Go values (a map[string]any, an []any) has two costs that the
// body's length does not bound.
//
// A binary property list stores every object once and refers to it by
// index, so one array or dictionary may be referenced from many places,
// and the decoder copies a shared container at every reference: a 221-byte
// body that nests an array of two references to the same array 26 levels
// deep decodes into 2^26 values, which takes the plist package a minute and
// gigabytes of memory, and a few levels more exhaust the process. Apple's
// writer never shares containers (it uniques strings, numbers, dates and
// data only), so a device's body is a tree, and a tree never decodes into
// more values than it has bytes.
//
// The XML decoder recurses once per element, so a megabyte of nested
// arrays costs it hundreds of megabytes of stack. Device messages nest a
// handful of levels.
//
// Every value also costs the decoder memory out of proportion to the bytes
// that write it: an XML "<dict/>" is seven bytes, and the plist package
// allocates some 1.4 KB for it, so 16 MB of small dictionaries take
// gigabytes. Binary containers cost less, but a one-byte empty dictionary
// still becomes a Go map.
//
// [Check] walks the binary reference graph once, or counts the XML
// elements by kind in one pass over the bytes and reads their nesting with
// the tokenizer the plist package itself uses, and refuses a document that
// would expand past its own length, cost more than [MaxCostPerByte] times
// its length plus [BaseCost] to decode, nest deeper than [MaxDepth] or
// refer in a cycle. Every caller runs it on untrusted input before
// decoding, most through [Unmarshal], which checks and then decodes with
// the plist package, turning a panic of the decoder into an error.
//
// The formats are Apple's property lists, binary (bplist00) and XML,
// described at
// https://developer.apple.com/documentation/corefoundation/cfpropertylistformat.
package plistcheck
