package postgres_test

import (
	"testing"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/ddm/ddmtest"
)

func TestDDMConformance(t *testing.T) {
	ddmtest.Run(t, func(t *testing.T) ddm.Store { return open(t).DDM() })
	ddmtest.RunReplicas(t, func(t *testing.T) (ddm.Store, ddm.Store) {
		a, b := openPair(t)
		return a.DDM(), b.DDM()
	})
}
