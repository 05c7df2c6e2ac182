package providers

import (
	"sync"

	"github.com/portpath/portpath/report"
)

// Parallel runs fn for every item at once, with the item's index, and waits for all of them.
func Parallel[T any](items []T, fn func(int, T)) {
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Go(func() { fn(i, it) })
	}
	wg.Wait()
}

// Gather runs fn(0), …, fn(n-1) at once and returns their steps one after another, in
// index order.
func Gather(n int, fn func(i int) []report.Step) []report.Step {
	results := make([][]report.Step, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = fn(i) })
	}
	wg.Wait()
	var out []report.Step
	for _, r := range results {
		out = append(out, r...)
	}
	return out
}
