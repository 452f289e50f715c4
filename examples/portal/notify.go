package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/enrollkit/enrollkit/enroll"
)

// notify is the development Notifier: instead of mailing the invitation it
// prints it to the terminal (link, passcode and a QR code to scan with a
// phone) and writes the QR code PNG into the data directory. A real host
// sends mail or SMS here.
func (st *stack) notify(ctx context.Context, inv *enroll.Invitation) error {
	dir := filepath.Join(st.cfg.Data, invitationsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	png := filepath.Join(dir, inv.EnrollmentID+".png")
	if err := os.WriteFile(png, inv.QRCode, 0o600); err != nil {
		return err
	}
	art := ""
	if q, err := qrcode.New(inv.URL, qrcode.Medium); err == nil {
		art = q.ToSmallString(false)
	}
	fmt.Fprintf(st.notices, "\ninvitation for %s (%s)\n  link:     %s\n  passcode: %s\n  expires:  %s\n  QR code:  %s\n%s\n",
		inv.User.ID, inv.ManagedAppleID, inv.URL, inv.Passcode, inv.ExpiresAt.Format("2006-01-02 15:04 MST"), png, art)
	return nil
}
