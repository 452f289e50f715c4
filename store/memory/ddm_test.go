package memory_test

import (
	"testing"

	"github.com/enrollkit/enrollkit/ddm"
	"github.com/enrollkit/enrollkit/ddm/ddmtest"
	"github.com/enrollkit/enrollkit/store/memory"
)

func TestDDMStore(t *testing.T) {
	ddmtest.Run(t, func(t *testing.T) ddm.Store { return memory.NewDDMStore() })
	ddmtest.RunReplicas(t, func(t *testing.T) (ddm.Store, ddm.Store) {
		s := memory.NewDDMStore()
		return s, s
	})
}
