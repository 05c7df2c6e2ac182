package providers

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestMemoRunsOncePerKey(t *testing.T) {
	tests := []struct {
		name    string
		keys    []string
		callers int
	}{
		{"one key, one caller", []string{"a"}, 1},
		{"one key, many callers", []string{"a"}, 50},
		{"three keys, many callers", []string{"a", "b", "c"}, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Memo[string, string]
			runs := map[string]*atomic.Int32{}
			for _, k := range tt.keys {
				runs[k] = &atomic.Int32{}
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			got := make([][]string, tt.callers)
			for c := range tt.callers {
				wg.Go(func() {
					<-start
					for _, k := range tt.keys {
						v, err := m.Get(k, func() (string, error) {
							runs[k].Add(1)
							return "value of " + k, nil
						})
						if err != nil {
							t.Errorf("Get(%q): %v", k, err)
						}
						got[c] = append(got[c], v)
					}
				})
			}
			close(start)
			wg.Wait()
			for _, k := range tt.keys {
				if n := runs[k].Load(); n != 1 {
					t.Errorf("fn for %q ran %d times, want 1", k, n)
				}
			}
			for c, vs := range got {
				for i, k := range tt.keys {
					if vs[i] != "value of "+k {
						t.Errorf("caller %d got %q for %q", c, vs[i], k)
					}
				}
			}
		})
	}
}

func TestMemoKeepsError(t *testing.T) {
	var m Memo[int, []int]
	boom := errors.New("boom")
	runs := 0
	for range 3 {
		v, err := m.Get(7, func() ([]int, error) { runs++; return nil, boom })
		if !errors.Is(err, boom) || v != nil {
			t.Fatalf("Get = %v, %v; want nil, boom", v, err)
		}
	}
	if runs != 1 {
		t.Errorf("failing fn ran %d times, want 1 (the error is remembered too)", runs)
	}
	v, err := m.Get(8, func() ([]int, error) { return []int{8}, nil })
	if err != nil || len(v) != 1 || v[0] != 8 {
		t.Errorf("Get(8) = %v, %v; want [8], nil", v, err)
	}
}

func TestMemoWaitsForRunningFn(t *testing.T) {
	var m Memo[string, int]
	release := make(chan struct{})
	entered := make(chan struct{})
	var runs atomic.Int32
	first := make(chan int)
	go func() {
		v, _ := m.Get("k", func() (int, error) {
			runs.Add(1)
			close(entered)
			<-release
			return 42, nil
		})
		first <- v
	}()
	<-entered
	second := make(chan int)
	go func() {
		v, _ := m.Get("k", func() (int, error) { runs.Add(1); return -1, nil })
		second <- v
	}()
	close(release)
	if a, b := <-first, <-second; a != 42 || b != 42 {
		t.Errorf("callers got %d and %d, want 42 twice", a, b)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("fn ran %d times, want 1", n)
	}
}
