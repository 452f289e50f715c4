package plistcheck

import (
	"errors"
	"fmt"

	"howett.net/plist"
)

// Unmarshal decodes data into v with the plist package once Check accepts
// it, and returns the format (plist.XMLFormat, plist.BinaryFormat, …). A
// panic of the decoder on hostile input becomes an error. Errors from Check
// are an *Error; decoding errors are the plist package's.
func Unmarshal(data []byte, v any) (int, error) { return UnmarshalValues(data, v, len(data)) }

// UnmarshalValues is Unmarshal with CheckValues(data, maxValues) as the
// check.
func UnmarshalValues(data []byte, v any, maxValues int) (format int, err error) {
	if err := CheckValues(data, maxValues); err != nil {
		return 0, err
	}
	defer func() {
		if r := recover(); r != nil {
			format, err = 0, fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	return plist.Unmarshal(data, v)
}

var errPanic = errors.New("malformed property list")
