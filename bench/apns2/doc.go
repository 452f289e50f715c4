// Package apns2 compares enrollkit's apns client with
// github.com/sideshow/apns2, both configured for MDM pushes, against the same
// local HTTP/2 server in the same run: go test -bench . -count 5
//
// It is a separate module so that apns2 never becomes a dependency of the
// SDK.
package apns2
