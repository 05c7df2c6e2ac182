package providers

import (
	"context"
	"time"
)

// Retry calls try until it succeeds, fails with an error retryable refuses, or has been
// called attempts times, waiting wait before the second call and twice as long before each
// next one. It returns try's last error, or ctx.Err() itself when ctx ends during a wait.
func Retry(ctx context.Context, attempts int, wait time.Duration, retryable func(error) bool, try func() error) error {
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil || !retryable(err) || attempt >= attempts {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}
