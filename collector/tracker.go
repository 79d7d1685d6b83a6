package collector

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/poolwatch/poolwatch/internal/route"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Tracker instruments a pool that you already have (pond, ants, a semaphore, a hand-rolled
// one): call Submit when a task is offered, and on the returned Ticket, Start when a worker
// picks it up and Finish (or Done, or Run) when it ends, or Reject if it never runs. From
// those calls the Tracker produces every contract series for the pool. It is a
// prometheus.Collector: register it, and values are computed when Prometheus scrapes.
//
// Its state is split into shards, each with its own short lock; Submit deals each task to
// the next shard in turn whose lock is free, and the task's Start, Finish or Reject go to the
// same shard. The submitter and the workers therefore rarely meet on a lock, even when the
// machine is busy (a goroutine preempted inside a critical section holds up only the few
// tasks of its shard, and no Submit).
// A scrape takes every shard's lock at once, so it still sees one consistent snapshot.
// The calls allocate nothing. Pool and Limiter are built on a Tracker.
type Tracker struct {
	name string
	// max and satAt are the pool's capacity and the busy count from which it is saturated,
	// max(max, 1). They change only under every shard's lock (SetMaxWorkers), and are read
	// under a shard's lock (addBusy) or all of them (snapshot): plain fields, no atomic on
	// the hot path.
	max       int
	satAt     int64
	maxQueued int // < 0: unbounded, the series is not exposed
	maxRoutes int // routes exposed besides "other"
	clock     clock
	descs     descs
	// Native histograms, nil unless WithNativeHistograms asked for them.
	nativeWait, nativeDuration prometheus.Histogram

	shards []shard
	mask   uint32
	// slotLimit is how many slots a shard may hold, 1<<slotBits (tests lower it).
	slotLimit int
	// satReported is the saturated time the last scrape reported, guarded by all the shards'
	// locks: the next scrape never reports less.
	satReported int64

	// The fields written on the hot path, each on a cache line of its own: the submitter's
	// writes to next must not evict the fields above (read by every worker at every call),
	// nor the workers' writes to busy the submitter's next.
	_       [64]byte
	next    atomic.Uint32 // the shard of the next Submit, round robin
	_       [60]byte
	busy    atomic.Int64 // the shards' busy tasks summed, kept to see saturation begin and end
	_       [56]byte
	workers atomic.Int64 // workers alive, as set by SetWorkers (the Pool sets it itself); < 0: max
}

// shard is one part of a tracker's state, guarded by its own lock. A task stays in the shard
// that Submit gave it, so the shard's queued and busy counts are never negative, and the
// tracker's are their sums.
type shard struct {
	mu        sync.Mutex
	submitted uint64
	completed [numOutcomes]uint64
	rejected  [numReasons]uint64
	queued    int
	busy      int
	wait      histogram
	duration  histogram
	// satUp and satDown sum the times at which the pool became saturated and stopped being
	// so, for the crossings that happened in this shard's events. Summed over the shards,
	// satDown - satUp is the saturated time of every finished episode (minus the start of
	// the current one, if any). They wrap around, harmlessly: only their difference counts.
	satUp, satDown int64
	// floor is the time of the last scrape or SetMaxWorkers: an event whose clock reading is
	// older (read just before, applied just after) counts as happening then, so that what a
	// scrape reported (the elapsed part of running tasks) is never taken back, and no
	// saturation crossing is noted before the resize that made it one.
	floor int64
	slots []slot
	free  []uint32
	kinds []slotKind // grown only when a task of a kind takes a slot
	// genBase is the generation a slot starts from when the table grows: above that of every
	// slot a scrape cut off the table (see shrink), so that a ticket naming a cut slot never
	// matches the task that takes the slot again.
	genBase uint32
	// park is the slot index from which a freed slot is parked, left out of the free list,
	// while a scrape waits for the tasks high in the table to end so that it can cut it (see
	// shrink); noPark otherwise. parked counts the free slots left out.
	park   uint32
	parked int
	_      [64]byte // keeps the next shard's lock off this shard's cache lines
}

// slot is where a task's state lives while it is queued or running.
type slot struct {
	at    int64  // submitted (queued) or started (running), in clock nanoseconds
	gen   uint32 // odd while the slot holds a task; bumped when it takes or frees one
	state slotState
}

// slotKind is the route (Kind, a Limiter's pattern) of the task that took slot i of a shard
// at generation gen; kinds[i] with another gen belongs to an earlier task, and the slot's task
// has no kind. Kinds live beside the slots, not in them, and nothing clears them, so that the
// slots keep their 16 bytes and tasks without a kind cost not one instruction more.
type slotKind struct {
	name string
	gen  uint32
}

type slotState uint8

const (
	slotFree slotState = iota
	slotQueued
	slotRunning
)

// slotBits is how many bits of a Ticket's ref index the slot within its shard: up to 16M
// tasks in flight per shard, and the remaining bits the shard (at most 64). A full shard
// passes the task to another; with every shard full (8 x 16M tasks or more, queued or running
// at once: a queue growing without end, or tickets never finished nor rejected) Submit
// panics rather than make a ticket that names the wrong slot.
const slotBits = 24

// minSlots is the slot table a shard keeps whatever happens: a scrape shrinks a table only
// to twice its highest slot in use, and never below this (1 KiB).
const minSlots = 64

// noPark is a shard's park when no freed slot is parked: every slot index is below it.
const noPark = 1<<32 - 1

// NewTracker returns a Tracker for the pool called name (the "pool" label), whose capacity is
// maxWorkers tasks running at once, until SetMaxWorkers changes it (a pool resized while it
// runs). workerpool_workers reports the capacity until SetWorkers says otherwise. Options:
// WithQueueSize (the capacity to expose), WithNativeHistograms, WithClock.
//
// The Tracker believes the pool's Start calls: if more tasks run at once than its capacity, the
// pool can evidently run that many, and while it does a scrape reports max_workers (and
// workers) equal to the busy count, the pool saturated, so that busy <= workers <= max_workers
// holds on every scrape; declare the pool's real capacity to avoid it. Its memory follows the
// tasks in flight (queued or running): about 20 bytes each (the slot and its place in the
// free list) at their peak over the last scrapes, the tables shrinking again after a burst.
func NewTracker(name string, maxWorkers int, opts ...TrackerOption) *Tracker {
	return newTracker(name, maxWorkers, newTrackerConfig(opts))
}

func newTracker(name string, maxWorkers int, c trackerConfig) *Tracker {
	maxWorkers = max(maxWorkers, 0)
	// Four times as many shards as threads running Go code, and at least 8, so that the
	// tasks in flight at any moment (one per worker, plus the submitter's) mostly sit in
	// different shards: the submitter and a worker then rarely wait on one lock, nor does
	// anyone wait on a goroutine preempted while it holds one. A shard costs ~500 bytes and
	// a few nanoseconds per scrape.
	n := 8
	for n < 4*runtime.GOMAXPROCS(0) && n < 64 {
		n *= 2
	}
	t := &Tracker{
		name:           name,
		max:            maxWorkers,
		satAt:          int64(max(maxWorkers, 1)),
		maxQueued:      c.queueSize,
		maxRoutes:      c.maxRoutes,
		clock:          newClock(c.clock),
		descs:          newDescs(name),
		nativeWait:     newNative(contract.TaskWaitSeconds, name, c.nativeFactor),
		nativeDuration: newNative(contract.TaskDurationSeconds, name, c.nativeFactor),
		shards:         make([]shard, n),
		mask:           uint32(n - 1),
		slotLimit:      1 << slotBits,
	}
	for i := range t.shards {
		t.shards[i].park = noPark
	}
	t.workers.Store(-1) // all started, whatever the capacity becomes, until SetWorkers
	return t
}

// Name returns the pool's name, the value of its "pool" label.
func (t *Tracker) Name() string { return t.name }

// SetWorkers reports how many workers the tracked pool has alive now, for pools that start
// workers lazily or shrink when idle. By default a Tracker reports its capacity (maxWorkers,
// or what SetMaxWorkers last set). n is clamped at each scrape to [0, the capacity of that
// moment], and a scrape never reports fewer workers than busy ones (a busy worker is alive),
// so that busy <= workers <= max_workers holds whatever the tracked pool says, and in
// whatever order it reports a resize and its workers.
func (t *Tracker) SetWorkers(n int) {
	t.workers.Store(int64(max(n, 0)))
}

// SetMaxWorkers sets the tracked pool's capacity from now on, for a pool resized while it
// runs (pond's Resize, for one): workerpool_max_workers reports n from the next scrape, and
// saturation is counted against it. If the resize moves the saturation threshold, max(n, 1)
// busy workers, across the number busy now, a saturation episode starts or ends at this
// call's clock reading, so workerpool_saturated_seconds_total stays exact. Tasks already
// running beyond a shrunk capacity are not the Tracker's to stop: while they run, a scrape
// reports max_workers equal to busy, as for any pool that runs more than its capacity.
// SetMaxWorkers takes every shard's lock, as a scrape does; the per-task calls are not
// slowed by it. A negative n counts as 0. A capacity of 0 is no worker at all (saturated
// from the first busy one), not "unbounded" as pond's Resize(0) and NewPool(0) mean: a Tracker
// has no unbounded capacity, so give it the most tasks the pool will really run at once.
func (t *Tracker) SetMaxWorkers(n int) {
	n = max(n, 0)
	t.lockAll()
	now := t.nowLocked()
	// Every addBusy runs under a shard's lock, all of which are held: busy cannot move, and
	// the crossing noted here alternates with theirs, as addBusy's own do.
	busy, satAt := t.busy.Load(), int64(max(n, 1))
	switch {
	case busy < t.satAt && busy >= satAt:
		t.shards[0].satUp += now
	case busy >= t.satAt && busy < satAt:
		t.shards[0].satDown += now
	}
	t.max, t.satAt = n, satAt
	// An event that read the clock before this call and takes its shard's lock after it
	// counts as happening at the resize, as one read before a scrape counts at the scrape: a
	// crossing of the new threshold is then never noted before the resize made it one.
	for i := range t.shards {
		t.shards[i].floor = now
	}
	t.unlockAll()
}

// lockAll takes every shard's lock, in index order (handover takes two in that order too).
func (t *Tracker) lockAll() {
	for i := range t.shards {
		t.shards[i].mu.Lock()
	}
}

func (t *Tracker) unlockAll() {
	for i := range t.shards {
		t.shards[i].mu.Unlock()
	}
}

// nowLocked reads the clock with every shard's lock held: no event already applied is later
// (each read its clock before its lock, or was clamped to a floor), and every one to come is
// clamped to it.
func (t *Tracker) nowLocked() int64 {
	now := t.clock.now()
	for i := range t.shards {
		now = max(now, t.shards[i].floor)
	}
	return now
}

// Submit records a task offered to the pool: it counts as submitted and queued from now (a
// caller about to wait for room in a full pool should call Submit before it waits). Keep the
// Ticket with the task; call Start when a worker picks it up, or Reject if it never runs.
func (t *Tracker) Submit() Ticket { return t.submit(t.clock.now()) }

// Reject records a task offered to the pool and refused on arrival (typically
// RejectedQueueFull or RejectedClosed): it counts as submitted and rejected at once. For a
// task that was submitted and then gave up waiting, use Ticket.Reject instead.
func (t *Tracker) Reject(r Reason) {
	if r >= numReasons {
		r = RejectedCanceled
	}
	i := t.next.Add(1) & t.mask
	sh := &t.shards[i]
	if !sh.mu.TryLock() {
		sh, _ = t.lockOther(i)
	}
	sh.submitted++
	sh.rejected[r]++
	sh.mu.Unlock()
}

func (t *Tracker) submit(now int64) Ticket {
	i := t.next.Add(1) & t.mask
	sh := &t.shards[i]
	if !sh.mu.TryLock() {
		sh, i = t.lockOther(i)
	}
	s, ok := sh.slotLocked(t.slotLimit)
	if !ok {
		sh.mu.Unlock()
		return t.submitElsewhere(now)
	}
	k := sh.queueLocked(t, i, s, now)
	sh.mu.Unlock()
	return k
}

// lockOther locks the shard for a new task when shard i is held: the next in turn whose lock
// is free. A new task may go to any shard, so Submit never waits behind a worker that holds
// one (perhaps preempted inside it, on a busy machine), unless every shard is held at once.
func (t *Tracker) lockOther(i uint32) (*shard, uint32) {
	for range t.mask {
		i = (i + 1) & t.mask
		if sh := &t.shards[i]; sh.mu.TryLock() {
			return sh, i
		}
	}
	i = (i + 1) & t.mask
	t.shards[i].mu.Lock()
	return &t.shards[i], i
}

// slotLocked finds a free slot, or grows the table; false if it holds limit tasks already.
func (sh *shard) slotLocked(limit int) (uint32, bool) {
	if len(sh.free) == 0 && sh.parked > 0 {
		// The tasks came back before the table could be cut: the parked slots are free.
		sh.refree()
		sh.park = noPark
	}
	if k := len(sh.free); k > 0 {
		s := sh.free[k-1]
		sh.free = sh.free[:k-1]
		return s, true
	}
	if len(sh.slots) >= limit {
		return 0, false
	}
	sh.slots = append(sh.slots, slot{gen: sh.genBase})
	return uint32(len(sh.slots) - 1), true
}

// queueLocked puts a new task, submitted at now, in slot s of shard i.
func (sh *shard) queueLocked(t *Tracker, i, s uint32, now int64) Ticket {
	sl := &sh.slots[s]
	sl.gen++
	sl.at = max(now, sh.floor)
	sl.state = slotQueued
	sh.submitted++
	sh.queued++
	return Ticket{tr: t, ref: i<<slotBits | s, gen: sl.gen}
}

// submitElsewhere finds a slot in any shard for a task whose own shard was full, or panics:
// past the slot index's bits a ticket would name another shard's slot.
func (t *Tracker) submitElsewhere(now int64) Ticket {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		if s, ok := sh.slotLocked(t.slotLimit); ok {
			k := sh.queueLocked(t, uint32(i), s, now)
			sh.mu.Unlock()
			return k
		}
		sh.mu.Unlock()
	}
	panic(fmt.Sprintf("collector: pool %q has %d tasks in flight (queued or running), the most "+
		"a Tracker can follow: a queue that grows without end, or Tickets never finished nor rejected",
		t.name, len(t.shards)*t.slotLimit))
}

// lookup returns the ticket's shard, locked, and its slot if the ticket still holds it in
// state want; nil (and the shard unlocked) otherwise.
func (t *Tracker) lookup(k Ticket, want slotState) (*shard, *slot) {
	sh := &t.shards[k.ref>>slotBits]
	s := k.ref & (1<<slotBits - 1)
	sh.mu.Lock()
	if int(s) < len(sh.slots) {
		if sl := &sh.slots[s]; sl.gen == k.gen && sl.state == want {
			return sh, sl
		}
	}
	sh.mu.Unlock()
	return nil, nil
}

// release frees a slot for the next task; the gen bump makes every copy of the old ticket stale.
// A slot at or above park is left out of the free list (see shrink).
func (sh *shard) release(k Ticket, sl *slot) {
	sl.gen++
	sl.state = slotFree
	if s := k.ref & (1<<slotBits - 1); s < sh.park {
		sh.free = append(sh.free, s)
	} else {
		sh.parked++
	}
}

func (t *Tracker) start(k Ticket, now int64) bool {
	// lookup, written out: start and finish are the hot path, and a call more costs them.
	sh := &t.shards[k.ref>>slotBits]
	s := int(k.ref & (1<<slotBits - 1))
	sh.mu.Lock()
	if s >= len(sh.slots) || sh.slots[s].gen != k.gen || sh.slots[s].state != slotQueued {
		sh.mu.Unlock()
		return false
	}
	sl := &sh.slots[s]
	now = max(now, sh.floor)
	t.startLocked(sh, sl, now)
	t.addBusy(sh, 1, now)
	sh.mu.Unlock()
	return true
}

func (t *Tracker) finish(k Ticket, o Outcome, now int64) bool {
	sh := &t.shards[k.ref>>slotBits]
	s := int(k.ref & (1<<slotBits - 1))
	sh.mu.Lock()
	if s >= len(sh.slots) || sh.slots[s].gen != k.gen || sh.slots[s].state != slotRunning {
		sh.mu.Unlock()
		return false
	}
	sl := &sh.slots[s]
	now = max(now, sh.floor)
	t.finishLocked(sh, sl, k, o, now)
	t.addBusy(sh, -1, now)
	sh.mu.Unlock()
	return true
}

// handover finishes done and starts next at the same instant, as a worker does when it goes
// from one task to the next: both shards are held together (taken in index order, as a
// scrape takes them), so no scrape sees the worker idle in between, and the number of busy
// workers does not change, which spares the saturation bookkeeping altogether.
func (t *Tracker) handover(done Ticket, o Outcome, next Ticket, now int64) {
	a, b := done.ref>>slotBits, next.ref>>slotBits
	lo, hi := &t.shards[min(a, b)], &t.shards[max(a, b)]
	lo.mu.Lock()
	if hi != lo {
		hi.mu.Lock()
	}
	now = max(now, lo.floor, hi.floor)
	delta := int64(0)
	if sh := &t.shards[a]; int(done.ref&(1<<slotBits-1)) < len(sh.slots) {
		if sl := &sh.slots[done.ref&(1<<slotBits-1)]; sl.gen == done.gen && sl.state == slotRunning {
			t.finishLocked(sh, sl, done, o, now)
			delta--
		}
	}
	if sh := &t.shards[b]; int(next.ref&(1<<slotBits-1)) < len(sh.slots) {
		if sl := &sh.slots[next.ref&(1<<slotBits-1)]; sl.gen == next.gen && sl.state == slotQueued {
			t.startLocked(sh, sl, now)
			delta++
		}
	}
	if delta != 0 {
		t.addBusy(lo, delta, now)
	}
	if hi != lo {
		hi.mu.Unlock()
	}
	lo.mu.Unlock()
}

func (t *Tracker) startLocked(sh *shard, sl *slot, now int64) {
	wait := max(now-sl.at, 0)
	sl.at = now
	sl.state = slotRunning
	sh.queued--
	sh.busy++
	sh.wait.observe(wait)
	if t.nativeWait != nil {
		t.nativeWait.Observe(seconds(wait))
	}
}

func (t *Tracker) finishLocked(sh *shard, sl *slot, k Ticket, o Outcome, now int64) {
	if o >= numOutcomes {
		o = OutcomeError
	}
	d := max(now-sl.at, 0)
	sh.release(k, sl)
	sh.busy--
	sh.completed[o]++
	sh.duration.observe(d)
	if t.nativeDuration != nil {
		t.nativeDuration.Observe(seconds(d))
	}
}

// addBusy moves the tracker's busy count by delta and, when that crosses the saturation
// threshold, notes the time in sh (whose lock the caller holds). The atomic add orders the
// crossings: they alternate, up then down, whatever shards they happen in, so no lock is
// shared by the workers for it. A crossing's time is its event's clock reading, taken just
// before the shard's lock: two crossings racing on two shards may be noted a few nanoseconds
// out of order, an error the scrape keeps from ever making the counter go back.
func (t *Tracker) addBusy(sh *shard, delta, now int64) {
	n := t.busy.Add(delta)
	switch was := n - delta; {
	case was < t.satAt && n >= t.satAt:
		sh.satUp += now
	case was >= t.satAt && n < t.satAt:
		sh.satDown += now
	}
}

func (t *Tracker) abandon(k Ticket, r Reason) bool {
	sh, sl := t.lookup(k, slotQueued)
	if sh == nil {
		return false
	}
	if r >= numReasons {
		r = RejectedCanceled
	}
	sh.release(k, sl)
	sh.queued--
	sh.rejected[r]++
	sh.mu.Unlock()
	return true
}

// shrink gives a slot table's memory back once the tasks of a burst have ended, so that it
// is bounded by the peak of tasks in flight over the last scrapes rather than ever. Slots
// cannot move (tickets name them by index), so: when at most a quarter of the table is in
// use, the free list is rebuilt lowest slot first, and until the next scrape a slot freed in
// the upper three quarters is parked, not put back in the free list (else, the free list
// being a stack, a steady trickle of tasks would keep taking the slot the last finished one
// freed, high up, for ever). New tasks fill the table from the bottom while the tasks high up
// end; once the highest slot in use, top, is in the table's first quarter, the table is cut
// after it (to twice that, at least minSlots). The caller holds the shard's lock, and the
// scan has just counted the slots in use.
func (sh *shard) shrink(top, inUse int) {
	n, c := top+1, cap(sh.slots)
	if c <= minSlots || inUse > c/4 {
		// Nothing to give back, or the tasks came back: parked slots return to the free
		// list when it runs dry (slotLocked).
		sh.park = noPark
		return
	}
	if n > c/4 {
		sh.refree()
		sh.park = uint32(c / 4)
		return
	}
	for _, sl := range sh.slots[n:] {
		sh.genBase = max(sh.genBase, sl.gen) // even: every cut slot is free
	}
	slots := make([]slot, n, max(2*n, minSlots))
	copy(slots, sh.slots)
	sh.slots = slots
	sh.free = make([]uint32, 0, cap(slots))
	sh.refree()
	sh.park = noPark
	if len(sh.kinds) > n {
		sh.kinds = append([]slotKind(nil), sh.kinds[:n]...)
	}
}

// refree rebuilds the free list from the slots' states, parked slots included, lowest index
// on top, so that the table fills from the bottom.
func (sh *shard) refree() {
	free := sh.free[:0]
	for s := len(sh.slots) - 1; s >= 0; s-- {
		if sh.slots[s].state == slotFree {
			free = append(free, uint32(s))
		}
	}
	sh.free = free
	sh.parked = 0
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

// Collect takes one consistent snapshot of the pool and sends it as const metrics.
func (t *Tracker) Collect(ch chan<- prometheus.Metric) {
	snap := t.snapshot()
	t.descs.collect(ch, &snap)
}

// snapshot is one scrape's view of the pool, taken while holding every shard's lock so that
// the contract's invariants hold between its numbers.
type snapshot struct {
	max, workers, busy, queued, maxQueued int
	submitted                             uint64
	completed                             [numOutcomes]uint64
	rejected                              [numReasons]uint64
	wait, duration                        histogram
	busySeconds, saturatedSeconds         float64
	oldestQueued, oldestRunning           float64
	nativeWait, nativeDuration            *dto.Metric  // nil unless native histograms are on
	routes                                []route.Stat // running tasks by kind, bounded; nil if none has one
}

func (t *Tracker) snapshot() snapshot {
	t.lockAll()
	// Read the clock once every shard is held: every event already applied read its clock
	// before, so none is later than now, and every event still to come is clamped to now.
	now := t.nowLocked()
	snap := snapshot{max: t.max, maxQueued: t.maxQueued}
	var runningNanos, saturated int64
	var kinds route.Tally
	oldestQ, oldestR := now, now
	for i := range t.shards {
		sh := &t.shards[i]
		sh.floor = now
		snap.submitted += sh.submitted
		for o, n := range sh.completed {
			snap.completed[o] += n
		}
		for r, n := range sh.rejected {
			snap.rejected[r] += n
		}
		snap.queued += sh.queued
		snap.busy += sh.busy
		saturated += sh.satDown - sh.satUp
		snap.wait.add(&sh.wait)
		snap.duration.add(&sh.duration)
		// The scan costs one pass over the slots, as many as the peak of tasks in flight in
		// the shard since the last scrape, once per scrape; it keeps every event O(1).
		top, inUse := -1, 0 // the highest slot in use, and how many are
		for i, sl := range sh.slots {
			if sl.state != slotFree {
				top, inUse = i, inUse+1
			}
			switch sl.state {
			case slotQueued:
				oldestQ = min(oldestQ, sl.at)
			case slotRunning:
				oldestR = min(oldestR, sl.at)
				runningNanos += now - sl.at
				if i < len(sh.kinds) && sh.kinds[i].gen == sl.gen {
					kinds.Add(routeName(sh.kinds[i].name), seconds(now-sl.at))
				}
			}
		}
		sh.shrink(top, inUse)
	}
	if t.busy.Load() >= t.satAt { // saturated now: the current episode counts up to now
		saturated += now
	}
	t.satReported = max(t.satReported, saturated)
	snap.saturatedSeconds = seconds(t.satReported)
	snap.nativeWait = freeze(t.nativeWait)
	snap.nativeDuration = freeze(t.nativeDuration)
	workers := int(t.workers.Load())
	t.unlockAll()
	if workers < 0 { // never set: every worker the capacity allows
		workers = snap.max
	}
	// A tracked pool running more tasks than its capacity (declared, or shrunk while they
	// ran) can run that many: while it does, max_workers reports the busy count (the pool is
	// saturated, as addBusy counts it), so that busy <= workers <= max_workers holds on every
	// scrape.
	snap.max = max(snap.max, snap.busy)
	snap.workers = min(max(workers, snap.busy), snap.max)
	snap.busySeconds = (snap.duration.sumNanos + float64(runningNanos)) / float64(time.Second)
	snap.oldestQueued = seconds(now - oldestQ)
	snap.oldestRunning = seconds(now - oldestR)
	if kinds.Len() > 0 {
		snap.routes = kinds.Top(t.maxRoutes)
	}
	return snap
}

// Kind returns a way to submit tasks of one kind: the kind is their route, and while such
// tasks run the tracker exposes workerpool_route_busy_workers and
// workerpool_route_oldest_running_task_age_seconds for it (the kinds holding the most workers,
// at most WithMaxRoutes of them, the rest summed into route "other"). Use a small, fixed set
// of kinds ("resize", "export"), never an identifier. Tasks submitted with Tracker.Submit
// have no kind and cost nothing more.
func (t *Tracker) Kind(kind string) TrackerKind { return TrackerKind{t: t, kind: routeName(kind)} }

// TrackerKind submits tasks of one kind to a Tracker (see Tracker.Kind). Its zero value is
// not usable; copies are the same kind.
type TrackerKind struct {
	t    *Tracker
	kind string
}

// Submit is Tracker.Submit for a task of this kind.
func (k TrackerKind) Submit() Ticket {
	tk := k.t.submit(k.t.clock.now())
	if k.kind != "" {
		k.t.setKind(tk, k.kind)
	}
	return tk
}

// setKind gives the task of a ticket just submitted its kind. It takes the shard's lock a
// second time rather than growing submit, which keeps submit exactly as cheap for tasks
// without a kind (callers test for "" first: one comparison). No scrape can miss the kind:
// the task cannot start before its submitter has set it, and only running tasks are counted
// by route.
func (t *Tracker) setKind(k Ticket, kind string) {
	sh := &t.shards[k.ref>>slotBits]
	s := int(k.ref & (1<<slotBits - 1))
	sh.mu.Lock()
	if s >= len(sh.kinds) {
		sh.kinds = append(sh.kinds, make([]slotKind, len(sh.slots)-len(sh.kinds))...)
	}
	sh.kinds[s] = slotKind{name: kind, gen: k.gen}
	sh.mu.Unlock()
}

// routeName makes a user's route name a valid label value of bounded length, once, where
// the name is given (Kind), or per scrape for names only known per request (WithRoute).
func routeName(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) > route.MaxRoute {
		cut := route.MaxRoute
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}
