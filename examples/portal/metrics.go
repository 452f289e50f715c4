package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/mdm"
)

// metrics are the server's Prometheus metrics. The SDK packages know
// nothing of Prometheus: the counters are fed by their hooks
// (enroll.Config.OnTransition, mdm.Config.OnRequest, the Pusher's
// results), and the enrollments by state are counted from the store when
// /admin/metrics is scraped.
type metrics struct {
	reg *prometheus.Registry

	transitions *prometheus.CounterVec
	dropOffs    *prometheus.CounterVec
	requests    *prometheus.CounterVec
	refused     *prometheus.CounterVec
	mdmLatency  *prometheus.HistogramVec
	pushes      *prometheus.CounterVec
	httpLatency *prometheus.HistogramVec
}

// newMetrics registers the metrics; list and queue are how the enrollments
// and command queue gauges read the stores at scrape time.
func newMetrics(list func(context.Context, enroll.ListOptions) ([]*enroll.Enrollment, error), queue func(context.Context) (mdm.QueueStats, error)) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrollkit_enrollment_transitions_total",
			Help: "Stored transitions of enrollments, by event and the states before and after.",
		}, []string{"event", "from", "to"}),
		dropOffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrollkit_enrollment_dropoffs_total",
			Help: "Enrollments that ended (expired, revoked or locked) before the device was enrolled, by the step they stopped at.",
		}, []string{"state", "to"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrollkit_mdm_requests_total",
			Help: "Device requests to the MDM endpoint, by check-in message type or command status, and HTTP status.",
		}, []string{"message_type", "command_status", "code"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrollkit_mdm_refused_total",
			Help: "Device requests the MDM endpoint refused, by reason (mdm.RefusalReason) and HTTP status.",
		}, []string{"reason", "code"}),
		mdmLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "enrollkit_mdm_request_duration_seconds",
			Help:    "Time the MDM service took to answer a device request, by kind (checkin, command, or refused before the body was read).",
			Buckets: prometheus.DefBuckets,
		}, []string{"kind"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrollkit_push_results_total",
			Help: "Pushes sent to wake devices, by outcome (accepted, token-dead, failed).",
		}, []string{"outcome"}),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "enrollkit_http_request_duration_seconds",
			Help:    "Time the server took to answer an HTTP request, by the part that served it.",
			Buckets: prometheus.DefBuckets,
		}, []string{"part"}),
	}
	m.reg.MustRegister(m.transitions, m.dropOffs, m.requests, m.refused, m.mdmLatency, m.pushes, m.httpLatency,
		&enrollmentGauge{list: list}, &queueGauge{stats: queue, now: time.Now})
	return m
}

// transition is enroll.Config.OnTransition.
func (m *metrics) transition(_ context.Context, ev enroll.AuditEvent) {
	m.transitions.WithLabelValues(string(ev.Event), string(ev.From), string(ev.To)).Inc()
	if dropOff(ev) {
		m.dropOffs.WithLabelValues(string(ev.From), string(ev.To)).Inc()
	}
}

// dropOff reports whether ev ends an enrollment that never had a managed
// device: the user (or the clock, or the host) left it on the way.
func dropOff(ev enroll.AuditEvent) bool {
	switch ev.To {
	case enroll.StateExpired, enroll.StateRevoked, enroll.StateLocked:
	default:
		return false
	}
	switch ev.From {
	case enroll.StateEnrolled, enroll.StateUnenrolling, enroll.StateRemoved, enroll.StateExpired, enroll.StateRevoked, enroll.StateLocked:
		return false
	}
	return true
}

// request is mdm.Config.OnRequest. Its labels come from fixed sets: mdm
// reports only message types and statuses it knows (others are refused as
// malformed), and only from a device whose identity verified.
func (m *metrics) request(_ context.Context, rep *mdm.RequestReport) {
	code := strconv.Itoa(rep.HTTPStatus)
	m.requests.WithLabelValues(string(rep.MessageType), string(rep.Status), code).Inc()
	if rep.Reason != "" {
		m.refused.WithLabelValues(rep.Reason, code).Inc()
	}
	kind := "unread"
	switch {
	case rep.MessageType != "":
		kind = "checkin"
	case rep.Status != "":
		kind = "command"
	}
	m.mdmLatency.WithLabelValues(kind).Observe(rep.Duration.Seconds())
}

// pusher counts the outcome of every push p sends.
func (m *metrics) pusher(p mdm.Pusher) mdm.Pusher {
	return mdm.PusherFunc(func(ctx context.Context, targets []mdm.PushTarget) ([]mdm.PushResult, error) {
		res, err := p.Push(ctx, targets)
		for _, r := range res {
			m.pushes.WithLabelValues(pushOutcome(r.Err)).Inc()
		}
		return res, err
	})
}

// pushOutcome names the outcome of one push for the outcome label.
func pushOutcome(err error) string {
	switch {
	case err == nil:
		return "accepted"
	case errors.Is(err, mdm.ErrPushTokenDead):
		return "token-dead"
	}
	return "failed"
}

// handler serves the metrics in Prometheus's text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// instrument times every request h serves, by the part of the server
// (the first segment of its path) that serves it.
func (m *metrics) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		m.httpLatency.WithLabelValues(part(r.URL.Path)).Observe(time.Since(start).Seconds())
	})
}

// part names the part of the server that serves path, from a fixed set so
// that a client cannot mint label values.
func part(path string) string {
	for _, p := range []struct{ prefix, name string }{
		{portalPath, "portal"}, {mdmPath, "mdm"}, {scepPath, "scep"}, {acmePath + "/", "acme"}, {adminPath, "admin"}, {"/.well-known/", "well-known"},
	} {
		if strings.HasPrefix(path, p.prefix) || path+"/" == p.prefix {
			return p.name
		}
	}
	return "other"
}

// enrollmentGauge counts the stored enrollments by state when scraped.
type enrollmentGauge struct {
	list func(context.Context, enroll.ListOptions) ([]*enroll.Enrollment, error)
}

var enrollmentsDesc = prometheus.NewDesc("enrollkit_enrollments",
	"Stored enrollments by state, counted when scraped.", []string{"state"}, nil)

// Describe implements prometheus.Collector.
func (g *enrollmentGauge) Describe(ch chan<- *prometheus.Desc) { ch <- enrollmentsDesc }

// Collect implements prometheus.Collector: one read of the store per
// scrape, a zero for every state that has no enrollment.
func (g *enrollmentGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := g.list(ctx, enroll.ListOptions{})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(enrollmentsDesc, err)
		return
	}
	n := map[enroll.State]int{}
	for _, e := range list {
		n[e.State]++
	}
	for _, s := range enroll.States() {
		ch <- prometheus.MustNewConstMetric(enrollmentsDesc, prometheus.GaugeValue, float64(n[s]), string(s))
	}
}

// queueGauge reports the commands waiting for devices, and how long the
// oldest has waited, from one read of the MDM store per scrape.
type queueGauge struct {
	stats func(context.Context) (mdm.QueueStats, error)
	now   func() time.Time
}

var (
	queueDepthDesc = prometheus.NewDesc("enrollkit_mdm_command_queue_depth",
		"Commands queued and not yet answered with a final status or expired, over all devices, read when scraped.", nil, nil)
	queueAgeDesc = prometheus.NewDesc("enrollkit_mdm_command_queue_oldest_age_seconds",
		"How long the oldest of those commands has waited since it was queued (0 when none waits), read when scraped.", nil, nil)
)

// Describe implements prometheus.Collector.
func (g *queueGauge) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueAgeDesc
}

// Collect implements prometheus.Collector.
func (g *queueGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := g.stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDepthDesc, err)
		ch <- prometheus.NewInvalidMetric(queueAgeDesc, err)
		return
	}
	age := 0.0
	if !st.OldestEnqueuedAt.IsZero() {
		age = max(g.now().Sub(st.OldestEnqueuedAt).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, age)
}
