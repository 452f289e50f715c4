package memory_test

import (
	"context"
	"testing"

	"github.com/enrollkit/enrollkit/store/internal/benchdata"
	"github.com/enrollkit/enrollkit/store/memory"
)

// BenchmarkDDM is the durable stores' BenchmarkDDM (see benchdata.DDM) on
// the memory stores, as a reference: the work of package ddm itself.
func BenchmarkDDM(b *testing.B) {
	ctx := context.Background()
	ms, ds := memory.NewMDMStore(), memory.NewDDMStore()
	for i := range benchdata.Devices {
		_, _, rec := benchdata.Enrolled(i)
		if err := ms.PutEnrollment(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
	if err := benchdata.DDMSeed(ctx, ds, benchdata.Devices); err != nil {
		b.Fatal(err)
	}
	benchdata.DDM(b, ds, ms, benchdata.Devices)
}
