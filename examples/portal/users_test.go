package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
)

// TestDirectorySeesAddUser checks that a running server's directory picks
// up a user that adduser (another process, here another directory value on
// the same file) added after it started, and keeps working from its cache
// while the file is unchanged.
func TestDirectorySeesAddUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), usersFile)
	server, err := openDirectory(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := server.Authenticate(ctx, "dave", "pw"); !errors.Is(err, enroll.ErrBadCredentials) {
		t.Fatalf("before adduser: %v", err)
	}
	cli, err := openDirectory(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.add("dave", "pw", "dave@example.com"); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time from the cache
		u, err := server.Authenticate(ctx, "Dave", "pw")
		if err != nil || u.ID != "dave" {
			t.Fatalf("after adduser: %+v, %v", u, err)
		}
	}
	if id, err := server.UserID(ctx, "DAVE@example.com"); err != nil || id != "dave" {
		t.Fatalf("UserID: %q, %v", id, err)
	}
	if err := cli.add("erin", "pw2", "erin@example.com"); err != nil {
		t.Fatal(err)
	}
	if mai, err := server.ManagedAppleID(ctx, "erin"); err != nil || mai != "erin@example.com" {
		t.Fatalf("a second adduser: %q, %v", mai, err)
	}
	if _, err := server.Authenticate(ctx, "dave", "wrong"); !errors.Is(err, enroll.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
}
