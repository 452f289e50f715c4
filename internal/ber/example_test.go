package ber_test

import (
	"errors"
	"fmt"

	"github.com/enrollkit/enrollkit/internal/ber"
)

func ExampleToDER() {
	// SEQUENCE (indefinite) { OCTET STRING in two chunks "ab", "c" }
	streamed := []byte{0x30, 0x80, 0x24, 0x80, 0x04, 0x02, 'a', 'b', 0x04, 0x01, 'c', 0, 0, 0, 0}
	der, err := ber.ToDER(streamed, ber.Limits{MaxBytes: 64 << 10, MaxDepth: 32})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("% x\n", der)

	_, err = ber.ToDER(streamed[:6], ber.Limits{})
	fmt.Println(errors.Is(err, ber.ErrMalformed), err)
	// Output:
	// 30 05 04 03 61 62 63
	// true ber: malformed encoding: length exceeds the input at offset 4
}

func ExampleStream() {
	der := []byte{0x30, 0x05, 0x04, 0x03, 'a', 'b', 'c'}
	streamed, _ := ber.Stream(der, 2)
	fmt.Printf("% x\n", streamed)
	// Output:
	// 30 80 24 80 04 02 61 62 04 01 63 00 00 00 00
}
