package exporter

import (
	"context"
	"sync"
)

// MaxTargetStates bounds the targets a [TargetStates] keeps a state for: a configuration names
// a few, but a /probe module may allow a pattern. A state is never dropped while its target
// may still be read, since that would restart what it counts, and two reads with a state each
// would make a counter fall; so a target past the bound gets none, and its source reports
// without it (and logs why).
const MaxTargetStates = 4096

// TargetStates keeps one S per target, for a source that must remember a target between reads
// (a counter it keeps monotonic), and hands each target's state to one read at a time, so
// that the state moves in the order the target wrote its documents: two overlapping reads of
// one target (two modules, a scrape and a probe) would otherwise apply an older document after
// a newer one. The zero value is ready to use; it must not be copied after first use.
type TargetStates[S any] struct {
	mu      sync.Mutex
	targets map[string]*targetTurn[S]
}

type targetTurn[S any] struct {
	turn  chan struct{} // a token in it while a read holds the state
	state S
}

// Take waits, at most until ctx ends, for target's turn and returns its state and the func
// that gives the turn back, to be called once the read is done with the state (a second call
// does nothing). state is nil, and release a no-op, when ctx ends first (err says so) or when
// [MaxTargetStates] other targets have one.
func (t *TargetStates[S]) Take(ctx context.Context, target string) (state *S, release func(), err error) {
	t.mu.Lock()
	if t.targets == nil {
		t.targets = make(map[string]*targetTurn[S])
	}
	s, ok := t.targets[target]
	if !ok {
		if len(t.targets) >= MaxTargetStates {
			t.mu.Unlock()
			return nil, func() {}, nil
		}
		s = &targetTurn[S]{turn: make(chan struct{}, 1)}
		t.targets[target] = s
	}
	t.mu.Unlock()
	select {
	case s.turn <- struct{}{}:
		var once sync.Once
		return &s.state, func() { once.Do(func() { <-s.turn }) }, nil
	case <-ctx.Done():
		return nil, func() {}, ctx.Err()
	}
}
