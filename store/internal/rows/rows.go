// Package rows maps enroll and mdm values to table rows and back, in the
// one column layout store/sqlite and store/postgres share: times are integer
// microseconds since the Unix epoch (NULL for the zero time), flags are
// booleans, and certificate fingerprints are 32-byte blobs (NULL for none).
package rows

import (
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// Micro returns t as microseconds since the epoch, or nil for the zero time.
func Micro(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// Time is the inverse of Micro, in UTC.
func Time(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// EnrollColumns are the columns of the enrollments table that hold an
// Enrollment, in the order of EnrollValues and ScanEnroll.
var EnrollColumns = []string{
	"id", "version", "state", "user_id", "managed_apple_id", "ownership", "flow",
	"invitation_hash", "passcode_hash", "passcode_expires_us", "passcode_attempts",
	"passcode_locked", "passcode_used", "info_seen_us", "terms_version", "terms_digest",
	"consented_us", "download_hash", "download_expires_us", "download_used",
	"access_token_hash", "challenge_hash", "challenge_expires_us", "challenge_used",
	"certificate_hash", "device_id", "created_us", "updated_us", "expires_us",
}

// EnrollSelect is EnrollColumns joined for a SELECT list.
var EnrollSelect = strings.Join(EnrollColumns, ", ")

// EnrollValues returns e's values in EnrollColumns order, with version as
// given.
func EnrollValues(e *enroll.Enrollment, version int64) []any {
	return []any{
		e.ID, version, string(e.State), e.UserID, e.ManagedAppleID, string(e.Ownership), string(e.Flow),
		e.InvitationHash, e.Passcode.Hash, Micro(e.Passcode.ExpiresAt), e.Passcode.Attempts,
		e.Passcode.Locked, e.Passcode.Used, Micro(e.InfoSeenAt), e.TermsVersion, e.TermsDigest,
		Micro(e.ConsentedAt), e.DownloadHash, Micro(e.DownloadExpiresAt), e.DownloadUsed,
		e.AccessTokenHash, e.ChallengeHash, Micro(e.ChallengeExpiresAt), e.ChallengeUsed,
		e.CertificateHash, e.DeviceID, Micro(e.CreatedAt), Micro(e.UpdatedAt), Micro(e.ExpiresAt),
	}
}

// HexColumns are the positions in EnrollColumns of the columns that hold
// lower-case hex SHA-256 digests. A store may keep such values as 32-byte
// blobs (see CompactHex) and read them back with ScanEnroll(…, true).
var HexColumns = []int{7, 15, 17, 20, 21, 24}

// IsHexColumn reports whether the column named col is in HexColumns.
func IsHexColumn(col string) bool {
	for _, i := range HexColumns {
		if EnrollColumns[i] == col {
			return true
		}
	}
	return false
}

// CompactHex returns s as 32 bytes if it is exactly 64 lower-case hex
// digits, and s unchanged otherwise, so that HexText restores it exactly.
func CompactHex(s string) any {
	if len(s) != 64 {
		return s
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return s
		}
	}
	b, _ := hex.DecodeString(s)
	return b
}

// CompactEnrollValues applies CompactHex to the HexColumns of values (from
// EnrollValues) in place and returns them.
func CompactEnrollValues(values []any) []any {
	for _, i := range HexColumns {
		values[i] = CompactHex(values[i].(string))
	}
	return values
}

// hexText scans a column written with CompactHex: a blob is hex-encoded, a
// string taken as it is.
type hexText struct{ s *string }

// Scan implements sql.Scanner.
func (h hexText) Scan(src any) error {
	switch v := src.(type) {
	case []byte:
		*h.s = hex.EncodeToString(v)
	case string:
		*h.s = v
	case nil:
		*h.s = ""
	default:
		return fmt.Errorf("hex column holds %T", src)
	}
	return nil
}

// ScanEnroll reads one row selected with EnrollSelect. With compact set the
// HexColumns are read as CompactEnrollValues wrote them.
func ScanEnroll(scan func(dest ...any) error, compact bool) (*enroll.Enrollment, error) {
	var (
		e                                    enroll.Enrollment
		state, ownership, flow               string
		pcExp, info, consented, dlExp, chExp sql.NullInt64
		created, updated, expires            sql.NullInt64
	)
	dest := []any{
		&e.ID, &e.Version, &state, &e.UserID, &e.ManagedAppleID, &ownership, &flow,
		&e.InvitationHash, &e.Passcode.Hash, &pcExp, &e.Passcode.Attempts,
		&e.Passcode.Locked, &e.Passcode.Used, &info, &e.TermsVersion, &e.TermsDigest,
		&consented, &e.DownloadHash, &dlExp, &e.DownloadUsed,
		&e.AccessTokenHash, &e.ChallengeHash, &chExp, &e.ChallengeUsed,
		&e.CertificateHash, &e.DeviceID, &created, &updated, &expires,
	}
	if compact {
		for _, i := range HexColumns {
			dest[i] = hexText{dest[i].(*string)}
		}
	}
	err := scan(dest...)
	if err != nil {
		return nil, err
	}
	e.State, e.Ownership, e.Flow = enroll.State(state), enroll.Ownership(ownership), enroll.Flow(flow)
	e.Passcode.ExpiresAt, e.InfoSeenAt, e.ConsentedAt = Time(pcExp), Time(info), Time(consented)
	e.DownloadExpiresAt, e.ChallengeExpiresAt = Time(dlExp), Time(chExp)
	e.CreatedAt, e.UpdatedAt, e.ExpiresAt = Time(created), Time(updated), Time(expires)
	return &e, nil
}

// IndexColumn returns the column that holds index i, or an error matching
// enroll.ErrInvalidInput for an unknown index.
func IndexColumn(i enroll.Index) (string, error) {
	switch i {
	case enroll.IndexInvitation:
		return "invitation_hash", nil
	case enroll.IndexDownload:
		return "download_hash", nil
	case enroll.IndexAccessToken:
		return "access_token_hash", nil
	case enroll.IndexChallenge:
		return "challenge_hash", nil
	case enroll.IndexCertificate:
		return "certificate_hash", nil
	case enroll.IndexDevice:
		return "device_id", nil
	}
	return "", fmt.Errorf("unknown index %q: %w", i, enroll.ErrInvalidInput)
}

// AuditColumns are the columns of the audit table that hold an AuditEvent
// (the enrollment and ordering columns excepted), in the order of
// AuditValues and ScanAudit.
var AuditColumns = []string{
	"time_us", "event", "from_state", "to_state", "actor", "client_ip", "user_agent",
	"terms_version", "terms_digest", "detail",
}

// AuditSelect is AuditColumns joined for a SELECT list.
var AuditSelect = strings.Join(AuditColumns, ", ")

// AuditValues returns ev's values in AuditColumns order.
func AuditValues(ev *enroll.AuditEvent) []any {
	return []any{
		Micro(ev.Time), string(ev.Event), string(ev.From), string(ev.To), ev.Actor, ev.ClientIP, ev.UserAgent,
		ev.TermsVersion, ev.TermsDigest, ev.Detail,
	}
}

// ScanAudit reads one row selected with AuditSelect; the event's
// EnrollmentID is set to enrollmentID.
func ScanAudit(scan func(dest ...any) error, enrollmentID string) (enroll.AuditEvent, error) {
	var (
		ev              enroll.AuditEvent
		t               sql.NullInt64
		event, from, to string
	)
	err := scan(&t, &event, &from, &to, &ev.Actor, &ev.ClientIP, &ev.UserAgent, &ev.TermsVersion, &ev.TermsDigest, &ev.Detail)
	if err != nil {
		return ev, err
	}
	ev.EnrollmentID = enrollmentID
	ev.Time, ev.Event, ev.From, ev.To = Time(t), enroll.Event(event), enroll.State(from), enroll.State(to)
	return ev, nil
}

// MDMColumns are the columns of the mdm_enrollments table that hold an
// EnrollmentRecord, in the order of MDMValues and ScanMDM.
var MDMColumns = []string{
	"id", "type", "parent_id", "certificate", "topic",
	"os_version", "build_version", "product_name", "serial_number", "device_name", "model", "model_name",
	"token", "push_magic", "token_dead", "enrolled", "checked_out", "authenticated_us", "updated_us",
	"platform",
}

// MDMSelect is MDMColumns joined for a SELECT list.
var MDMSelect = strings.Join(MDMColumns, ", ")

// Fingerprint returns fp as a blob, or nil for the zero fingerprint.
func Fingerprint(fp mdm.Fingerprint) any {
	if fp.IsZero() {
		return nil
	}
	return fp[:]
}

// MDMValues returns rec's values in MDMColumns order.
func MDMValues(rec *mdm.EnrollmentRecord) []any {
	var token any
	if rec.Token != nil {
		token = rec.Token
	}
	return []any{
		string(rec.ID), int64(rec.Type), string(rec.ParentID), Fingerprint(rec.Certificate), rec.Topic,
		rec.OSVersion, rec.BuildVersion, rec.ProductName, rec.SerialNumber, rec.DeviceName, rec.Model, rec.ModelName,
		token, rec.PushMagic, rec.TokenDead, rec.Enrolled, rec.CheckedOut, Micro(rec.AuthenticatedAt), Micro(rec.UpdatedAt),
		string(rec.Platform),
	}
}

// ScanMDM reads one row selected with MDMSelect.
func ScanMDM(scan func(dest ...any) error) (*mdm.EnrollmentRecord, error) {
	var (
		r             mdm.EnrollmentRecord
		id, parent    string
		typ           int64
		cert, token   []byte
		authAt, updAt sql.NullInt64
		platform      string
	)
	err := scan(&id, &typ, &parent, &cert, &r.Topic,
		&r.OSVersion, &r.BuildVersion, &r.ProductName, &r.SerialNumber, &r.DeviceName, &r.Model, &r.ModelName,
		&token, &r.PushMagic, &r.TokenDead, &r.Enrolled, &r.CheckedOut, &authAt, &updAt, &platform)
	if err != nil {
		return nil, err
	}
	r.ID, r.Type, r.ParentID, r.Platform = mdm.EnrollmentID(id), mdm.EnrollmentType(typ), mdm.EnrollmentID(parent), mdm.Platform(platform)
	if len(cert) == len(r.Certificate) {
		copy(r.Certificate[:], cert)
	} else if cert != nil {
		return nil, fmt.Errorf("certificate fingerprint of %d bytes", len(cert))
	}
	if token != nil {
		r.Token = append([]byte{}, token...)
	}
	r.AuthenticatedAt, r.UpdatedAt = Time(authAt), Time(updAt)
	return &r, nil
}

// resultMeta is the part of a CommandResult kept beside its raw body.
type resultMeta struct {
	Identity     mdm.Identifiers      `json:"i"`
	ErrorChain   []mdm.ErrorChainItem `json:"e,omitempty"`
	NotOnConsole bool                 `json:"n,omitempty"`
}

// ResultMeta encodes the fields of res that are not columns of their own.
func ResultMeta(res *mdm.CommandResult) ([]byte, error) {
	return json.Marshal(resultMeta{Identity: res.Identifiers, ErrorChain: res.ErrorChain, NotOnConsole: res.NotOnConsole})
}

// Result rebuilds a CommandResult from its stored parts; receivedUs is its
// result_us (see ResultTime). A result without meta (an expired command's)
// has no Identifiers.
func Result(uuid, status string, raw, meta []byte, receivedUs sql.NullInt64) (*mdm.CommandResult, error) {
	var m resultMeta
	if meta != nil {
		if err := json.Unmarshal(meta, &m); err != nil {
			return nil, fmt.Errorf("decode stored result: %w", err)
		}
	}
	res := &mdm.CommandResult{
		Identifiers:  m.Identity,
		Status:       mdm.Status(status),
		CommandUUID:  uuid,
		ErrorChain:   m.ErrorChain,
		NotOnConsole: m.NotOnConsole,
	}
	if raw != nil {
		res.Raw = append([]byte{}, raw...)
	}
	if receivedUs.Valid && receivedUs.Int64 != 0 {
		res.ReceivedAt = time.UnixMicro(receivedUs.Int64).UTC()
	}
	return res, nil
}
