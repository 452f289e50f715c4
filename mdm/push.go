package mdm

import "context"

// PushTarget is everything needed to wake one enrolled device: the values the
// device reported in its latest TokenUpdate.
type PushTarget struct {
	// EnrollmentID names the enrollment the target belongs to (the UDID or
	// EnrollmentID the device checks in with). It is returned unchanged in
	// the matching PushResult.
	EnrollmentID string
	// Token is the device's APNs token (TokenUpdate "Token").
	Token []byte
	// PushMagic is the string the push body must carry (TokenUpdate "PushMagic").
	PushMagic string
	// Topic is the push topic the device reported (TokenUpdate "Topic").
	Topic string
}

// PushResult is the outcome of one push.
type PushResult struct {
	// EnrollmentID is copied from the PushTarget.
	EnrollmentID string
	// ID is an identifier the push service gave the push, if any.
	ID string
	// Err is nil when the push service accepted the push. An error for which
	// errors.Is(err, ErrPushTokenDead) reports true means the token will never
	// work again: the service stops pushing it until a new TokenUpdate.
	Err error
}

// Pusher wakes devices so that they fetch their queued commands.
//
// Push sends one push per target and returns exactly one result per target,
// in the same order, also when it returns an error. The error return is
// reserved for failures that affect the whole call (for example a cancelled
// context); per device failures are reported in the results, and the Service
// acts on them (marking dead tokens) whether or not the call failed.
// Implementations log their own failures, at a level that matches their
// class; the Service does not log them again. Implementations must be safe
// for concurrent use and must not retain targets after Push returns.
type Pusher interface {
	Push(ctx context.Context, targets []PushTarget) ([]PushResult, error)
}

// PusherFunc adapts a function to the Pusher interface.
type PusherFunc func(ctx context.Context, targets []PushTarget) ([]PushResult, error)

// Push calls f(ctx, targets).
func (f PusherFunc) Push(ctx context.Context, targets []PushTarget) ([]PushResult, error) {
	return f(ctx, targets)
}
