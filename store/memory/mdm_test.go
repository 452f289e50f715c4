package memory_test

import (
	"testing"

	"github.com/enrollkit/enrollkit/mdm"
	"github.com/enrollkit/enrollkit/mdm/mdmtest"
	"github.com/enrollkit/enrollkit/store/memory"
)

func TestMDMStore(t *testing.T) {
	mdmtest.Run(t, func(t *testing.T) mdm.Store { return memory.NewMDMStore() })
}
