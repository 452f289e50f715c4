package mdm

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// getTokenBomb is a 221-byte binary GetToken check-in whose TokenParameters
// nest 26 arrays, each holding two references to the next: decoded as
// written it is 2^26 values, a minute and 4.6 GB in the plist package.
const getTokenBomb = "62706c6973743030d30102030405065c456e726f6c6c6d656e7449445b4d657373616765547970655f100f546f6b656e506172616d6574657273514558476574546f6b656ed10708516ba20909a20a0aa20b0ba20c0ca20d0da20e0ea20f0fa21010a21111a21212a21313a21414a21515a21616a21717a21818a21919a21a1aa21b1ba21c1ca21d1da21e1ea21f1fa22020a22121a222225178080f1c283a3c45484a4d505356595c5f6265686b6e7174777a7d808386898c8f929598000000000000010100000000000000230000000000000000000000000000009a"

func TestDecodeRefusesExpensivePlists(t *testing.T) {
	bomb, err := hex.DecodeString(getTokenBomb)
	if err != nil {
		t.Fatal(err)
	}
	deep := `<plist><dict><key>MessageType</key><string>GetToken</string><key>EnrollmentID</key><string>E</string>` +
		`<key>TokenParameters</key><dict><key>k</key>` + strings.Repeat("<array>", 100000) + strings.Repeat("</array>", 100000) +
		`</dict></dict></plist>`
	for _, tt := range []struct {
		name string
		body []byte
	}{
		{"binary shared arrays", bomb},
		{"xml nested 100000 levels", []byte(deep)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for name, decode := range map[string]func([]byte) (any, error){
				"Decode":              decode,
				"DecodeCheckin":       func(b []byte) (any, error) { return DecodeCheckin(b) },
				"DecodeCommandResult": func(b []byte) (any, error) { return DecodeCommandResult(b) },
			} {
				v, err := decode(tt.body)
				var de *DecodeError
				if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) {
					t.Fatalf("%s = %T, %v; want *DecodeError matching ErrMalformed", name, v, err)
				}
				if !strings.HasPrefix(err.Error(), "mdm: ") {
					t.Fatalf("%s error %q lacks the package prefix", name, err)
				}
			}
		})
	}
}
