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
		name := "sqlite"
		if dsn != "" {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			p := p
			p.postgres = dsn
			res := run(t, p)
			t.Log("\n" + res.table())
			for k := range res.ours {
				for _, m := range []measurement{res.ours[k], res.peer[k]} {
					if m.requests != p.requests || m.wall <= 0 {
						t.Errorf("%s: %d requests in %v, want %d", kind(k), m.requests, m.wall, p.requests)
					}
				}
			}
			// 200 requests take a few clock ticks at most: the sum over
			// both servers and kinds shows the accounting is read.
			var total time.Duration
			for k := range res.ours {
				total += res.ours[k].cpu + res.peer[k].cpu
			}
			if total <= 0 || res.enrollment.cpu <= 0 {
				t.Errorf("no server CPU accounted (replay %v, enrollment %v)", total, res.enrollment.cpu)
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
	var out strings.Builder
	fmt.Fprintf(&out, "%d devices; per server, kind and round %d requests, %d in flight; %d rounds\n",
		p.devices, p.requests, p.concurrency, p.rounds)
	for _, dsn := range backends {
		p.postgres = dsn
		res := run(t, p)
		out.WriteString(res.table())
	}
	fmt.Print(out.String())
}

// table formats a result: CPU per request, throughput and the ratios.
func (r result) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", r.backend)
	fmt.Fprintf(&b, "  %-12s %14s %14s %10s %12s %12s %10s\n",
		"request", "portal CPU/op", "nanomdm CPU/op", "CPU ratio", "portal op/s", "nanomdm op/s", "op/s ratio")
	for k := range r.ours {
		o, n := r.ours[k], r.peer[k]
		fmt.Fprintf(&b, "  %-12s %12.0fµs %12.0fµs %10.2f %12.0f %12.0f %10.2f\n",
			kind(k), micros(o.perRequest()), micros(n.perRequest()), ratio(micros(o.perRequest()), micros(n.perRequest())),
			o.rate(), n.rate(), ratio(o.rate(), n.rate()))
	}
	fmt.Fprintf(&b, "  enrollment (portal, SCEP, Authenticate, TokenUpdate): %.1f ms portal CPU per device, %d devices\n",
		micros(r.enrollment.perRequest())/1000, r.enrollment.requests)
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
