// Package apns2 compares enrollkit's apns client with
// github.com/sideshow/apns2, both configured for MDM pushes, against the same
// local HTTP/2 server in the same run, with the same number of pushes in
// flight over one connection:
//
//	go test -run '^$' -bench . -benchtime 20000x -count 5
//
// BenchmarkPush measures each client on its own (pushes/s); because the
// machine's load can change between the two, BenchmarkPushInterleaved
// alternates batches of 1,000 pushes between the clients and reports both
// rates and their ratio (speedup).
//
// Both clients speak HTTP/2 with golang.org/x/net/http2's Transport, so the
// difference is the layer above it: how a push becomes a request and its
// answer a result.
//
// It is a separate module so that apns2 never becomes a dependency of the
// SDK.
package apns2
