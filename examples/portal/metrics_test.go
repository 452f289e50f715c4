package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// scrape reads /admin/metrics with token and parses it with Prometheus's
// own text-format parser.
func (ts *testServer) scrape(t *testing.T, token string) (int, map[string]*dto.MetricFamily) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", ts.url+"/admin/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /admin/metrics: %v", err)
	}
	return resp.StatusCode, fams
}

// value returns the value of the sample of family name whose labels
// include want (a counter's or gauge's value, a histogram's count); 0 when
// there is none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	sum := 0.0
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// TestMetricsEndToEnd enrolls a simulated device through the portal, has
// it answer a command and check out, and reads /admin/metrics before and
// after: every step moved its transition counter, every check-in and
// command status its request counter, a refused request its reason, the
// push its outcome, and the enrollment is counted in its final state.
func TestMetricsEndToEnd(t *testing.T) {
	ts := startServer(t)

	if code, _ := ts.scrape(t, ""); code != http.StatusUnauthorized {
		t.Fatalf("/admin/metrics without the admin token: %d, want 401", code)
	}
	if code, _ := ts.scrape(t, "not-the-token"); code != http.StatusUnauthorized {
		t.Fatalf("/admin/metrics with a wrong token: %d, want 401", code)
	}
	_, before := ts.scrape(t, ts.st.admin)
	if n := len(before["enrollkit_enrollments"].GetMetric()); n != len(enroll.States()) {
		t.Fatalf("enrollkit_enrollments has %d states, want %d (zeros included)", n, len(enroll.States()))
	}

	testProfileBased(t, ts)
	// A device request without an identity is refused, and counted with
	// its reason.
	req, _ := http.NewRequestWithContext(t.Context(), "PUT", ts.url+mdmPath, strings.NewReader("<plist/>"))
	req.Header.Set("Content-Type", mdm.ContentTypeCheckin)
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned check-in: %d, want 401", resp.StatusCode)
	}

	_, after := ts.scrape(t, ts.st.admin)
	moved := func(name string, labels map[string]string) float64 {
		return value(after, name, labels) - value(before, name, labels)
	}

	// One transition counted per audit event of the enrollment.
	list, err := ts.st.enroll.List(context.Background(), enroll.ListOptions{})
	if err != nil || len(list) != 1 {
		t.Fatalf("enrollments: %d, %v", len(list), err)
	}
	trail, err := ts.st.enroll.Audit(context.Background(), list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	perEvent := map[enroll.Event]float64{}
	for _, ev := range trail {
		perEvent[ev.Event]++
	}
	for _, ev := range []enroll.Event{enroll.EventInvite, enroll.EventAuthenticate, enroll.EventPasscodeAccepted, enroll.EventConsent,
		enroll.EventIssueProfile, enroll.EventCheckIn, enroll.EventTokenUpdate, enroll.EventCheckOut} {
		if perEvent[ev] == 0 {
			t.Errorf("the audit trail has no %s: %+v", ev, trail)
		}
	}
	for ev, n := range perEvent {
		if got := moved("enrollkit_enrollment_transitions_total", map[string]string{"event": string(ev)}); got != n {
			t.Errorf("transitions{event=%q} moved by %v, want %v", ev, got, n)
		}
	}
	if got := value(after, "enrollkit_enrollments", map[string]string{"state": string(enroll.StateRemoved)}); got != 1 {
		t.Errorf("enrollments{state=removed} = %v, want 1", got)
	}
	if got := value(after, "enrollkit_enrollments", nil); got != 1 {
		t.Errorf("enrollments in all states = %v, want 1", got)
	}
	// Every command the walk queued was answered: the queue gauges are
	// there and read zero.
	for _, name := range []string{"enrollkit_mdm_command_queue_depth", "enrollkit_mdm_command_queue_oldest_age_seconds"} {
		if after[name] == nil || value(after, name, nil) != 0 {
			t.Errorf("%s = %v (present %v), want 0", name, value(after, name, nil), after[name] != nil)
		}
	}
	if got := moved("enrollkit_enrollment_dropoffs_total", nil); got != 0 {
		t.Errorf("dropoffs moved by %v for an enrollment that completed", got)
	}

	// Check-ins by message type and status, command requests by the
	// status the device reported.
	for _, c := range []struct {
		labels map[string]string
		min    float64
	}{
		{map[string]string{"message_type": "Authenticate", "code": "200"}, 1},
		{map[string]string{"message_type": "TokenUpdate", "code": "200"}, 1},
		{map[string]string{"message_type": "CheckOut", "code": "200"}, 1},
		{map[string]string{"command_status": "Acknowledged", "code": "200"}, 1},
		{map[string]string{"command_status": "Idle", "code": "200"}, 1},
		{map[string]string{"message_type": "", "command_status": "", "code": "401"}, 1},
	} {
		if got := moved("enrollkit_mdm_requests_total", c.labels); got < c.min {
			t.Errorf("mdm_requests_total%v moved by %v, want at least %v", c.labels, got, c.min)
		}
	}
	if got := moved("enrollkit_mdm_refused_total", map[string]string{"reason": "no-certificate", "code": "401"}); got != 1 {
		t.Errorf("mdm_refused_total{reason=no-certificate} moved by %v, want 1", got)
	}
	if got, want := moved("enrollkit_mdm_request_duration_seconds", nil), moved("enrollkit_mdm_requests_total", nil); got != want || got == 0 {
		t.Errorf("mdm latency histogram counted %v requests, the request counter %v", got, want)
	}
	if got := moved("enrollkit_push_results_total", map[string]string{"outcome": "accepted"}); got < 1 {
		t.Errorf("push_results_total{outcome=accepted} moved by %v", got)
	}
	for _, part := range []string{"portal", "mdm", "scep", "admin"} {
		if got := moved("enrollkit_http_request_duration_seconds", map[string]string{"part": part}); got < 1 {
			t.Errorf("http latency of %s counted %v requests", part, got)
		}
	}
}

// TestDropOff: an enrollment that ends before its device is enrolled is a
// drop-off at the step it stopped at; one that ends after is not.
func TestDropOff(t *testing.T) {
	tests := []struct {
		from, to enroll.State
		want     bool
	}{
		{enroll.StateInvited, enroll.StateExpired, true},
		{enroll.StateConsented, enroll.StateRevoked, true},
		{enroll.StateAuthenticated, enroll.StateLocked, true},
		{enroll.StateProfileIssued, enroll.StateCheckedIn, false},
		{enroll.StateEnrolled, enroll.StateRevoked, false},
		{enroll.StateUnenrolling, enroll.StateRevoked, false},
	}
	for _, tc := range tests {
		if got := dropOff(enroll.AuditEvent{From: tc.from, To: tc.to}); got != tc.want {
			t.Errorf("dropOff(%s → %s) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

// TestQueueGauge: the queue gauges read the store's QueueStats when
// gathered; a failing read gives no made-up value.
func TestQueueGauge(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		st         mdm.QueueStats
		err        error
		depth, age float64
	}{
		{"empty", mdm.QueueStats{}, nil, 0, 0},
		{"waiting", mdm.QueueStats{Pending: 3, OldestEnqueuedAt: now.Add(-90 * time.Second)}, nil, 3, 90},
		{"queued before times were kept", mdm.QueueStats{Pending: 2}, nil, 2, 0},
		{"store fails", mdm.QueueStats{}, errors.New("database is closed"), -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(&queueGauge{stats: func(context.Context) (mdm.QueueStats, error) { return tc.st, tc.err }, now: func() time.Time { return now }})
			fams, err := reg.Gather()
			if tc.err != nil {
				if err == nil {
					t.Fatal("a failing store read gathered without error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for _, f := range fams {
				got[f.GetName()] = f.GetMetric()[0].GetGauge().GetValue()
			}
			if got["enrollkit_mdm_command_queue_depth"] != tc.depth || got["enrollkit_mdm_command_queue_oldest_age_seconds"] != tc.age {
				t.Fatalf("gauges %v, want depth %v age %v", got, tc.depth, tc.age)
			}
		})
	}
}
