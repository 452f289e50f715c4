package rows

import (
	"strconv"
	"strings"

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
// or QueueDone), ending its lease; completing it drops its body. Its
// arguments, rendered by arg (counting from 1), are the result's status,
// raw body and ResultMeta, then the enrollment and the command UUID.
func ResultUpdate(state int, arg func(n int) string) string {
	set := "state = " + strconv.Itoa(state) + ", lease_us = NULL"
	if state == QueueDone {
		set += ", raw = NULL"
	}
	return "UPDATE mdm_queue SET " + set + ", result_status = " + arg(1) + ", result_raw = " + arg(2) +
		", result_meta = " + arg(3) + " WHERE enrollment = " + arg(4) + " AND uuid = " + arg(5) +
		" AND state <> " + strconv.Itoa(QueueDone)
}
