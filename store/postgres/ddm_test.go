package postgres_test

import (
	"context"
	"testing"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/ddm/ddmtest"
	"github.com/enrollkit/enrollkit/store/postgres"
)

func TestDDMConformance(t *testing.T) {
	ddmtest.Run(t, func(t *testing.T) ddm.Store { return open(t).DDM() })
	ddmtest.RunReplicas(t, func(t *testing.T) (ddm.Store, ddm.Store) {
		dsn, schema := postgres.FreshSchema(t)
		var out []ddm.Store
		for range 2 {
			db, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			out = append(out, db.DDM())
		}
		return out[0], out[1]
	})
}
