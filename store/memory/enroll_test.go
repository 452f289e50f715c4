package memory_test

import (
	"testing"

	"github.com/enrollkit/enrollkit/enroll"
	"github.com/enrollkit/enrollkit/enroll/enrolltest"
	"github.com/enrollkit/enrollkit/store/memory"
)

func TestEnrollStoreConformance(t *testing.T) {
	enrolltest.Run(t, func(*testing.T) enroll.Store { return memory.NewEnrollStore() })
}
