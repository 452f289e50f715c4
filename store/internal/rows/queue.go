package rows

import (
	"strconv"
	"strings"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// States of a command in mdm_queue.state.
const (
	QueuePending = 0 // deliverable
	QueueNotNow  = 1 // pending, skipped until ResetNotNow
	QueueDone    = 2 // completed; kept so the UUID is refused again
)

// MDMUpsert returns the statement that creates the record of the values
// MDMValues returns, or replaces every column of the record with its ID.
// arg renders the SQL's n-th argument, counting from 1.
func MDMUpsert(arg func(n int) string) string {
	vals := make([]string, len(MDMColumns))
	for i := range vals {
		vals[i] = arg(i + 1)
	}
	set := make([]string, 0, len(MDMColumns)-1)
	for _, c := range MDMColumns[1:] {
		set = append(set, c+" = excluded."+c)
	}
	return "INSERT INTO mdm_enrollments (" + MDMSelect + ") VALUES (" + strings.Join(vals, ", ") +
		") ON CONFLICT (id) DO UPDATE SET " + strings.Join(set, ", ")
}

// ResultState returns the state a command result moves its command to: a
// final status completes it, NotNow sets it aside until ResetNotNow, and
// anything else leaves it pending.
func ResultState(s mdm.Status) int {
	switch {
	case s.Final():
		return QueueDone
	case s == mdm.StatusNotNow:
		return QueueNotNow
	}
	return QueuePending
}

// ResultUpdate returns the UPDATE that stores a result and moves its
// command, unless already completed, to state (a QueuePending, QueueNotNow
// or QueueDone), ending its lease and any re-push it was due for;
// completing it drops its body. Its arguments, rendered by arg (counting
// from 1), are the result's status, raw body, ResultMeta and ResultTime,
// then the enrollment and the command UUID.
func ResultUpdate(state int, arg func(n int) string) string {
	set := "state = " + strconv.Itoa(state) + ", lease_us = NULL, repush_us = NULL"
	if state == QueueDone {
		set += ", raw = NULL"
	}
	return "UPDATE mdm_queue SET " + set + ", result_status = " + arg(1) + ", result_raw = " + arg(2) +
		", result_meta = " + arg(3) + ", result_us = " + arg(4) + " WHERE enrollment = " + arg(5) + " AND uuid = " + arg(6) +
		" AND state <> " + strconv.Itoa(QueueDone)
}

// ResultArgs returns the arguments of ResultUpdate that store res as the
// result of enrollment id.
func ResultArgs(id mdm.EnrollmentID, res *mdm.CommandResult) ([]any, error) {
	meta, err := ResultMeta(res)
	if err != nil {
		return nil, err
	}
	return []any{string(res.Status), res.Raw, meta, ResultTime(res), string(id), res.CommandUUID}, nil
}

// ResultTime is the result_us of a result: ReceivedAt in microseconds, 0
// for the zero time, so that a result without a time is the oldest.
func ResultTime(res *mdm.CommandResult) int64 {
	if res.ReceivedAt.IsZero() {
		return 0
	}
	return res.ReceivedAt.UnixMicro()
}

// ExpiredStatus is the result_status of a command ExpireCommands completed.
const ExpiredStatus = string(mdm.StatusExpired)

// Finished is the SQL list of the terminal enrollment states, as the
// enrollments_finished index names them: "'removed', 'expired', …".
var Finished = func() string {
	var out []string
	for _, s := range enroll.States() {
		if s.Terminal() {
			out = append(out, "'"+string(s)+"'")
		}
	}
	return strings.Join(out, ", ")
}()
