package uwsgi

import (
	"context"
	"sync"
)

// busyReading is what one stats document says of the time the cores spent in requests.
type busyReading struct {
	// running is the sum of the workers' running_time, in seconds: the exact time of every
	// request closed since uWSGI started, added as each one is closed.
	running float64
	// inFlight is the sum of the cores' shown seconds (coreReading.shown).
	inFlight float64
	// cores says, per core, which request it runs and how many it has closed, so that the
	// next read can tell how each request shown here ended.
	cores map[coreID]coreReading
}

// coreID is a core by its worker's and its own place in the stats.
type coreID struct{ worker, core int }

type coreReading struct {
	pid, spawn       float64 // the worker's process and when it was started (whole seconds)
	harakiri         float64 // the times the master killed the worker for --harakiri
	requests, static float64 // requests closed by the core, and those of them static files
	// start is the request_start (whole seconds) of the request the core runs, 0 if none;
	// shown is its time so far counted from start less one second (never below 0), so
	// never more than it ran: a request then adds no less to running_time when it is
	// closed than it showed.
	start, shown float64
}

// busyCounters keeps one busy-seconds counter per target: workerpool_busy_seconds_total of a
// uWSGI is not running + inFlight as one document says, which falls whenever a request shown
// in flight ends without being added to running_time, but the growth of that sum from read
// to read, with those requests' seconds added back:
//
//   - A request shown in flight that is gone at the next read ended. If its core closed a
//     request since (its requests count rose, not all of them static files) and its worker
//     was not killed for --harakiri (harakiri_count), it was added to running_time, and the
//     sum's growth has it. Otherwise it never will be: its worker was killed, uWSGI dropped it
//     before it was complete, or it was a static file (uWSGI leaves those out of
//     running_time). Its seconds were spent all the same, and are kept: what it showed, or,
//     when harakiri killed its worker, the time from its start to the worker's restart
//     (last_spawn) less a second, the most the stats can vouch for. A worker killed otherwise
//     (a crash, --evil-reload-on-rss) whose new process closed a request before the read is
//     taken for a closed request: the killed one's seconds are lost. Kept seconds are counted
//     in poolwatch_busy_seconds_kept_total.
//   - A fall of the sum that these do not explain is transient (a read caught between a
//     request's accounting and its end counts it twice; threads of one worker add to
//     running_time without a lock): the counter holds its value until the sum is back above.
//   - A fall of running_time to under half of what it was is a restart of uWSGI (it never
//     resets running_time otherwise, not even when it starts a worker again): the counter
//     goes on from its value, and the new instance's time adds to it.
//
// The counter starts at 0 at the exporter's first read of a target: a restart of the
// exporter is then a reset to about 0, which rate() handles, not a fall from a total that
// would lack the seconds kept before.
//
// Reads of one target are taken one at a time, so that the state moves in the order uWSGI
// wrote its documents.
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
	base    float64 // subtracted from running + inFlight + kept: the counter's 0
	kept    float64 // seconds of requests that ended without being added to running_time
	// keptTotal is every second kept since the first read: kept restarts with uWSGI, this
	// goes on (poolwatch_busy_seconds_kept_total).
	keptTotal float64
	last      float64 // the value last reported
	cores     map[coreID]coreReading
}

// maxBusyTargets bounds the targets whose counter is kept: a configuration names a few, but
// a /probe module may allow a pattern. A target past it has no busy seconds (and a log line
// says why): a state dropped while the target is still read would restart its counter, and
// two reads with a state each would make it fall.
const maxBusyTargets = 4096

// take waits, at most until ctx ends, for target's turn and returns its state, to be given
// back with release; nil when maxBusyTargets other targets have one.
func (b *busyCounters) take(ctx context.Context, target string) (*busyState, error) {
	b.mu.Lock()
	if b.targets == nil {
		b.targets = make(map[string]*busyState)
	}
	s, ok := b.targets[target]
	if !ok {
		if len(b.targets) >= maxBusyTargets {
			b.mu.Unlock()
			return nil, nil
		}
		s = &busyState{turn: make(chan struct{}, 1)}
		b.targets[target] = s
	}
	b.mu.Unlock()
	select {
	case s.turn <- struct{}{}:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *busyState) release() { <-s.turn }

// total returns the busy seconds to report for r, and moves the state on: restarted tells a
// restart of uWSGI, kept the seconds of requests this read found ended without reaching
// running_time. Called in turn.
func (s *busyState) total(r busyReading) (v float64, restarted bool, kept float64) {
	switch {
	case !s.read:
		s.read, s.base = true, r.running+r.inFlight
	case r.running < s.running/2:
		restarted = true
		s.base, s.kept = -s.last, 0
	default:
		kept = s.unaccounted(r)
		s.kept += kept
		s.keptTotal += kept
	}
	v = max(s.last, r.running+r.inFlight+s.kept-s.base)
	s.running, s.last, s.cores = r.running, v, r.cores
	return v, restarted, kept
}

// unaccounted returns the seconds of the requests shown at the last read that ended since
// without being added to running_time.
func (s *busyState) unaccounted(r busyReading) float64 {
	var kept float64
	for id, was := range s.cores {
		if was.start == 0 {
			continue
		}
		now, ok := r.cores[id]
		if ok && now.pid == was.pid && now.start == was.start && now.requests == was.requests {
			continue // still running
		}
		killed := ok && now.harakiri > was.harakiri
		closed := now.requests - was.requests
		if ok && !killed && closed > 0 && now.static-was.static < closed {
			continue // closed, and not all static: in running_time
		}
		lost := was.shown
		if killed && now.spawn > was.start {
			lost = max(lost, now.spawn-was.start-1)
		}
		kept += lost
	}
	return kept
}
