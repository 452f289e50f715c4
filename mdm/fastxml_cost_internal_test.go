package mdm

import (
	"runtime"
	"strings"
	"testing"
)

// TestFastXMLCostsLessThanTwiceItsSize: the fast decoder, which takes a
// body before plistcheck sees it, allocates only the values of the keys it
// knows, however often a body repeats them: at most twice the body.
func TestFastXMLCostsLessThanTwiceItsSize(t *testing.T) {
	for name, entry := range map[string]string{
		"known string": "<key>Topic</key><string>com.apple.mgmt.External.9b2c4f1e</string>",
		"known data":   "<key>Token</key><data>" + strings.Repeat("QUFB", 100) + "</data>",
		"unknown data": "<key>Pad</key><data>" + strings.Repeat("QUFB", 100) + "</data>",
		"empty string": "<key>UDID</key><string/>",
	} {
		t.Run(name, func(t *testing.T) {
			body := []byte(`<plist version="1.0"><dict><key>Status</key><string>Idle</string>` +
				strings.Repeat(entry, (1<<20)/len(entry)) + `</dict></plist>`)
			var w wire
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			ok := decodeFastXML(body, &w)
			runtime.ReadMemStats(&m1)
			if !ok {
				t.Fatal("the fast decoder refused the body")
			}
			if n := m1.TotalAlloc - m0.TotalAlloc; n > 2*uint64(len(body)) {
				t.Fatalf("decoding %d bytes allocated %d", len(body), n)
			}
		})
	}
}
