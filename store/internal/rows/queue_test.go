package rows

import (
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
)

func TestResultState(t *testing.T) {
	tests := []struct {
		status mdm.Status
		want   int
	}{
		{mdm.StatusAcknowledged, QueueDone},
		{mdm.StatusError, QueueDone},
		{mdm.StatusCommandFormatError, QueueDone},
		{mdm.StatusNotNow, QueueNotNow},
		{mdm.StatusIdle, QueuePending},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			if got := ResultState(tt.status); got != tt.want {
				t.Errorf("ResultState(%s) = %d, want %d", tt.status, got, tt.want)
			}
		})
	}
}

func TestResultUpdate(t *testing.T) {
	q := func(int) string { return "?" }
	tests := []struct {
		state int
		want  string
	}{
		{QueueDone, "UPDATE mdm_queue SET state = 2, lease_us = NULL, repush_us = NULL, raw = NULL, result_status = ?, result_raw = ?, result_meta = ?, result_us = ? WHERE enrollment = ? AND uuid = ? AND state <> 2"},
		{QueueNotNow, "UPDATE mdm_queue SET state = 1, lease_us = NULL, repush_us = NULL, result_status = ?, result_raw = ?, result_meta = ?, result_us = ? WHERE enrollment = ? AND uuid = ? AND state <> 2"},
		{QueuePending, "UPDATE mdm_queue SET state = 0, lease_us = NULL, repush_us = NULL, result_status = ?, result_raw = ?, result_meta = ?, result_us = ? WHERE enrollment = ? AND uuid = ? AND state <> 2"},
	}
	for _, tt := range tests {
		if got := ResultUpdate(tt.state, q); got != tt.want {
			t.Errorf("ResultUpdate(%d) =\n%s\nwant\n%s", tt.state, got, tt.want)
		}
	}
}
