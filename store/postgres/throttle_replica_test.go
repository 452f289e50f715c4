package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
)

// TestReplicasThrottleWrongPasswords races wrong passwords for one
// enrollment on two replicas over one database: exactly five are checked,
// every other one is throttled, and the right password is then refused
// too until the back-off has passed.
func TestReplicasThrottleWrongPasswords(t *testing.T) {
	c := newCluster(t, 2)
	ctx := context.Background()
	inv, err := c.at(0).svc.CreateInvitation(ctx, enroll.Meta{Actor: "admin"}, users["alice"])
	if err != nil {
		t.Fatal(err)
	}
	enrolltest.RaceWrongPasswords(t, 30, func(i int) error {
		m := meta
		m.ClientIP = fmt.Sprintf("198.51.100.%d", i)
		_, err := c.at(i).svc.Authenticate(ctx, m, inv.EnrollmentID, "alice", "wrong", enroll.OwnershipEmployee)
		return err
	})
	for i := range c.replicas {
		if _, err := c.at(i).svc.Authenticate(ctx, meta, inv.EnrollmentID, "alice", password, enroll.OwnershipEmployee); !errors.Is(err, enroll.ErrThrottled) {
			t.Fatalf("replica %d: the right password during the back-off gave %v, want ErrThrottled", i, err)
		}
	}
}
