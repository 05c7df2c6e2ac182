package providers

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/portpath/portpath/report"
)

func TestParallelRunsEveryItemAtOnce(t *testing.T) {
	items := []string{"r1", "r2", "r3", "r4"}
	var arrived sync.WaitGroup
	arrived.Add(len(items))
	seen := make([]string, len(items))
	// Each call waits until all have started: this only returns if they run at the same time.
	Parallel(items, func(i int, it string) {
		arrived.Done()
		arrived.Wait()
		seen[i] = it
	})
	if !slices.Equal(seen, items) {
		t.Errorf("Parallel saw %q, want %q", seen, items)
	}
	var n atomic.Int32
	Parallel([]int(nil), func(int, int) { n.Add(1) })
	if n.Load() != 0 {
		t.Errorf("Parallel over no items ran fn %d times", n.Load())
	}
}

func TestGatherKeepsIndexOrder(t *testing.T) {
	steps := func(i int) []report.Step {
		var out []report.Step
		for j := range i % 3 { // 0, 1 or 2 steps per index
			out = append(out, report.Step{Layer: fmt.Sprintf("l%d.%d", i, j)})
		}
		return out
	}
	tests := []struct {
		name string
		n    int
		want []string
	}{
		{"none", 0, nil},
		{"one empty", 1, nil},
		{"mixed", 6, []string{"l1.0", "l2.0", "l2.1", "l4.0", "l5.0", "l5.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var started sync.WaitGroup
			started.Add(tt.n)
			got := Gather(tt.n, func(i int) []report.Step {
				started.Done()
				started.Wait() // all run at once, finishing in any order
				return steps(i)
			})
			var layers []string
			for _, s := range got {
				layers = append(layers, s.Layer)
			}
			if !slices.Equal(layers, tt.want) {
				t.Errorf("Gather(%d) layers = %q, want %q", tt.n, layers, tt.want)
			}
		})
	}
}
