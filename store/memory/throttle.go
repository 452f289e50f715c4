package memory

import (
	"context"
	"time"

	"github.com/enrollkit/enrollkit/enroll"
)

var _ enroll.FailureStore = (*EnrollStore)(nil)

// AddFailure implements enroll.FailureStore.
func (s *EnrollStore) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (enroll.Failures, error) {
	if err := ctx.Err(); err != nil {
		return enroll.Failures{}, err
	}
	n, last := s.failures.Add(key, now, window)
	return enroll.Failures{Count: n, Last: last}, nil
}

// Failures implements enroll.FailureStore.
func (s *EnrollStore) Failures(ctx context.Context, key string) (enroll.Failures, error) {
	if err := ctx.Err(); err != nil {
		return enroll.Failures{}, err
	}
	n, last := s.failures.Get(key)
	return enroll.Failures{Count: n, Last: last}, nil
}

// ResetFailures implements enroll.FailureStore.
func (s *EnrollStore) ResetFailures(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.failures.Reset(key)
	return nil
}

// PruneFailures implements enroll.FailureStore.
func (s *EnrollStore) PruneFailures(ctx context.Context, before time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.failures.Prune(before)
	return nil
}
