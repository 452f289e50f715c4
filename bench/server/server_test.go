package server

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// postgresDSN is the database of the PostgreSQL runs, "" for none. Under
// CI=true it must be set: the PostgreSQL pair is not skipped there.
func postgresDSN(t *testing.T) string {
	dsn := os.Getenv("ENROLLKIT_POSTGRES_DSN")
	if dsn == "" && os.Getenv("CI") == "true" {
		t.Fatal("ENROLLKIT_POSTGRES_DSN is not set under CI=true")
	}
	return dsn
}

// TestSmoke is the short version `go test ./...` runs: both servers build,
// start, enroll a few devices and answer signed Idle polls and
// TokenUpdates, and the harness computes a CPU figure for each.
func TestSmoke(t *testing.T) {
	p := params{devices: 2, requests: 200, rounds: 1, concurrency: 2}
	backends := []string{""}
	if dsn := postgresDSN(t); dsn != "" {
		backends = append(backends, dsn)
	}
	for _, dsn := range backends {
		t.Run(backendName(dsn), func(t *testing.T) {
			p := p
			p.postgres = dsn
			res := run(t, p)
			t.Log("\n" + res.table())
			// 200 requests take a few clock ticks at most: the sum over
			// the servers and kinds shows the accounting is read.
			var total time.Duration
			for _, s := range res.servers {
				for k, m := range s.m {
					if m.requests != p.requests || m.wall <= 0 {
						t.Errorf("%s %s: %d requests in %v, want %d", s.name, kind(k), m.requests, m.wall, p.requests)
					}
					total += m.cpu
				}
			}
			if enrollment := res.servers[0].enrollment; total <= 0 || enrollment.cpu <= 0 {
				t.Errorf("no server CPU accounted (replay %v, enrollment %v)", total, enrollment.cpu)
			}
		})
	}
}

// TestServerLoad is the measurement (see the package doc); it runs only
// with ENROLLKIT_SERVERBENCH set.
func TestServerLoad(t *testing.T) {
	if os.Getenv("ENROLLKIT_SERVERBENCH") == "" {
		t.Skip("set ENROLLKIT_SERVERBENCH=1 to run the whole-server benchmark")
	}
	p := params{
		devices:     envInt(t, "ENROLLKIT_SERVERBENCH_DEVICES", 100),
		requests:    envInt(t, "ENROLLKIT_SERVERBENCH_REQUESTS", 5000),
		rounds:      envInt(t, "ENROLLKIT_SERVERBENCH_ROUNDS", 3),
		concurrency: envInt(t, "ENROLLKIT_SERVERBENCH_CONCURRENCY", 8),
	}
	backends := []string{""}
	if dsn := postgresDSN(t); dsn != "" {
		backends = append(backends, dsn)
	}
	fmt.Printf("%d devices; per server, kind and round %d requests, %d in flight; %d rounds\n",
		p.devices, p.requests, p.concurrency, p.rounds)
	for _, dsn := range backends {
		p.postgres = dsn
		// A subtest each, so that one pair of servers has stopped
		// before the next starts.
		t.Run(backendName(dsn), func(t *testing.T) {
			fmt.Print(run(t, p).table())
		})
	}
}

func backendName(dsn string) string {
	if dsn == "" {
		return "sqlite"
	}
	return "postgres"
}

// table formats a result: CPU per request and throughput of each server,
// and their ratios to nanomdm's.
func (r result) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.backend)
	fmt.Fprintf(&b, "  %-12s %-9s %10s %7s %9s %7s\n", "request", "server", "CPU/op", "ratio", "op/s", "ratio")
	peer := r.servers[len(r.servers)-1]
	for k := range peer.m {
		n := peer.m[k]
		for _, s := range r.servers {
			o := s.m[k]
			fmt.Fprintf(&b, "  %-12s %-9s %8.0fµs %7.2f %9.0f %7.2f\n", kind(k), s.name,
				micros(o.perRequest()), ratio(micros(o.perRequest()), micros(n.perRequest())),
				o.rate(), ratio(o.rate(), n.rate()))
		}
	}
	for _, s := range r.servers {
		if e := s.enrollment; e.requests > 0 {
			fmt.Fprintf(&b, "  enrollment (invitation portal, SCEP, Authenticate, TokenUpdate) in %s: %.1f ms CPU per device, %d devices\n",
				s.name, micros(e.perRequest())/1000, e.requests)
		}
	}
	return b.String()
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}

// withParam adds key=value to a PostgreSQL DSN, URL or keyword/value form.
func withParam(dsn, key, value string) (string, error) {
	if !strings.Contains(dsn, "://") {
		return dsn + " " + key + "=" + value, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("ENROLLKIT_POSTGRES_DSN: %w", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
