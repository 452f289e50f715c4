package plistcheck_test

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/enrollkit/enrollkit/internal/plistcheck"
	"howett.net/plist"
)

// A body is checked before the plist package decodes it: a device's
// message passes, a small document whose arrays each refer twice to the
// next does not.
func ExampleCheck() {
	body, _ := plist.Marshal(map[string]any{"MessageType": "CheckOut", "EnrollmentID": "E"}, plist.BinaryFormat)
	fmt.Println(plistcheck.Check(body))

	const levels = 30
	bomb := []byte("bplist00\x51x")
	for i := range levels {
		bomb = append(bomb, 0xA2, byte(i), byte(i))
	}
	table := len(bomb)
	bomb = append(bomb, 8) // the string
	for i := range levels {
		bomb = append(bomb, byte(10+3*i))
	}
	var trailer [32]byte
	trailer[6], trailer[7] = 1, 1
	binary.BigEndian.PutUint64(trailer[8:], levels+1)
	binary.BigEndian.PutUint64(trailer[16:], levels)
	binary.BigEndian.PutUint64(trailer[24:], uint64(table))
	bomb = append(bomb, trailer[:]...)
	err := plistcheck.Check(bomb)
	fmt.Println(len(bomb), errors.Is(err, plistcheck.ErrExpands))
	// Output:
	// <nil>
	// 163 true
}
