package rows

import (
	"database/sql"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
)

// FailuresBefore returns the enroll.Failures a key had before the failure
// an upsert of the sign_in_failures table just counted, from the row's new
// count and its prev_us (the latest failure before this one, NULL when the
// count started again).
func FailuresBefore(count int64, prev sql.NullInt64) enroll.Failures {
	if count <= 1 || !prev.Valid {
		return enroll.Failures{}
	}
	return enroll.Failures{Count: int(count - 1), Last: Time(prev)}
}

// FailuresRow returns the enroll.Failures of a sign_in_failures row.
func FailuresRow(count int64, last int64) enroll.Failures {
	return enroll.Failures{Count: int(count), Last: time.UnixMicro(last).UTC()}
}
