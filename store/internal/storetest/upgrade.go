package storetest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
)

// OldMDMRows inserts, into a database at a schema version before MDM
// records had a platform, a macOS User Enrollment with its product name and
// one with no device facts, as releases before then stored them. arg
// renders a statement's n-th argument ("?" or "$n").
func OldMDMRows(arg func(n int) string) (query string, rows [][]any) {
	cols := []string{"id", "type", "parent_id", "certificate", "topic", "os_version", "build_version", "product_name",
		"serial_number", "device_name", "model", "model_name", "token", "push_magic", "token_dead", "enrolled",
		"checked_out", "authenticated_us", "updated_us"}
	vals := make([]string, len(cols))
	for i := range vals {
		vals[i] = arg(i + 1)
	}
	query = "INSERT INTO mdm_enrollments (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(vals, ", ") + ")"
	row := func(id, osVersion, productName string, cert byte) []any {
		return []any{id, int64(mdm.UserEnrollmentDevice), "", bytes.Repeat([]byte{cert}, 32), "com.apple.mgmt.x",
			osVersion, "", productName, "", "", "", "", nil, "", false, true, false, nil, nil}
	}
	return query, [][]any{row("OLD-MAC", "15.1", "Mac14,2", 1), row("OLD-BARE", "", "", 2)}
}

// CheckOldMDMRows checks the rows OldMDMRows wrote after the store migrated
// them: their platform is unknown, and the command policy judges the one
// with a product name by it and the other by its strictest table.
func CheckOldMDMRows(t *testing.T, s mdm.Store) {
	t.Helper()
	ctx := context.Background()
	tests := []struct {
		id, command string
		table       string
	}{
		{"OLD-MAC", "InstallMedia", "macOS"},
		{"OLD-MAC", "ManagedMediaList", "macOS"},
		{"OLD-BARE", "DeviceLock", "macOS"},
		{"OLD-BARE", "InstallEnterpriseApplication", "iOS"},
	}
	for _, tc := range tests {
		rec, err := s.Enrollment(ctx, mdm.EnrollmentID(tc.id))
		if err != nil {
			t.Fatalf("Enrollment(%s) after the upgrade: %v", tc.id, err)
		}
		if rec.Platform != mdm.PlatformUnknown || rec.Type != mdm.UserEnrollmentDevice {
			t.Fatalf("%s: platform %q, type %s; want unknown, %s", tc.id, rec.Platform, rec.Type, mdm.UserEnrollmentDevice)
		}
		var pe *mdm.PolicyError
		if err := mdm.CheckPolicy(rec, tc.command); !errors.As(err, &pe) || pe.Table != tc.table {
			t.Errorf("CheckPolicy(%s, %s) = %v, want refused by the %s table", tc.id, tc.command, err, tc.table)
		}
	}
	rec, err := s.Enrollment(ctx, "OLD-MAC")
	if err != nil {
		t.Fatal(err)
	}
	if err := mdm.CheckPolicy(rec, "InstallEnterpriseApplication"); err != nil {
		t.Errorf("an old macOS row is refused what macOS allows: %v", err)
	}
}
