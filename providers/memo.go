package providers

import "sync"

// Memo remembers one result per key: the first Get of a key runs its fn, and every Get of
// that key, concurrent or later, returns that same result. The zero Memo is ready to use;
// a Memo must not be copied after first use.
type Memo[K comparable, V any] struct {
	mu   sync.Mutex
	vals map[K]*memoVal[V]
}

type memoVal[V any] struct {
	once sync.Once
	v    V
	err  error
}

// Get returns the result of fn for key, running fn only if no Get of key has run it yet.
func (m *Memo[K, V]) Get(key K, fn func() (V, error)) (V, error) {
	m.mu.Lock()
	e, ok := m.vals[key]
	if !ok {
		if m.vals == nil {
			m.vals = map[K]*memoVal[V]{}
		}
		e = &memoVal[V]{}
		m.vals[key] = e
	}
	m.mu.Unlock()
	e.once.Do(func() { e.v, e.err = fn() })
	return e.v, e.err
}
