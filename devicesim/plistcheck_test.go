package devicesim_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/devicesim"
	"github.com/enrollkit/enrollkit/internal/plistcheck"
)

// commandBomb is a binary ProfileList command whose key X nests 26 arrays,
// each holding two references to the next: 2^26 values once decoded.
const commandBomb = "62706c6973743030d20102032257436f6d6d616e645b436f6d6d616e6455554944d2040506075b526571756573745479706551585b50726f66696c654c697374a20808a20909a20a0aa20b0ba20c0ca20d0da20e0ea20f0fa21010a21111a21212a21313a21414a21515a21616a21717a21818a21919a21a1aa21b1ba21c1ca21d1da21e1ea21f1fa22020a221215178527531080d1521263234404346494c4f5255585b5e6164676a6d707376797c7f8285888b8e900000000000000101000000000000002300000000000000000000000000000093"

func TestParseCommandRefusesExpensivePlists(t *testing.T) {
	bomb, err := hex.DecodeString(commandBomb)
	if err != nil {
		t.Fatal(err)
	}
	deep := "<plist><dict><key>CommandUUID</key><string>u1</string><key>Command</key><dict><key>RequestType</key>" +
		"<string>ProfileList</string><key>X</key>" + strings.Repeat("<array>", 20000) + strings.Repeat("</array>", 20000) +
		"</dict></dict></plist>"
	for _, tt := range []struct {
		name string
		body []byte
		want error
	}{
		{"binary shared arrays", bomb, plistcheck.ErrExpands},
		{"xml nested 20000 levels", []byte(deep), plistcheck.ErrTooDeep},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := devicesim.ParseCommand(tt.body)
			if !errors.Is(err, tt.want) || !strings.HasPrefix(err.Error(), "devicesim: ") {
				t.Fatalf("ParseCommand = %+v, %v; want an error matching %v", c, err, tt.want)
			}
		})
	}
}
