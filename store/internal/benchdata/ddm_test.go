package benchdata

import (
	"context"
	"testing"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/store/memory"
)

// TestDDMPopulation checks the declarative management population the
// benchmarks seed: 50 declarations whose references resolve, four sets,
// and what a device of each set is served and withheld.
func TestDDMPopulation(t *testing.T) {
	ctx := context.Background()
	decls, sets := DDMCatalog()
	if len(decls) != 50 || len(sets) != 4 {
		t.Fatalf("%d declarations in %d sets, want 50 in 4", len(decls), len(sets))
	}
	const n = 40
	ds, ms := memory.NewDDMStore(), memory.NewMDMStore()
	for i := range n {
		_, _, rec := Enrolled(i)
		if err := ms.PutEnrollment(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := DDMSeed(ctx, ds, n); err != nil {
		t.Fatal(err)
	}
	svc, err := NewMDMService(ms, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ddm.New(ds, svc, ddm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		device           int
		served, withheld int
	}{
		{device: 2, served: 29, withheld: 3}, // all-byod: 30 less 3 withheld, and the 2 defaults; software update and disk settings, their activation
		{device: 0, served: 35, withheld: 3}, // and sales
		{device: 1, served: 37, withheld: 3}, // and engineering
		{device: 3, served: 33, withheld: 3}, // and support
	}
	for _, tc := range tests {
		st, err := s.Sync(ctx, DeviceID(tc.device))
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Items) != tc.served || len(st.Withheld) != tc.withheld {
			t.Errorf("device %d (%v): %d served, %d withheld %+v; want %d and %d", tc.device, DDMSets(tc.device), len(st.Items), len(st.Withheld), st.Withheld, tc.served, tc.withheld)
		}
	}
	if got := InSales(n); got != 4 {
		t.Errorf("InSales(%d) = %d", n, got)
	}
}
