package uwsgi

import (
	"context"
	"sync"
	"time"
)

// busyReading is what one stats document says of the time the cores spent in requests.
type busyReading struct {
	// running is the sum of the workers' running_time, in seconds: the exact time of every
	// request closed since uWSGI started, added as each one is closed.
	running float64
	// inFlight is the time so far of the requests running now, each counted from its
	// request_start (whole seconds) less one second, so never more than it really ran: a
	// request then adds no less to running when it is closed than it showed here.
	inFlight float64
}

// busyCounters keeps workerpool_busy_seconds_total of each target monotonic across reads.
//
// A read's value is running + inFlight. It falls, which rate() would take for a restart and
// answer with a spike of the whole counter, when a request shown in flight ends without being
// added to running_time: its worker killed by harakiri (the hung requests the counter must
// show), a request uWSGI drops before it is complete, a static file (uWSGI leaves those out
// of running_time). Those seconds were spent all the same, so they are kept: the fall is
// added to an offset that later reads carry. A fall of running itself is a restart of uWSGI
// (it never resets a worker's running_time otherwise, not even when it respawns the worker),
// and starts the counter afresh, as a restart of any counter does.
//
// Reads of one target are taken one at a time, so that the state moves in the order uWSGI
// wrote its documents: two concurrent scrapes in the other order would otherwise make a
// fall of their own.
type busyCounters struct {
	mu      sync.Mutex
	targets map[string]*busyState
}

type busyState struct {
	// turn is held (a token in it) by the one read of the target in progress.
	turn chan struct{}
	// Guarded by turn.
	read    bool    // a read has set the fields below
	running float64 // running at the last read
	kept    float64 // in-flight seconds of requests that ended without being added to running
	last    float64 // the value last reported
	used    time.Time
}

// maxBusyTargets bounds the targets whose counter is kept: a configuration names a few, but
// a /probe module may allow a pattern. Past it, the state of the target read least recently
// is dropped (its counter then restarts, which rate() handles).
const maxBusyTargets = 4096

// take waits, at most until ctx ends, for target's turn and returns its state, to be given
// back with release.
func (b *busyCounters) take(ctx context.Context, target string, now time.Time) (*busyState, error) {
	b.mu.Lock()
	if b.targets == nil {
		b.targets = make(map[string]*busyState)
	}
	s, ok := b.targets[target]
	if !ok {
		if len(b.targets) >= maxBusyTargets {
			b.evictOldest()
		}
		s = &busyState{turn: make(chan struct{}, 1)}
		b.targets[target] = s
	}
	s.used = now
	b.mu.Unlock()
	select {
	case s.turn <- struct{}{}:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// evictOldest drops the state of the target read least recently. Called with mu held.
func (b *busyCounters) evictOldest() {
	var oldest string
	var at time.Time
	for target, s := range b.targets {
		if oldest == "" || s.used.Before(at) {
			oldest, at = target, s.used
		}
	}
	delete(b.targets, oldest)
}

func (s *busyState) release() { <-s.turn }

// total returns the busy seconds to report for r, and moves the state on: restarted tells a
// fall of running_time (the counter started afresh), fell the in-flight seconds this read kept.
// Called in turn.
func (s *busyState) total(r busyReading) (v float64, restarted bool, fell float64) {
	if !s.read || r.running < s.running {
		// The first read, or a restart: the counter starts from what uWSGI says.
		restarted = s.read
		s.read, s.kept, s.last = true, 0, 0
	}
	v = r.running + r.inFlight + s.kept
	if v < s.last {
		fell = s.last - v
		s.kept += fell
		v = s.last
	}
	s.running, s.last = r.running, v
	return v, restarted, fell
}
