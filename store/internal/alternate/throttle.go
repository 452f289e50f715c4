package alternate

import (
	"context"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
)

var _ enroll.FailureStore = (*EnrollStore)(nil)

// failures returns the next store as an enroll.FailureStore; every store
// given to an EnrollStore of this module is one.
func (a *EnrollStore) failures() enroll.FailureStore { return a.next().(enroll.FailureStore) }

// AddFailure implements enroll.FailureStore.
func (a *EnrollStore) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (enroll.Failures, error) {
	return a.failures().AddFailure(ctx, key, now, window)
}

// Failures implements enroll.FailureStore.
func (a *EnrollStore) Failures(ctx context.Context, key string) (enroll.Failures, error) {
	return a.failures().Failures(ctx, key)
}

// ResetFailures implements enroll.FailureStore.
func (a *EnrollStore) ResetFailures(ctx context.Context, key string) error {
	return a.failures().ResetFailures(ctx, key)
}

// PruneFailures implements enroll.FailureStore.
func (a *EnrollStore) PruneFailures(ctx context.Context, before time.Time) error {
	return a.failures().PruneFailures(ctx, before)
}
