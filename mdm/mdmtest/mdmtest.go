package mdmtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
)

// Run runs the conformance suite. newStore must return an empty store for
// each call (for example a fresh database schema per test); it may register
// cleanups with t.
func Run(t *testing.T, newStore func(t *testing.T) mdm.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s mdm.Store)
	}{
		{"MissingKeys", testMissing},
		{"EnrollmentRoundTrip", testRoundTrip},
		{"EnrollmentCopies", testCopies},
		{"Enrollments", testEnrollments},
		{"PlatformChannelRelease", testPlatform},
		{"CertificateBinding", testBinding},
		{"MarkTokenDead", testTokenDead},
		{"QueueOrder", testQueueOrder},
		{"Lease", testLease},
		{"NotNow", testNotNow},
		{"QueueStats", testQueueStats},
		{"EnqueueAllOrNothing", testAllOrNothing},
		{"Results", testResults},
		{"Fanout", testFanout},
		{"ConcurrentDelivery", testConcurrentDelivery},
		{"ConcurrentBinding", testConcurrentBinding},
	}
	tests = append(tests, sweepTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// base is a fixed time with microsecond precision, as databases keep it.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

func fp(b byte) mdm.Fingerprint {
	var f mdm.Fingerprint
	for i := range f {
		f[i] = b ^ byte(i)
	}
	return f
}

func record(id mdm.EnrollmentID, cert byte) *mdm.EnrollmentRecord {
	r := &mdm.EnrollmentRecord{
		ID: id, Type: mdm.UserEnrollmentDevice, Topic: "com.apple.mgmt.External.0f4d1c2e",
		OSVersion: "18.1", BuildVersion: "22B83", ProductName: "iPhone16,1", Platform: mdm.PlatformIOS,
		AuthenticatedAt: base, UpdatedAt: base,
	}
	if cert != 0 {
		r.Certificate = fp(cert)
	}
	return r
}

func command(t *testing.T, uuid, requestType string) *mdm.Command {
	t.Helper()
	c, err := mdm.NewCommand(uuid, map[string]any{"RequestType": requestType})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func put(t *testing.T, s mdm.Store, r *mdm.EnrollmentRecord) {
	t.Helper()
	if err := s.PutEnrollment(context.Background(), r); err != nil {
		t.Fatalf("PutEnrollment(%s): %v", r.ID, err)
	}
}

func enqueue(t *testing.T, s mdm.Store, c *mdm.Command, ids ...mdm.EnrollmentID) {
	t.Helper()
	if err := s.Enqueue(context.Background(), c, ids); err != nil {
		t.Fatalf("Enqueue(%s): %v", c.UUID, err)
	}
}

// next returns the UUID NextCommand hands out, or "" for ErrQueueEmpty.
func next(t *testing.T, s mdm.Store, id mdm.EnrollmentID, now time.Time) string {
	t.Helper()
	c, err := s.NextCommand(context.Background(), id, now, time.Minute)
	if errors.Is(err, mdm.ErrQueueEmpty) {
		if c != nil {
			t.Fatalf("NextCommand returned a command with ErrQueueEmpty")
		}
		return ""
	}
	if err != nil {
		t.Fatalf("NextCommand(%s): %v", id, err)
	}
	return c.UUID
}

// wantNext fails the test unless NextCommand for id at now hands out the
// command want ("" for ErrQueueEmpty); what says which step it is.
func wantNext(t *testing.T, s mdm.Store, id mdm.EnrollmentID, now time.Time, want, what string) {
	t.Helper()
	if got := next(t, s, id, now); got != want {
		t.Fatalf("%s: NextCommand(%s) = %q, want %q", what, id, got, want)
	}
}

func result(t *testing.T, s mdm.Store, id mdm.EnrollmentID, uuid string, st mdm.Status) {
	t.Helper()
	r := &mdm.CommandResult{Identifiers: mdm.Identifiers{EnrollmentID: string(id)}, Status: st, CommandUUID: uuid,
		Raw: fmt.Appendf(nil, "<plist><dict><key>Status</key><string>%s</string></dict></plist>", st)}
	if err := s.PutResult(context.Background(), id, r); err != nil {
		t.Fatalf("PutResult(%s, %s, %s): %v", id, uuid, st, err)
	}
}

func testMissing(t *testing.T, s mdm.Store) {
	ctx := context.Background()
	if _, err := s.Enrollment(ctx, "nope"); !errors.Is(err, mdm.ErrNotFound) {
		t.Errorf("Enrollment(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.EnrollmentByCertificate(ctx, fp(9)); !errors.Is(err, mdm.ErrNotFound) {
		t.Errorf("EnrollmentByCertificate(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.Result(ctx, "nope", "x"); !errors.Is(err, mdm.ErrNotFound) {
		t.Errorf("Result(missing) = %v, want ErrNotFound", err)
	}
	if c, err := s.NextCommand(ctx, "nope", base, time.Minute); !errors.Is(err, mdm.ErrQueueEmpty) || c != nil {
		t.Errorf("NextCommand(missing) = %v, %v; want nil, ErrQueueEmpty", c, err)
	}
	if err := s.PutResult(ctx, "nope", &mdm.CommandResult{Status: mdm.StatusAcknowledged, CommandUUID: "x"}); !errors.Is(err, mdm.ErrNotFound) {
		t.Errorf("PutResult(unknown command) = %v, want ErrNotFound", err)
	}
	if err := s.MarkTokenDead(ctx, "nope", []byte{1}); err != nil {
		t.Errorf("MarkTokenDead(missing) = %v, want nil", err)
	}
	if err := s.ResetNotNow(ctx, []mdm.EnrollmentID{"nope"}); err != nil {
		t.Errorf("ResetNotNow(missing) = %v, want nil", err)
	}
}

func sameRecord(t *testing.T, got, want *mdm.EnrollmentRecord) {
	t.Helper()
	g, w := *got, *want
	if !g.AuthenticatedAt.Equal(w.AuthenticatedAt) || !g.UpdatedAt.Equal(w.UpdatedAt) {
		t.Errorf("times = %v, %v; want %v, %v", g.AuthenticatedAt, g.UpdatedAt, w.AuthenticatedAt, w.UpdatedAt)
	}
	if !bytes.Equal(g.Token, w.Token) {
		t.Errorf("Token = %x, want %x", g.Token, w.Token)
	}
	g.AuthenticatedAt, g.UpdatedAt, w.AuthenticatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	g.Token, w.Token = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("record = %+v\nwant %+v", g, w)
	}
}

func testRoundTrip(t *testing.T, s mdm.Store) {
	ctx := context.Background()
	dev := &mdm.EnrollmentRecord{
		ID: "00008110-000A1C2E0E91801E", Type: mdm.Device, Certificate: fp(1),
		Topic: "com.apple.mgmt.External.0f4d1c2e", OSVersion: "17.6", BuildVersion: "21G80",
		ProductName: "iPad13,4", SerialNumber: "F9FXK0ABCD12", DeviceName: "Front desk", Model: "J517AP", ModelName: "iPad",
		Platform: mdm.PlatformIPadOS, Token: []byte{0xde, 0xad, 0xbe, 0xef}, PushMagic: "7C1D2A88-AB2B-4A55-9F6E-0B3F3C6D2A11",
		Enrolled: true, AuthenticatedAt: base, UpdatedAt: base.Add(time.Second),
	}
	user := &mdm.EnrollmentRecord{ID: "00008110-000A1C2E0E91801E:FFFF", Type: mdm.User, ParentID: dev.ID,
		Token: []byte{1, 2}, PushMagic: "m", TokenDead: true, CheckedOut: true, AuthenticatedAt: base, UpdatedAt: base}
	ue := record("A5B5C4D3-UE", 2)
	for _, r := range []*mdm.EnrollmentRecord{dev, user, ue} {
		put(t, s, r)
		got, err := s.Enrollment(ctx, r.ID)
		if err != nil {
			t.Fatalf("Enrollment(%s): %v", r.ID, err)
		}
		sameRecord(t, got, r)
	}
	// Replace: the latest write wins.
	dev2 := dev.Clone()
	dev2.Token, dev2.PushMagic, dev2.UpdatedAt, dev2.OSVersion = []byte{9}, "new", base.Add(time.Hour), "18.0"
	put(t, s, dev2)
	got, err := s.Enrollment(ctx, dev.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, got, dev2)
	for f, want := range map[mdm.Fingerprint]mdm.EnrollmentID{fp(1): dev.ID, fp(2): ue.ID} {
		id, err := s.EnrollmentByCertificate(ctx, f)
		if err != nil || id != want {
			t.Errorf("EnrollmentByCertificate(%s) = %q, %v; want %q", f, id, err, want)
		}
	}
}

// testEnrollments reads many records at once (more than a database lists
// in one statement), some of them missing, some named twice, and none.
func testEnrollments(t *testing.T, s mdm.Store) {
	ctx := context.Background()
	const n = 1100
	var ids []mdm.EnrollmentID
	for i := range n {
		id := mdm.EnrollmentID(fmt.Sprintf("E%04d", i))
		ids = append(ids, id)
		if i%4 == 3 {
			continue // every fourth has no record
		}
		r := record(id, 0)
		r.DeviceName = fmt.Sprintf("device %d", i)
		r.Token, r.PushMagic, r.Enrolled, r.CheckedOut = []byte{byte(i), byte(i >> 8)}, "magic", true, i%5 == 0
		put(t, s, r)
	}
	got, err := s.Enrollments(ctx, append(ids, ids[0], "unknown"))
	if err != nil {
		t.Fatal(err)
	}
	if want := n - n/4; len(got) != want {
		t.Fatalf("Enrollments: %d records, want %d", len(got), want)
	}
	for i, id := range ids {
		rec, ok := got[id]
		if ok != (i%4 != 3) {
			t.Fatalf("Enrollments: record of %s present %v", id, ok)
		}
		if !ok {
			continue
		}
		want, err := s.Enrollment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.ID != id || rec.DeviceName != fmt.Sprintf("device %d", i) || rec.CheckedOut != (i%5 == 0) {
			t.Fatalf("Enrollments: record of %s = %+v", id, rec)
		}
		sameRecord(t, rec, want)
	}
	got[ids[0]].DeviceName = "changed" // the caller's copy
	if again, err := s.Enrollments(ctx, ids[:1]); err != nil || again[ids[0]].DeviceName != "device 0" {
		t.Fatalf("Enrollments after changing a returned record = %+v, %v", again[ids[0]], err)
	}
	if none, err := s.Enrollments(ctx, nil); err != nil || len(none) != 0 {
		t.Fatalf("Enrollments(nil) = %v, %v", none, err)
	}
}

// testPlatform stores what the command policy reads from a record: the
// platform, the OS release and the channel (the Type, with the ParentID of a
// user channel), for every platform and channel, and for a record whose
// platform is not known; and a later write changes them.
func testPlatform(t *testing.T, s mdm.Store) {
	ctx := context.Background()
	macUE := record("MAC-UE", 4)
	macUE.Platform, macUE.OSVersion, macUE.BuildVersion, macUE.ProductName = mdm.PlatformMacOS, "15.1", "24B83", "Mac14,2"
	macUser := &mdm.EnrollmentRecord{ID: "MAC-UE:USER-1", Type: mdm.UserEnrollmentUser, ParentID: macUE.ID,
		Platform: mdm.PlatformMacOS, OSVersion: "15.1", BuildVersion: "24B83", AuthenticatedAt: base, UpdatedAt: base}
	vision := record("VISION-UE", 5)
	vision.Platform, vision.OSVersion, vision.ProductName = mdm.PlatformVisionOS, "26.0", "RealityDevice14,1"
	tv := &mdm.EnrollmentRecord{ID: "TV-1", Type: mdm.Device, Certificate: fp(6), Platform: mdm.PlatformTVOS, OSVersion: "27.0"}
	watch := &mdm.EnrollmentRecord{ID: "WATCH-1", Type: mdm.Device, Certificate: fp(7), Platform: mdm.PlatformWatchOS, OSVersion: "26.2"}
	shared := &mdm.EnrollmentRecord{ID: "IPAD-1:alice", Type: mdm.SharedIPadUser, ParentID: "IPAD-1", Platform: mdm.PlatformIPadOS, OSVersion: "18.1"}
	unknown := record("OLD-ROW", 8)
	unknown.Platform, unknown.OSVersion, unknown.ProductName = mdm.PlatformUnknown, "", ""
	for _, r := range []*mdm.EnrollmentRecord{macUE, macUser, vision, tv, watch, shared, unknown} {
		put(t, s, r)
		got, err := s.Enrollment(ctx, r.ID)
		if err != nil {
			t.Fatalf("Enrollment(%s): %v", r.ID, err)
		}
		if got.Platform != r.Platform || got.OSVersion != r.OSVersion || got.BuildVersion != r.BuildVersion ||
			got.Type != r.Type || got.Type.IsUserChannel() != r.Type.IsUserChannel() || got.ParentID != r.ParentID {
			t.Errorf("%s: platform %q, OS %q %q, type %s, parent %q; want %q, %q %q, %s, %q", r.ID,
				got.Platform, got.OSVersion, got.BuildVersion, got.Type, got.ParentID,
				r.Platform, r.OSVersion, r.BuildVersion, r.Type, r.ParentID)
		}
		sameRecord(t, got, r)
	}
	// The device updates and authenticates again with the same certificate;
	// an old row learns its platform.
	for _, r := range []*mdm.EnrollmentRecord{macUE, unknown} {
		r2 := r.Clone()
		r2.OSVersion, r2.BuildVersion, r2.UpdatedAt = "27.0", "27A100", base.Add(time.Minute)
		if r2.Platform == mdm.PlatformUnknown {
			r2.Platform, r2.ProductName = mdm.PlatformIOS, "iPhone16,1"
		}
		put(t, s, r2)
		got, err := s.Enrollment(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameRecord(t, got, r2)
	}
}

func testCopies(t *testing.T, s mdm.Store) {
	ctx := context.Background()
	r := record("copy", 3)
	r.Token = []byte{1, 2, 3}
	put(t, s, r)
	r.Token[0] = 99 // the store must not have kept the caller's slice
	got, err := s.Enrollment(ctx, "copy")
	if err != nil {
		t.Fatal(err)
	}
	if got.Token[0] != 1 {
		t.Fatalf("store kept the caller's Token slice")
	}
	got.Token[1] = 99
	got.Topic = "changed"
	again, _ := s.Enrollment(ctx, "copy")
	if again.Token[1] != 2 || again.Topic == "changed" {
		t.Fatalf("store returned its own record, not a copy")
	}

	c := command(t, "cmd-copy", "ProfileList")
	enqueue(t, s, c, "copy")
	c.Raw[0] = 'X'
	out, err := s.NextCommand(ctx, "copy", base, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if out.Raw[0] == 'X' || out.RequestType != "ProfileList" || out.UUID != "cmd-copy" {
		t.Fatalf("NextCommand = %+v: store kept the caller's Raw or lost fields", out)
	}
	if _, err := mdm.ParseCommand(out.Raw); err != nil {
		t.Fatalf("stored Raw no longer parses: %v", err)
	}
}

func testBinding(t *testing.T, s mdm.Store) {
	ctx := context.Background()
	put(t, s, record("a", 1))
	err := s.PutEnrollment(ctx, record("b", 1))
	if !errors.Is(err, mdm.ErrCertificateInUse) {
		t.Fatalf("binding a's certificate to b = %v, want ErrCertificateInUse", err)
	}
	if _, err := s.Enrollment(ctx, "b"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("refused PutEnrollment created b: %v", err)
	}
	// Re-putting a with the same certificate is fine.
	put(t, s, record("a", 1))
	// A record without a certificate binds nothing.
	put(t, s, record("c", 0))
	put(t, s, record("d", 0))
	// Rebinding a to a new certificate releases the old one.
	put(t, s, record("a", 2))
	if id, err := s.EnrollmentByCertificate(ctx, fp(2)); err != nil || id != "a" {
		t.Fatalf("after rebinding: EnrollmentByCertificate(new) = %q, %v", id, err)
	}
	if _, err := s.EnrollmentByCertificate(ctx, fp(1)); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("after rebinding: old certificate still bound (%v)", err)
	}
	put(t, s, record("b", 1))
	if id, _ := s.EnrollmentByCertificate(ctx, fp(1)); id != "b" {
		t.Fatalf("released certificate not bindable: %q", id)
	}
}

func testTokenDead(t *testing.T, s mdm.Store) {
	ctx := context.Background()
	r := record("t", 1)
	r.Token, r.PushMagic = []byte{1, 2, 3}, "magic"
	put(t, s, r)
	if err := s.MarkTokenDead(ctx, "t", []byte{9, 9}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Enrollment(ctx, "t"); got.TokenDead {
		t.Fatal("MarkTokenDead with another token marked the current one dead")
	}
	if err := s.MarkTokenDead(ctx, "t", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Enrollment(ctx, "t")
	if !got.TokenDead {
		t.Fatal("MarkTokenDead with the current token did not mark it dead")
	}
	// A TokenUpdate (a new record) clears it.
	got.Token, got.TokenDead = []byte{4}, false
	put(t, s, got)
	if got, _ := s.Enrollment(ctx, "t"); got.TokenDead {
		t.Fatal("new token still dead")
	}
}

func testQueueOrder(t *testing.T, s mdm.Store) {
	for i := range 5 {
		enqueue(t, s, command(t, fmt.Sprintf("cmd-%d", i), "DeviceInformation"), "q")
	}
	now := base
	for i := range 5 {
		want := fmt.Sprintf("cmd-%d", i)
		wantNext(t, s, "q", now, want, "in order")
		st := []mdm.Status{mdm.StatusAcknowledged, mdm.StatusError, mdm.StatusCommandFormatError}[i%3]
		result(t, s, "q", want, st)
		// A completed command is not pending any more.
		if err := s.PutResult(context.Background(), "q", &mdm.CommandResult{Status: mdm.StatusAcknowledged, CommandUUID: want}); !errors.Is(err, mdm.ErrNotFound) {
			t.Fatalf("second final result for %s = %v, want ErrNotFound", want, err)
		}
	}
	wantNext(t, s, "q", now, "", "drained queue")
	// A completed UUID cannot be queued again for the same enrollment.
	if err := s.Enqueue(context.Background(), command(t, "cmd-0", "DeviceInformation"), []mdm.EnrollmentID{"q"}); !errors.Is(err, mdm.ErrCommandExists) {
		t.Fatalf("re-enqueue of a completed UUID = %v, want ErrCommandExists", err)
	}
	if err := s.Enqueue(context.Background(), command(t, "cmd-none", "DeviceInformation"), nil); err != nil {
		t.Fatalf("Enqueue to no enrollment = %v", err)
	}
}

func testLease(t *testing.T, s mdm.Store) {
	enqueue(t, s, command(t, "one", "ProfileList"), "l")
	enqueue(t, s, command(t, "two", "ProfileList"), "l")
	wantNext(t, s, "l", base, "one", "first")
	// While "one" is out, nothing is delivered: not "one" again, and not "two"
	// ahead of it.
	wantNext(t, s, "l", base.Add(30*time.Second), "", "during the lease")
	// After the lease the same command is delivered again.
	wantNext(t, s, "l", base.Add(61*time.Second), "one", "after the lease")
	result(t, s, "l", "one", mdm.StatusAcknowledged)
	wantNext(t, s, "l", base.Add(62*time.Second), "two", "after the result")
}

func testNotNow(t *testing.T, s mdm.Store) {
	enqueue(t, s, command(t, "a", "InstallProfile"), "n")
	enqueue(t, s, command(t, "b", "ProfileList"), "n")
	wantNext(t, s, "n", base, "a", "first")
	result(t, s, "n", "a", mdm.StatusNotNow)
	if r, err := s.Result(context.Background(), "n", "a"); err != nil || r.Status != mdm.StatusNotNow {
		t.Fatalf("Result after NotNow = %+v, %v", r, err)
	}
	wantNext(t, s, "n", base, "b", "after NotNow (a is skipped)")
	result(t, s, "n", "b", mdm.StatusAcknowledged)
	wantNext(t, s, "n", base, "", "only a NotNow command left")
	if err := s.ResetNotNow(context.Background(), []mdm.EnrollmentID{"n", "other"}); err != nil {
		t.Fatal(err)
	}
	wantNext(t, s, "n", base, "a", "after ResetNotNow")
	result(t, s, "n", "a", mdm.StatusAcknowledged)
	if r, _ := s.Result(context.Background(), "n", "a"); r.Status != mdm.StatusAcknowledged {
		t.Fatalf("latest result = %s, want Acknowledged", r.Status)
	}
}

func testAllOrNothing(t *testing.T, s mdm.Store) {
	enqueue(t, s, command(t, "dup", "ProfileList"), "y")
	err := s.Enqueue(context.Background(), command(t, "dup", "ProfileList"), []mdm.EnrollmentID{"x", "y", "z"})
	if !errors.Is(err, mdm.ErrCommandExists) {
		t.Fatalf("Enqueue with a duplicate = %v, want ErrCommandExists", err)
	}
	for _, id := range []mdm.EnrollmentID{"x", "z"} {
		wantNext(t, s, id, base, "", "after a refused Enqueue")
	}
	wantNext(t, s, "y", base, "dup", "y")
	wantNext(t, s, "y", base.Add(2*time.Minute), "dup", "y after the lease (not twice, not lost)")
	result(t, s, "y", "dup", mdm.StatusAcknowledged)
	wantNext(t, s, "y", base.Add(2*time.Minute), "", "y after the result (not twice)")
}

func testResults(t *testing.T, s mdm.Store) {
	ctx := context.Background()
	enqueue(t, s, command(t, "r1", "DeviceLock"), "res")
	next(t, s, "res", base)
	raw := []byte(`<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>CommandUUID</key><string>r1</string><key>ErrorChain</key><array><dict><key>ErrorCode</key><integer>12021</integer><key>ErrorDomain</key><string>MCMDMErrorDomain</string></dict></array><key>EnrollmentID</key><string>res</string><key>Status</key><string>Error</string></dict></plist>`)
	in := &mdm.CommandResult{Identifiers: mdm.Identifiers{EnrollmentID: "res"}, Status: mdm.StatusError, CommandUUID: "r1",
		ErrorChain:   []mdm.ErrorChainItem{{ErrorCode: 12021, ErrorDomain: "MCMDMErrorDomain", LocalizedDescription: "Locked", USEnglishDescription: "Locked"}},
		NotOnConsole: true, Raw: raw}
	if err := s.PutResult(ctx, "res", in); err != nil {
		t.Fatal(err)
	}
	in.Raw[0] = 'X'
	got, err := s.Result(ctx, "res", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != mdm.StatusError || got.CommandUUID != "r1" || got.EnrollmentID != "res" || len(got.ErrorChain) != 1 ||
		got.ErrorChain[0] != in.ErrorChain[0] || got.Raw[0] != '<' || !bytes.Equal(got.Raw[1:], raw[1:]) {
		t.Fatalf("Result = %+v", got)
	}
	if _, err := s.Result(ctx, "other", "r1"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("Result for another enrollment = %v, want ErrNotFound", err)
	}

	// A device cannot answer a command queued for another enrollment: the
	// result is refused with ErrNotFound and the command stays pending for
	// the device it was queued for.
	enqueue(t, s, command(t, "r2", "DeviceInformation"), "res")
	next(t, s, "res", base)
	forged := &mdm.CommandResult{Identifiers: mdm.Identifiers{EnrollmentID: "intruder"}, Status: mdm.StatusAcknowledged, CommandUUID: "r2"}
	if err := s.PutResult(ctx, "intruder", forged); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("PutResult for a command of another enrollment = %v, want ErrNotFound", err)
	}
	if _, err := s.Result(ctx, "res", "r2"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("Result after a forged result = %v, want ErrNotFound", err)
	}
	wantNext(t, s, "res", base.Add(2*time.Minute), "r2", "after another enrollment's result (still pending)")
}

func testFanout(t *testing.T, s mdm.Store) {
	ids := []mdm.EnrollmentID{"f1", "f2", "f3"}
	enqueue(t, s, command(t, "all", "InstalledApplicationList"), ids...)
	for _, id := range ids {
		wantNext(t, s, id, base, "all", "fan-out")
	}
	result(t, s, "f1", "all", mdm.StatusAcknowledged)
	result(t, s, "f2", "all", mdm.StatusNotNow)
	wantNext(t, s, "f3", base.Add(2*time.Minute), "all", "f3 after f1 completed")
	if _, err := s.Result(context.Background(), "f3", "all"); !errors.Is(err, mdm.ErrNotFound) {
		t.Fatalf("f3 has f1's result: %v", err)
	}
}

func testConcurrentDelivery(t *testing.T, s mdm.Store) {
	enqueue(t, s, command(t, "once", "DeviceInformation"), "c")
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for range n {
		wg.Go(func() {
			c, err := s.NextCommand(context.Background(), "c", base, time.Minute)
			if err == nil && c != nil {
				mu.Lock()
				got++
				mu.Unlock()
			} else if !errors.Is(err, mdm.ErrQueueEmpty) {
				t.Errorf("NextCommand: %v", err)
			}
		})
	}
	wg.Wait()
	if got != 1 {
		t.Fatalf("%d concurrent requests received the command %d times, want once", n, got)
	}
}

func testConcurrentBinding(t *testing.T, s mdm.Store) {
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range n {
		wg.Go(func() {
			err := s.PutEnrollment(context.Background(), record(mdm.EnrollmentID(fmt.Sprintf("race-%d", i)), 7))
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, mdm.ErrCertificateInUse) {
				t.Errorf("PutEnrollment: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("one certificate was bound by %d of %d concurrent enrollments, want 1", ok, n)
	}
}

// testQueueStats: every command queued and not finished counts, NotNow
// included, over all enrollments; the oldest EnqueuedAt is kept; a final
// result and an expiry end the wait.
func testQueueStats(t *testing.T, s mdm.Store) {
	ctx := context.Background()
	want := func(what string, pending int, oldest time.Time) {
		t.Helper()
		st, err := s.QueueStats(ctx)
		if err != nil || st.Pending != pending || !st.OldestEnqueuedAt.Equal(oldest) {
			t.Fatalf("%s: QueueStats = %+v, %v; want %d pending, oldest %v", what, st, err, pending, oldest)
		}
	}
	want("empty", 0, time.Time{})
	at := func(c *mdm.Command, d time.Duration) *mdm.Command {
		c.EnqueuedAt = base.Add(d)
		return c
	}
	enqueue(t, s, at(command(t, "q1", "ProfileList"), time.Minute), "qa", "qb")
	enqueue(t, s, at(command(t, "q2", "DeviceInformation"), 2*time.Minute), "qa")
	exp := at(command(t, "q3", "ProfileList"), 3*time.Minute)
	exp.ExpiresAt = base.Add(time.Hour)
	enqueue(t, s, exp, "qc")
	want("queued", 4, base.Add(time.Minute))
	wantNext(t, s, "qa", base, "q1", "qa")
	result(t, s, "qa", "q1", mdm.StatusNotNow)
	want("after NotNow", 4, base.Add(time.Minute))
	wantNext(t, s, "qb", base, "q1", "qb")
	result(t, s, "qb", "q1", mdm.StatusAcknowledged)
	want("after a final result", 3, base.Add(time.Minute))
	if err := s.ResetNotNow(ctx, []mdm.EnrollmentID{"qa"}); err != nil {
		t.Fatal(err)
	}
	wantNext(t, s, "qa", base, "q1", "qa again")
	result(t, s, "qa", "q1", mdm.StatusAcknowledged)
	want("q1 done everywhere", 2, base.Add(2*time.Minute))
	if n, err := s.ExpireCommands(ctx, base.Add(2*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("ExpireCommands = %d, %v", n, err)
	}
	want("after the expiry", 1, base.Add(2*time.Minute))
}
