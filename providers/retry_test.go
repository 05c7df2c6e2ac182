package providers

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errBusy = errors.New("busy")
var errDenied = errors.New("denied")

func TestRetry(t *testing.T) {
	retryable := func(err error) bool { return errors.Is(err, errBusy) }
	tests := []struct {
		name      string
		attempts  int
		results   []error // what each call returns; the last repeats
		wantCalls int
		wantErr   error
	}{
		{"first call succeeds", 3, []error{nil}, 1, nil},
		{"succeeds on the second call", 3, []error{errBusy, nil}, 2, nil},
		{"succeeds on the last call", 3, []error{errBusy, errBusy, nil}, 3, nil},
		{"gives up after attempts", 3, []error{errBusy}, 3, errBusy},
		{"stops at an error it may not retry", 3, []error{errBusy, errDenied, nil}, 2, errDenied},
		{"one attempt only", 1, []error{errBusy, nil}, 1, errBusy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			var gaps []time.Duration
			last := time.Now()
			err := Retry(context.Background(), tt.attempts, time.Millisecond, retryable, func() error {
				now := time.Now()
				if calls > 0 {
					gaps = append(gaps, now.Sub(last))
				}
				last = now
				r := tt.results[min(calls, len(tt.results)-1)]
				calls++
				return r
			})
			if calls != tt.wantCalls || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Retry: %d calls, err %v; want %d calls, err %v", calls, err, tt.wantCalls, tt.wantErr)
			}
			for i, g := range gaps {
				if min := time.Millisecond << i; g < min {
					t.Errorf("wait before call %d was %v, want at least %v (doubling)", i+2, g, min)
				}
			}
		})
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	start := time.Now()
	err := Retry(ctx, 5, time.Hour, func(error) bool { return true }, func() error {
		calls++
		cancel()
		return errBusy
	})
	if err != context.Canceled || calls != 1 {
		t.Errorf("Retry = %v after %d calls; want context.Canceled itself after 1", err, calls)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Retry waited %v after the context ended", d)
	}
}
