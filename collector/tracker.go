package collector

import (
	"sync"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Tracker instruments a pool that you already have (pond, ants, a semaphore, a hand-rolled
// one): call Submit when a task is offered, and on the returned Ticket, Start when a worker
// picks it up and Finish (or Done, or Run) when it ends, or Reject if it never runs. From
// those calls the Tracker produces every contract series for the pool. It is a
// prometheus.Collector: register it, and values are computed when Prometheus scrapes.
//
// The calls take one short lock, allocate nothing and never block on a scrape for longer than
// the copy of a few counters. Pool and Limiter are built on a Tracker.
type Tracker struct {
	name      string
	max       int
	maxQueued int // < 0: unbounded, the series is not exposed
	clock     clock
	descs     descs
	// Native histograms, nil unless WithNativeHistograms asked for them.
	nativeWait, nativeDuration prometheus.Histogram

	mu sync.Mutex
	s  trackerState
}

// trackerState is everything a scrape reads, guarded by Tracker.mu.
type trackerState struct {
	workers   int
	busy      int
	submitted uint64
	completed [numOutcomes]uint64
	rejected  [numReasons]uint64
	wait      histogram
	duration  histogram
	// Integrals of busy workers and of saturation in nanoseconds, folded in at every change of
	// busy and at every scrape; last is the time (clock nanoseconds) up to which they are
	// folded. Busy time is a float: worker-nanoseconds outgrow an int64 in ~100 days at 1000
	// workers; saturated time cannot exceed the process's uptime.
	busyNanos      float64
	saturatedNanos int64
	last           int64
	queued         timeSet
	running        timeSet
}

// NewTracker returns a Tracker for the pool called name (the "pool" label), whose capacity is
// maxWorkers tasks running at once. workerpool_workers reports maxWorkers until SetWorkers
// says otherwise. Options: WithQueueSize (the capacity to expose), WithNativeHistograms, WithClock.
func NewTracker(name string, maxWorkers int, opts ...Option) *Tracker {
	return newTracker(name, maxWorkers, newConfig(opts))
}

func newTracker(name string, maxWorkers int, c config) *Tracker {
	if maxWorkers < 0 {
		maxWorkers = 0
	}
	queuedCap := c.queueSize
	if queuedCap < 0 {
		queuedCap = 16
	}
	return &Tracker{
		name:           name,
		max:            maxWorkers,
		maxQueued:      c.queueSize,
		clock:          newClock(c.clock),
		descs:          newDescs(name),
		nativeWait:     newNative(contract.TaskWaitSeconds, name, c.nativeFactor),
		nativeDuration: newNative(contract.TaskDurationSeconds, name, c.nativeFactor),
		s: trackerState{
			workers:  maxWorkers,
			wait:     newHistogram(),
			duration: newHistogram(),
			queued:   newTimeSet(queuedCap),
			running:  newTimeSet(maxWorkers),
		},
	}
}

// Name returns the pool's name, the value of its "pool" label.
func (t *Tracker) Name() string { return t.name }

// SetWorkers reports how many workers the tracked pool has alive now, for pools that start
// workers lazily or shrink when idle. By default a Tracker reports maxWorkers.
func (t *Tracker) SetWorkers(n int) {
	t.mu.Lock()
	t.s.workers = n
	t.mu.Unlock()
}

// Submit records a task offered to the pool and accepted into its queue (or about to be
// started at once: call Start right after). Keep the Ticket with the task.
func (t *Tracker) Submit() Ticket {
	now := t.clock.now()
	t.mu.Lock()
	k := t.submitLocked(now)
	t.mu.Unlock()
	return k
}

// Reject records a task offered to the pool and refused on arrival (typically
// RejectedQueueFull or RejectedClosed): it counts as submitted and rejected at once. For a
// task that was accepted and then gave up waiting, use Ticket.Reject instead.
func (t *Tracker) Reject(r Reason) {
	t.mu.Lock()
	t.rejectLocked(r)
	t.mu.Unlock()
}

func (t *Tracker) submitLocked(now int64) Ticket {
	t.s.submitted++
	slot, gen := t.s.queued.add(now)
	return Ticket{tr: t, submitted: now, slot: slot, gen: gen, state: ticketQueued}
}

func (t *Tracker) rejectLocked(r Reason) {
	if r >= numReasons {
		r = RejectedCanceled
	}
	t.s.submitted++
	t.s.rejected[r]++
}

func (t *Tracker) startLocked(k *Ticket, now int64) {
	if !t.s.queued.remove(k.slot, k.gen) {
		k.state = ticketDone
		return
	}
	now = t.advanceLocked(now)
	t.s.busy++
	k.slot, k.gen = t.s.running.add(now)
	k.started = now
	k.state = ticketRunning
	wait := max(now-k.submitted, 0)
	t.s.wait.observe(wait)
	if t.nativeWait != nil {
		t.nativeWait.Observe(seconds(wait))
	}
}

func (t *Tracker) finishLocked(k *Ticket, o Outcome, now int64) {
	if !t.s.running.remove(k.slot, k.gen) {
		k.state = ticketDone
		return
	}
	if o >= numOutcomes {
		o = OutcomeError
	}
	now = t.advanceLocked(now)
	t.s.busy--
	t.s.completed[o]++
	k.state = ticketDone
	d := max(now-k.started, 0)
	t.s.duration.observe(d)
	if t.nativeDuration != nil {
		t.nativeDuration.Observe(seconds(d))
	}
}

func (t *Tracker) abandonLocked(k *Ticket, r Reason) {
	k.state = ticketDone
	if !t.s.queued.remove(k.slot, k.gen) {
		return
	}
	if r >= numReasons {
		r = RejectedCanceled
	}
	t.s.rejected[r]++
}

// advanceLocked folds the busy and saturated integrals up to now and returns the time to use
// for the event: a reading older than one already folded (a clock read before the lock was
// taken by a goroutine that lost the race to it) counts as simultaneous with it, so that
// integrals never go backwards.
func (t *Tracker) advanceLocked(now int64) int64 {
	s := &t.s
	if now <= s.last {
		return s.last
	}
	dt := now - s.last
	if s.busy > 0 {
		s.busyNanos += float64(int64(s.busy) * dt)
		if s.busy >= t.max {
			s.saturatedNanos += dt
		}
	}
	s.last = now
	return now
}

func seconds(d int64) float64 {
	if d <= 0 {
		return 0
	}
	return float64(d) / float64(time.Second)
}

// Describe sends the descriptors of every series the tracker exposes.
func (t *Tracker) Describe(ch chan<- *prometheus.Desc) {
	t.descs.describe(ch, t.maxQueued >= 0)
}

// Collect takes one consistent snapshot of the pool under the lock and sends it as const
// metrics.
func (t *Tracker) Collect(ch chan<- prometheus.Metric) {
	snap := t.snapshot()
	t.descs.collect(ch, &snap)
}

// snapshot is one scrape's view of the pool, taken under a single lock so that the contract's
// invariants hold between its numbers.
type snapshot struct {
	max, workers, busy, queued, maxQueued int
	submitted                             uint64
	completed                             [numOutcomes]uint64
	rejected                              [numReasons]uint64
	wait, duration                        histogram
	busySeconds, saturatedSeconds         float64
	oldestQueued, oldestRunning           float64
	nativeWait, nativeDuration            *dto.Metric // nil unless native histograms are on
}

func (t *Tracker) snapshot() snapshot {
	now := t.clock.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	now = t.advanceLocked(now)
	s := &t.s
	snap := snapshot{
		max:              t.max,
		workers:          s.workers,
		busy:             s.busy,
		queued:           s.queued.n,
		maxQueued:        t.maxQueued,
		submitted:        s.submitted,
		completed:        s.completed,
		rejected:         s.rejected,
		wait:             s.wait.clone(),
		duration:         s.duration.clone(),
		busySeconds:      s.busyNanos / float64(time.Second),
		saturatedSeconds: seconds(s.saturatedNanos),
		nativeWait:       freeze(t.nativeWait),
		nativeDuration:   freeze(t.nativeDuration),
	}
	if at, ok := s.queued.oldest(); ok {
		snap.oldestQueued = seconds(now - at)
	}
	if at, ok := s.running.oldest(); ok {
		snap.oldestRunning = seconds(now - at)
	}
	return snap
}
