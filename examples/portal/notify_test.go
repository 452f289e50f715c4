package main

import (
	"bytes"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
)

// TestNotifyLeadsBothWays: the development notifier's invitation text (on
// the terminal and in the data directory) spells out both ways to enroll:
// the Settings steps with the user's Managed Apple Account for iOS 18 and
// later and macOS 14 and later, and the link with its QR code for earlier
// releases, then the passcode. It never says Managed Apple ID.
func TestNotifyLeadsBothWays(t *testing.T) {
	qr, err := enroll.QRCode("https://enroll.example.com/portal/invitation/TOKEN", 0)
	if err != nil {
		t.Fatal(err)
	}
	inv := &enroll.Invitation{
		EnrollmentID:   "0123456789abcdef",
		User:           enroll.User{ID: "alice"},
		ManagedAppleID: "alice@example.com",
		Token:          "TOKEN",
		URL:            "https://enroll.example.com/portal/invitation/TOKEN",
		QRCode:         qr,
		Passcode:       "1234-5678",
		ExpiresAt:      time.Date(2026, 12, 9, 13, 30, 0, 0, time.UTC),
	}
	var terminal bytes.Buffer
	st := &stack{cfg: config{Data: t.TempDir()}, logger: slog.New(slog.DiscardHandler)}
	st.shower.w = &terminal
	if err := st.notify(t.Context(), inv); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(st.cfg.Data, invitationsDir)
	file, err := os.ReadFile(filepath.Join(dir, inv.EnrollmentID+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	if terminal.String() != string(file) {
		t.Errorf("the terminal shows other text than the file:\n%s\n---\n%s", terminal.String(), file)
	}
	text := string(file)
	settings := strings.Index(text, "Settings → General → VPN & Device Management")
	link := strings.Index(text, inv.URL)
	for _, want := range []string{
		"iOS or iPadOS 18 or later, or a Mac with macOS 14 or later",
		"System Settings → General → Device Management",
		`"Sign In to Work or School Account"`,
		"Managed Apple Account: alice@example.com",
		"iOS or iPadOS 13.1 to 17",
		"Passcode: 1234-5678",
		"Valid until: 2026-12-09 13:30 UTC",
		"QR code of the link",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("invitation text lacks %q:\n%s", want, text)
		}
	}
	if settings < 0 || link < settings || strings.Count(text, inv.URL) != 1 || strings.Count(text, inv.Passcode) != 1 {
		t.Errorf("want the Settings steps first, then the link, each secret once:\n%s", text)
	}
	if strings.Contains(text, "Managed Apple ID") {
		t.Errorf("the text says Managed Apple ID:\n%s", text)
	}
	// The QR code beside it is the link's, as a PNG and as terminal art.
	b, err := os.ReadFile(filepath.Join(dir, inv.EnrollmentID+".png"))
	if err != nil || !bytes.Equal(b, qr) {
		t.Fatalf("QR code file: %v", err)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "█") && !strings.Contains(text, "▀") {
		t.Errorf("no QR code art in the text:\n%s", text)
	}
}
