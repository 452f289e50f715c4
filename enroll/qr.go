package enroll

import (
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// DefaultQRSize is the edge length in pixels of QR codes when size is zero.
const DefaultQRSize = 256

// QRCode returns a PNG image of a QR code encoding link (an invitation URL),
// size pixels wide and high (DefaultQRSize when zero), with medium error
// correction. The image carries nothing but the link.
func QRCode(link string, size int) ([]byte, error) {
	if link == "" || len(link) > 2048 {
		return nil, invalid("QR code content must be 1 to 2048 bytes")
	}
	if size == 0 {
		size = DefaultQRSize
	}
	if size < 21 || size > 4096 {
		return nil, invalid("QR code size %d out of range 21..4096", size)
	}
	png, err := qrcode.Encode(link, qrcode.Medium, size)
	if err != nil {
		return nil, fmt.Errorf("enroll: QR code: %w", err)
	}
	return png, nil
}
