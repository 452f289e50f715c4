// Package benchdata makes the realistic enrolled devices the store
// benchmarks seed their databases with: an enrollment that went through the
// whole profile-based flow, its audit trail, and its MDM record.
package benchdata

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/passcode"
)

// Devices is how many enrolled devices the benchmarks seed.
const Devices = 100_000

// Start is the creation time of device 0; device i was invited i seconds
// later.
var Start = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// hash returns a lower-case hex SHA-256, as the enroll package stores
// secrets.
func hash(kind string, i int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%d", kind, i))
	return hex.EncodeToString(h[:])
}

// ID returns the enrollment ID of device i (32 hex characters).
func ID(i int) string { return hash("id", i)[:32] }

// DeviceID returns the EnrollmentID device i checks in with.
func DeviceID(i int) mdm.EnrollmentID {
	h := hash("device", i)
	return mdm.EnrollmentID(fmt.Sprintf("%s-%s-%s-%s-%s", h[:8], h[8:12], h[12:16], h[16:20], h[20:32]))
}

// Fingerprint returns the fingerprint of device i's identity certificate.
func Fingerprint(i int) mdm.Fingerprint { return sha256.Sum256(fmt.Appendf(nil, "cert/%d", i)) }

// Token returns device i's APNs token.
func Token(i int) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "token/%d", i))
	return h[:]
}

const (
	safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"
	mdmUA  = "MDM/1.0"
	topic  = "com.apple.mgmt.External.2c5a3c5e-6f1b-4b55-9c1e-0f4d1c2e9a77"
)

// Enrolled returns device i as stored after a completed profile-based
// enrollment: the enrollment, its eleven audit events, and the MDM record.
func Enrolled(i int) (*enroll.Enrollment, []enroll.AuditEvent, *mdm.EnrollmentRecord) {
	t0 := Start.Add(time.Duration(i) * time.Second)
	at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }
	user := fmt.Sprintf("u%06d", i)
	fp := Fingerprint(i)
	e := &enroll.Enrollment{
		ID:             ID(i),
		State:          enroll.StateEnrolled,
		UserID:         user,
		ManagedAppleID: user + "@example.appleaccount.com",
		Ownership:      enroll.OwnershipEmployee,
		Flow:           enroll.FlowProfile,
		InvitationHash: hash("invitation", i),
		Passcode: passcode.State{
			Hash:      "$argon2id$v=19$m=65536,t=3,p=2$" + hash("salt", i)[:22] + "$" + hash("pc", i)[:43],
			ExpiresAt: at(72 * 60),
			Used:      true,
		},
		InfoSeenAt:         at(2),
		TermsVersion:       "2026-01",
		TermsDigest:        hash("terms", 0),
		ConsentedAt:        at(3),
		DownloadHash:       hash("download", i),
		DownloadExpiresAt:  at(11),
		DownloadUsed:       true,
		ChallengeHash:      hash("challenge", i),
		ChallengeExpiresAt: at(63),
		ChallengeUsed:      true,
		CertificateHash:    hex.EncodeToString(fp[:]),
		DeviceID:           string(DeviceID(i)),
		CreatedAt:          t0,
		UpdatedAt:          at(6),
	}
	ip := fmt.Sprintf("198.51.%d.%d", i/250%250, i%250)
	steps := []struct {
		ev       enroll.Event
		from, to enroll.State
		ua       string
		minute   int
	}{
		{enroll.EventInvite, "", enroll.StateInvited, "", 0},
		{enroll.EventAuthenticate, enroll.StateInvited, enroll.StateAuthenticated, safari, 1},
		{enroll.EventPasscodeAccepted, enroll.StateAuthenticated, enroll.StatePasscodeVerified, safari, 2},
		{enroll.EventInfoSeen, enroll.StatePasscodeVerified, enroll.StatePasscodeVerified, safari, 2},
		{enroll.EventConsent, enroll.StatePasscodeVerified, enroll.StateConsented, safari, 3},
		{enroll.EventIssueProfile, enroll.StateConsented, enroll.StateProfileIssued, safari, 3},
		{enroll.EventDownloadProfile, enroll.StateProfileIssued, enroll.StateProfileIssued, safari, 4},
		{enroll.EventRedeemChallenge, enroll.StateProfileIssued, enroll.StateProfileIssued, "", 5},
		{enroll.EventBindCertificate, enroll.StateProfileIssued, enroll.StateProfileIssued, "", 5},
		{enroll.EventCheckIn, enroll.StateProfileIssued, enroll.StateCheckedIn, mdmUA, 6},
		{enroll.EventTokenUpdate, enroll.StateCheckedIn, enroll.StateEnrolled, mdmUA, 6},
	}
	events := make([]enroll.AuditEvent, len(steps))
	for k, s := range steps {
		ev := enroll.AuditEvent{EnrollmentID: e.ID, Time: at(s.minute), Event: s.ev, From: s.from, To: s.to, UserAgent: s.ua}
		switch {
		case s.ev == enroll.EventInvite:
			ev.Actor = "admin@example.com"
			ev.ClientIP = "203.0.113.10"
		case s.ua == safari:
			ev.Actor, ev.ClientIP = user, ip
		case s.ua == mdmUA:
			ev.Actor, ev.ClientIP = string(DeviceID(i)), ip
		default:
			ev.Actor = "scep"
		}
		if s.ev == enroll.EventConsent {
			ev.TermsVersion, ev.TermsDigest = e.TermsVersion, e.TermsDigest
		}
		events[k] = ev
	}
	rec := &mdm.EnrollmentRecord{
		ID:              DeviceID(i),
		Type:            mdm.UserEnrollmentDevice,
		Certificate:     fp,
		Topic:           topic,
		OSVersion:       "17.6",
		BuildVersion:    "21G80",
		ProductName:     "iPhone15,2",
		Token:           Token(i),
		PushMagic:       hash("pushmagic", i)[:36],
		Enrolled:        true,
		AuthenticatedAt: at(6),
		UpdatedAt:       at(6),
	}
	return e, events, rec
}
