// Package server measures the whole example server (examples/portal) against
// github.com/micromdm/nanomdm, a pinned release built from its module, in
// the same run: each binary runs as its own process, the same simulated
// devices enroll in both, and then the same signed Idle polls and
// TokenUpdates are replayed against each, alternating between the servers
// in rounds so that a change in the machine's load falls on both. The
// figure is server CPU per request, read from the server process's own
// accounting (/proc/PID/stat, user plus system time), and throughput.
//
// The example server runs on SQLite and nanomdm on its default file
// storage (filekv); with ENROLLKIT_POSTGRES_DSN set, the two run again on
// PostgreSQL (nanomdm's pgsql storage, its schema applied), each in a
// schema of its own that is dropped afterwards. The devices enroll in the
// example server through the invitation portal and SCEP (package
// devicesim); nanomdm is given the example server's development CA with
// -ca, so the same device identities sign their Authenticate, TokenUpdate
// and Idle messages (Mdm-Signature) for both.
//
// Without ENROLLKIT_SERVERBENCH set, `go test ./...` runs a smoke version
// that checks both servers answer and that the harness computes a figure.
// The measurement itself, from this directory:
//
//	ENROLLKIT_SERVERBENCH=1 ENROLLKIT_POSTGRES_DSN="postgres://postgres@127.0.0.1:5432/test?sslmode=disable" \
//	    go test -run TestServerLoad -count=1 -timeout 30m -v
//
// ENROLLKIT_SERVERBENCH_DEVICES (default 100), _REQUESTS (requests per
// server, kind and round; default 5000), _ROUNDS (default 3),
// _CONCURRENCY (requests in flight; default 8) and _TAGS (build tags for
// the example server) change the run. ENROLLKIT_SERVERBENCH_TAGS_B builds
// the example server a second time with other tags and runs that build
// beside the first, on the same data directory and database as a replica:
// devices enroll in the two in turns, and the replay alternates among all
// three servers, so a change to the example server is measured against
// itself under the same load. The harness needs Linux (/proc) and the go
// command; it builds the servers itself.
//
// It is a separate module so that nanomdm never becomes a dependency of
// the SDK.
package server
