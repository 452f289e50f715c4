package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/store/internal/rows"
)

var _ mdm.Store = (*MDMStore)(nil)

// MDMStore is the mdm.Store of a DB. Get it with DB.MDM.
type MDMStore struct{ db *DB }

// MDM returns the database's mdm.Store.
func (db *DB) MDM() *MDMStore { return &MDMStore{db: db} }

// Queue row states.
const (
	queuePending = 0 // deliverable
	queueNotNow  = 1 // pending, skipped until ResetNotNow
	queueDone    = 2 // completed; kept so the UUID is refused again
)

var mdmUpsert = func() string {
	var set []string
	for _, c := range rows.MDMColumns[1:] {
		set = append(set, c+" = excluded."+c)
	}
	return "INSERT INTO mdm_enrollments (" + rows.MDMSelect + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(rows.MDMColumns)), ", ") +
		") ON CONFLICT (id) DO UPDATE SET " + strings.Join(set, ", ")
}()

// PutEnrollment implements mdm.Store.
func (s *MDMStore) PutEnrollment(ctx context.Context, rec *mdm.EnrollmentRecord) error {
	const op = "sqlite: put enrollment"
	if rec == nil || rec.ID == "" {
		return fmt.Errorf("%s: empty enrollment ID", op)
	}
	return s.db.writeTx(ctx, op, func(tx *sql.Tx) error {
		if !rec.Certificate.IsZero() {
			var owner string
			err := tx.QueryRowContext(ctx, `SELECT id FROM mdm_enrollments WHERE certificate = ?`, rec.Certificate[:]).Scan(&owner)
			switch {
			case err == nil && owner != string(rec.ID):
				return fmt.Errorf("%s %s: %w", op, rec.ID, mdm.ErrCertificateInUse)
			case err != nil && !errors.Is(err, sql.ErrNoRows):
				return s.db.wrap(op, err)
			}
		}
		if _, err := tx.ExecContext(ctx, mdmUpsert, rows.MDMValues(rec)...); err != nil {
			return s.db.wrap(op, err)
		}
		return nil
	})
}

// Enrollment implements mdm.Store.
func (s *MDMStore) Enrollment(ctx context.Context, id mdm.EnrollmentID) (*mdm.EnrollmentRecord, error) {
	const op = "sqlite: enrollment"
	r, err := s.db.reader(op)
	if err != nil {
		return nil, err
	}
	rec, err := rows.ScanMDM(r.QueryRowContext(ctx, "SELECT "+rows.MDMSelect+" FROM mdm_enrollments WHERE id = ?", string(id)).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s %s: %w", op, id, mdm.ErrNotFound)
	}
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	return rec, nil
}

// EnrollmentByCertificate implements mdm.Store.
func (s *MDMStore) EnrollmentByCertificate(ctx context.Context, fp mdm.Fingerprint) (mdm.EnrollmentID, error) {
	const op = "sqlite: enrollment by certificate"
	r, err := s.db.reader(op)
	if err != nil {
		return "", err
	}
	var id string
	err = r.QueryRowContext(ctx, `SELECT id FROM mdm_enrollments WHERE certificate = ?`, fp[:]).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%s %s: %w", op, fp, mdm.ErrNotFound)
	}
	if err != nil {
		return "", s.db.wrap(op, err)
	}
	return mdm.EnrollmentID(id), nil
}

// MarkTokenDead implements mdm.Store.
func (s *MDMStore) MarkTokenDead(ctx context.Context, id mdm.EnrollmentID, token []byte) error {
	const op = "sqlite: mark token dead"
	if len(token) == 0 {
		return nil
	}
	return s.db.writeTx(ctx, op, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE mdm_enrollments SET token_dead = 1 WHERE id = ? AND token = ?`, string(id), token)
		return s.db.wrap(op, err)
	})
}

// Enqueue implements mdm.Store.
func (s *MDMStore) Enqueue(ctx context.Context, cmd *mdm.Command, ids []mdm.EnrollmentID) error {
	const op = "sqlite: enqueue"
	if cmd == nil || cmd.UUID == "" {
		return fmt.Errorf("%s: empty command UUID", op)
	}
	return s.db.writeTx(ctx, op, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO mdm_queue (enrollment, uuid, request_type, raw)
			VALUES (?, ?, ?, ?) ON CONFLICT (enrollment, uuid) DO NOTHING`)
		if err != nil {
			return s.db.wrap(op, err)
		}
		defer stmt.Close()
		for _, id := range ids {
			res, err := stmt.ExecContext(ctx, string(id), cmd.UUID, cmd.RequestType, cmd.Raw)
			if err != nil {
				return s.db.wrap(op, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				// Already queued for id, or id listed twice: the
				// transaction is rolled back, nothing is queued.
				return fmt.Errorf("%s %s to %s: %w", op, cmd.UUID, id, mdm.ErrCommandExists)
			}
		}
		return nil
	})
}

// NextCommand implements mdm.Store.
func (s *MDMStore) NextCommand(ctx context.Context, id mdm.EnrollmentID, now time.Time, lease time.Duration) (*mdm.Command, error) {
	const op = "sqlite: next command"
	var cmd *mdm.Command
	err := s.db.writeTx(ctx, op, func(tx *sql.Tx) error {
		var (
			seq     int64
			leaseUs sql.NullInt64
			c       mdm.Command
		)
		err := tx.QueryRowContext(ctx, `SELECT seq, lease_us, uuid, request_type, raw FROM mdm_queue
			WHERE enrollment = ? AND state = 0 ORDER BY seq LIMIT 1`, string(id)).
			Scan(&seq, &leaseUs, &c.UUID, &c.RequestType, &c.Raw)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s for %s: %w", op, id, mdm.ErrQueueEmpty)
		}
		if err != nil {
			return s.db.wrap(op, err)
		}
		if leaseUs.Valid && now.Before(rows.Time(leaseUs)) {
			return fmt.Errorf("%s for %s: %s is leased: %w", op, id, c.UUID, mdm.ErrQueueEmpty)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mdm_queue SET lease_us = ? WHERE seq = ?`, now.Add(lease).UnixMicro(), seq); err != nil {
			return s.db.wrap(op, err)
		}
		cmd = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cmd, nil
}

// PutResult implements mdm.Store.
func (s *MDMStore) PutResult(ctx context.Context, id mdm.EnrollmentID, res *mdm.CommandResult) error {
	const op = "sqlite: put result"
	if res == nil || res.CommandUUID == "" {
		return fmt.Errorf("%s: empty CommandUUID", op)
	}
	meta, err := rows.ResultMeta(res)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	var q string
	switch {
	case res.Status.Final():
		q = `UPDATE mdm_queue SET state = 2, lease_us = NULL, raw = NULL, result_status = ?, result_raw = ?, result_meta = ?
			WHERE enrollment = ? AND uuid = ? AND state != 2`
	case res.Status == mdm.StatusNotNow:
		q = `UPDATE mdm_queue SET state = 1, lease_us = NULL, result_status = ?, result_raw = ?, result_meta = ?
			WHERE enrollment = ? AND uuid = ? AND state != 2`
	default:
		q = `UPDATE mdm_queue SET state = 0, lease_us = NULL, result_status = ?, result_raw = ?, result_meta = ?
			WHERE enrollment = ? AND uuid = ? AND state != 2`
	}
	return s.db.writeTx(ctx, op, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, q, string(res.Status), res.Raw, meta, string(id), res.CommandUUID)
		if err != nil {
			return s.db.wrap(op, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("%s %s for %s: %w", op, res.CommandUUID, id, mdm.ErrNotFound)
		}
		return nil
	})
}

// ResetNotNow implements mdm.Store.
func (s *MDMStore) ResetNotNow(ctx context.Context, ids []mdm.EnrollmentID) error {
	const op = "sqlite: reset NotNow"
	if len(ids) == 0 {
		return nil
	}
	return s.db.writeTx(ctx, op, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE mdm_queue SET state = 0 WHERE enrollment = ? AND state = 1`)
		if err != nil {
			return s.db.wrap(op, err)
		}
		defer stmt.Close()
		for _, id := range ids {
			if _, err := stmt.ExecContext(ctx, string(id)); err != nil {
				return s.db.wrap(op, err)
			}
		}
		return nil
	})
}

// Result implements mdm.Store.
func (s *MDMStore) Result(ctx context.Context, id mdm.EnrollmentID, uuid string) (*mdm.CommandResult, error) {
	const op = "sqlite: result"
	r, err := s.db.reader(op)
	if err != nil {
		return nil, err
	}
	var (
		status    string
		raw, meta []byte
	)
	err = r.QueryRowContext(ctx, `SELECT result_status, result_raw, result_meta FROM mdm_queue
		WHERE enrollment = ? AND uuid = ? AND result_status IS NOT NULL`, string(id), uuid).Scan(&status, &raw, &meta)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s %s for %s: %w", op, uuid, id, mdm.ErrNotFound)
	}
	if err != nil {
		return nil, s.db.wrap(op, err)
	}
	res, err := rows.Result(uuid, status, raw, meta)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return res, nil
}
