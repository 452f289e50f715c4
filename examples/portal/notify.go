package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/enrollkit/enrollkit/enroll"
)

// notify is the development Notifier: instead of mailing the invitation it
// writes it into the data directory, as text and as a QR code PNG, both
// readable by the owner only, and shows the text on the server's terminal
// (see showInvitations). The text is the invitation's own (Invitation.Text):
// for iOS and iPadOS 18 and later and macOS 14 and later the Settings steps
// with the user's Managed Apple Account, for earlier releases the link, then
// the passcode and expiry. Below it is the QR code of the link to scan with
// a phone: on an earlier release it starts the profile flow, on a current
// one the portal shows the Settings steps. A real host sends mail or SMS
// here. The log never gets the link or the passcode: they are the
// invitation's secrets.
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
	text := fmt.Sprintf("\n--- invitation for %s ---\n%s\nQR code of the link (also in %s):\n%s\n", inv.User.ID, inv.Text(), png, art)
	if err := writeFileAtomic(filepath.Join(dir, inv.EnrollmentID+".txt"), []byte(text)); err != nil {
		return err
	}
	st.show(inv.EnrollmentID+".txt", text)
	st.logger.InfoContext(ctx, "development notifier: invitation written", "enrollment", inv.EnrollmentID, "file", png)
	return nil
}

// writeFileAtomic writes data to path (mode 0600) so that a reader sees
// the whole file or none: through a temporary file renamed into place.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// invitationShower writes invitation texts to the terminal, each once.
type invitationShower struct {
	mu    sync.Mutex
	w     io.Writer       // nil: invitations are not shown
	shown map[string]bool // file names shown (or there before the server started)
}

// show writes the invitation text of file name, unless it was shown.
func (st *stack) show(name, text string) {
	s := &st.shower
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil || s.shown[name] {
		return
	}
	if s.shown == nil {
		s.shown = make(map[string]bool)
	}
	s.shown[name] = true
	io.WriteString(s.w, text)
}

// showInvitations shows on w every invitation this server sends and, until
// ctx ends, those other processes write into the data directory (the invite
// command) while it runs, checking every interval: the server's terminal
// shows them all. Invitations there before it started are not shown again.
func (st *stack) showInvitations(ctx context.Context, w io.Writer, interval time.Duration) {
	dir := filepath.Join(st.cfg.Data, invitationsDir)
	st.shower.mu.Lock()
	st.shower.w = w
	st.shower.shown = make(map[string]bool)
	for _, name := range invitationTexts(dir) {
		st.shower.shown[name] = true
	}
	st.shower.mu.Unlock()
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for _, name := range invitationTexts(dir) {
				st.shower.mu.Lock()
				seen := st.shower.shown[name]
				st.shower.mu.Unlock()
				if seen {
					continue
				}
				if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
					st.show(name, string(b))
				}
			}
		}
	}()
}

// invitationTexts lists the invitation text files in dir.
func invitationTexts(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if name := e.Name(); strings.HasSuffix(name, ".txt") && e.Type().IsRegular() {
			names = append(names, name)
		}
	}
	return names
}
