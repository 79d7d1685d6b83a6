package collector

import (
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Task is the work a Pool runs. ctx is the pool's context (see Pool.Context), or the one
// given to SubmitWithContext. A returned error counts the task as outcome "error".
type Task func(ctx context.Context) error

// Pool runs tasks on a number of workers, all started by NewPool (and changed by Resize),
// with a FIFO queue in front of them (unbounded unless WithQueueSize bounds it). It is a
// prometheus.Collector exposing every series of the metric contract under the pool's name.
//
// A task counts as submitted and queued from the call that offers it, including the time
// that call spends waiting for room; it starts at once if a worker is idle. Once accepted, a
// task runs under the pool's context, whatever becomes of the context its caller waited
// with: use SubmitWithContext to give a task a context of its own. A task that panics counts
// as outcome panic; its worker recovers and carries on.
type Pool struct {
	tr        *Tracker
	onPanic   func(any)
	maxQueued int // < 0: unbounded
	ctx       context.Context
	cancel    context.CancelFunc

	// The queue and the workers, under their own lock; the Tracker keeps the numbers under
	// its shards' locks, so a task's bookkeeping never lengthens the queue's critical section.
	mu         sync.Mutex
	head, tail *task
	queued     int   // tasks in the queue (not counting callers still waiting for room)
	spare      *task // recycled nodes: a task costs no allocation in the steady state
	nspare     int   // nodes in spare, at most maxSpare: a burst's nodes go back to the GC
	maxSpare   int
	idle       []*worker
	size       int // the workers the pool should have: NewPool's, then Resize's
	// staffed counts the workers not told to leave: running a task, idle, or about to take
	// one. Above size after a shrink, until as many have finished their task and left.
	staffed int
	live    int // worker goroutines not yet returned (staffed, plus those leaving)
	closed  bool
	room    chan struct{} // closed when the queue loses a task; made only when a Submit waits
	exited  chan struct{} // closed when the last worker returns

	// idleAt is the latest time a worker went idle, having finished its task (clock
	// nanoseconds): a task handed to an idle worker starts no earlier, even if its Submit
	// read the clock before the lock.
	idleAt int64
}

// task is one queued or running task: a node of the queue's doubly linked list, so that a
// task whose own context ends can be taken out of the middle.
type task struct {
	fn         Task
	ctx        context.Context
	ticket     Ticket
	stop       func() bool // stops the context.AfterFunc that removes the task if ctx ends
	seq        uint64      // bumped at every reuse, so a late AfterFunc cannot hit a new task
	queued     bool
	prev, next *task
}

type worker struct {
	wake chan *task // capacity 1: the next task to run; closed to make the worker exit
}

// NewPool starts a pool called name (its "pool" label) with the given number of workers,
// which must be at least 1. Options: WithQueueSize, WithPanicHandler, WithNativeHistograms, WithClock.
func NewPool(name string, workers int, opts ...PoolOption) *Pool {
	if workers < 1 {
		panic(fmt.Sprintf("collector: NewPool %q with %d workers, need at least 1", name, workers))
	}
	c := newPoolConfig(opts)
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{
		tr:        newTracker(name, workers, c.trackerConfig),
		onPanic:   c.panicHandler,
		maxQueued: c.queueSize,
		ctx:       ctx,
		cancel:    cancel,
		idle:      make([]*worker, 0, workers),
		// Enough recycled nodes for the workers' tasks, the queue (up to 1024 of it) and as
		// many Submits waiting: beyond that, a burst's nodes are left to the GC once it ends.
		maxSpare: 2*workers + queueSpare(c.queueSize),
		size:     workers,
		staffed:  workers,
		live:     workers,
		exited:   make(chan struct{}),
	}
	p.tr.workers.Store(int64(workers))
	p.startIdleLocked(workers) // nobody else has p yet
	return p
}

// startIdleLocked starts n workers with no task, idle: room for the next Submits. The caller
// holds p.mu (or is NewPool) and has counted them in staffed and live.
func (p *Pool) startIdleLocked(n int) {
	for range n {
		w := newWorker()
		p.idle = append(p.idle, w)
		go p.work(w, nil)
	}
}

func newWorker() *worker { return &worker{wake: make(chan *task, 1)} }

func queueSpare(queueSize int) int {
	if queueSize < 0 || queueSize > 1024 {
		return 1024
	}
	return queueSize
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.tr.name }

// Context returns the pool's context, the one its tasks run under unless they were given
// their own with SubmitWithContext. It ends when Shutdown gives up waiting for them.
func (p *Pool) Context() context.Context { return p.ctx }

// TrySubmit queues task, or hands it to an idle worker, without blocking. It returns
// ErrQueueFull when the queue is at capacity and ErrPoolClosed after Shutdown; either way the
// task is counted submitted and rejected.
func (p *Pool) TrySubmit(task Task) error {
	return p.submit(false, context.Background(), p.ctx, task, nil)
}

// Submit queues task, or hands it to an idle worker, waiting for room in a full queue until
// ctx ends. ctx bounds that wait only: once accepted, the task waits for a worker and runs
// under the pool's context, even after ctx ends (a request's context, for instance, ends when
// its handler returns). Submit returns nil once the task is accepted; ctx.Err() if ctx ended
// before, the task counted rejected timeout (deadline) or canceled; ErrPoolClosed after
// Shutdown. While it waits, the task already counts as submitted and queued.
func (p *Pool) Submit(ctx context.Context, task Task) error {
	return p.submit(true, ctx, p.ctx, task, nil)
}

// SubmitWithContext is Submit for a task with a context of its own, taskCtx, chosen by the
// caller: ctx bounds the wait for room as in Submit; taskCtx is the task's, given to it when
// it runs, and a task whose taskCtx ends while it is still queued is dropped and counted
// rejected timeout (deadline) or canceled. The two may be the same context.
func (p *Pool) SubmitWithContext(ctx, taskCtx context.Context, task Task) error {
	return p.submit(true, ctx, taskCtx, task, nil)
}

// submit offers fn; without block (TrySubmit), it does not wait for room.
func (p *Pool) submit(block bool, wait, taskCtx context.Context, fn Task, kind *string) error {
	now := p.tr.clock.now()
	k := p.tr.submit(now) // submitted and queued from the call, as the contract says
	if kind != nil {
		p.tr.setKind(k, *kind)
	}
	start := now    // when the task can start: later than now if it had to wait for room
	waited := false // start is stale: read the clock again if a worker takes the task now
	p.mu.Lock()
	for {
		if p.closed {
			p.mu.Unlock()
			k.Reject(RejectedClosed)
			return ErrPoolClosed
		}
		if err := taskCtx.Err(); err != nil {
			p.mu.Unlock()
			k.Reject(ReasonOf(err))
			return err
		}
		if err := wait.Err(); err != nil {
			p.mu.Unlock()
			k.Reject(ReasonOf(err))
			return err
		}
		if len(p.idle) > 0 {
			// A worker is idle only when the queue is empty: hand the task over. Start it
			// before the worker can finish it.
			w := p.idle[len(p.idle)-1]
			p.idle = p.idle[:len(p.idle)-1]
			t := p.nodeLocked(fn, taskCtx, k)
			// start was read before the lock: if a worker went idle in between, the task did
			// not start before that, or the worker would count busy twice for that time
			// (busy and saturated seconds past what the clock allows, the wait lost).
			idleAt := p.idleAt
			p.mu.Unlock()
			if waited {
				start = p.tr.clock.now()
			}
			start = max(start, idleAt)
			p.tr.start(k, start)
			w.wake <- t
			return nil
		}
		if p.maxQueued < 0 || p.queued < p.maxQueued {
			p.enqueueLocked(p.nodeLocked(fn, taskCtx, k))
			p.mu.Unlock()
			return nil
		}
		if !block {
			p.mu.Unlock()
			k.Reject(RejectedQueueFull)
			return ErrQueueFull
		}
		if p.room == nil {
			p.room = make(chan struct{})
		}
		room := p.room
		p.mu.Unlock()
		var ended <-chan struct{} // a task's own context may end while its caller waits
		if taskCtx != p.ctx {     // (the pool's ends only after Shutdown has woken everyone)
			ended = taskCtx.Done()
		}
		select {
		case <-room:
		case <-wait.Done():
		case <-ended:
		}
		// The clock is read again only if the task goes to an idle worker: a task that joins
		// the queue starts when a worker pops it, and this Submit, waiting on a full pool,
		// spares a reading of the clock per task exactly when the machine is busiest.
		waited = true
		p.mu.Lock()
	}
}

func (p *Pool) nodeLocked(fn Task, ctx context.Context, k Ticket) *task {
	t := p.spare
	if t != nil {
		p.spare = t.next
		p.nspare--
		t.next = nil
	} else {
		t = &task{}
	}
	t.fn, t.ctx, t.ticket = fn, ctx, k
	return t
}

func (p *Pool) enqueueLocked(t *task) {
	t.queued = true
	t.prev = p.tail
	if p.tail != nil {
		p.tail.next = t
	} else {
		p.head = t
	}
	p.tail = t
	p.queued++
	if t.ctx != p.ctx && t.ctx.Done() != nil {
		// Only a task's own context that can end needs a watcher: it is the only allocation
		// per task, and a task under the pool's context never has one.
		seq := t.seq
		t.stop = context.AfterFunc(t.ctx, func() { p.expire(t, seq) })
	}
}

// unlinkLocked takes t out of the queue and wakes Submits waiting for room.
func (p *Pool) unlinkLocked(t *task) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		p.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		p.tail = t.prev
	}
	t.prev, t.next, t.queued = nil, nil, false
	p.queued--
	if t.stop != nil {
		t.stop()
		t.stop = nil
	}
	p.wakeSubmittersLocked()
}

// wakeSubmittersLocked wakes every Submit waiting for room, to look again.
func (p *Pool) wakeSubmittersLocked() {
	if p.room != nil {
		close(p.room)
		p.room = nil
	}
}

func (p *Pool) recycleLocked(t *task) {
	t.fn, t.ctx = nil, nil
	t.ticket = Ticket{}
	t.seq++ // also when the node is dropped: a late AfterFunc must not find it queued
	if p.nspare >= p.maxSpare {
		return
	}
	t.next = p.spare
	p.spare = t
	p.nspare++
}

// expire runs when a queued task's own context ends: if the task still waits, it never will.
func (p *Pool) expire(t *task, seq uint64) {
	p.mu.Lock()
	if t.seq != seq || !t.queued {
		p.mu.Unlock()
		return
	}
	err, k := t.ctx.Err(), t.ticket
	p.unlinkLocked(t)
	p.recycleLocked(t)
	p.mu.Unlock()
	k.Reject(ReasonOf(err))
}

// work runs tasks on worker w, starting with t if it is not nil, until the pool closes.
func (p *Pool) work(w *worker, t *task) {
	defer func() {
		if t != nil {
			// The task called runtime.Goexit (t.FailNow in a test does): run unwound without
			// returning and this goroutine is ending. recover cannot stop that, so count the
			// task as a panic and hand the worker, with whatever comes next, to a fresh
			// goroutine: the pool keeps its size and Shutdown still sees every worker return.
			next := p.next(w, t, OutcomePanic)
			go p.work(w, next)
		}
	}()
	for {
		for t != nil {
			o := p.run(t)
			t = p.next(w, t, o)
		}
		var open bool
		if t, open = <-w.wake; !open {
			break
		}
	}
	p.mu.Lock()
	p.live--
	p.tr.workers.Store(int64(p.live))
	if p.live == 0 {
		close(p.exited)
		p.cancel() // releases the pool context's resources; nothing runs under it any more
	}
	p.mu.Unlock()
}

// run calls the task, turning a panic into an outcome so that the worker survives it.
func (p *Pool) run(t *task) (o Outcome) {
	defer func() {
		if r := recover(); r != nil {
			o = OutcomePanic
			if p.onPanic != nil {
				p.onPanic(r)
			}
		}
	}()
	if err := t.fn(t.ctx); err != nil {
		return OutcomeError
	}
	return OutcomeSuccess
}

// next finishes done and starts the head of the queue on the same worker, both at one clock
// reading and in one step of the Tracker. With an empty queue the worker goes idle, or exits
// if the pool is closed (a nil return with the worker not idle).
func (p *Pool) next(w *worker, done *task, o Outcome) *task {
	now := p.tr.clock.now()
	finished := done.ticket
	p.mu.Lock()
	p.recycleLocked(done)
	// A worker beyond the pool's size (after a shrink) takes no new task: it leaves below.
	if p.staffed <= p.size {
		if t := p.popLocked(); t != nil {
			p.mu.Unlock()
			p.tr.handover(finished, o, t.ticket, now)
			return t
		}
	}
	p.mu.Unlock()
	// Nothing to run: finish before going idle, so that a task handed to this worker once it
	// is idle cannot be counted busy while the finished one still is (busy would pass max).
	p.tr.finish(finished, o, now)
	p.mu.Lock()
	if p.staffed <= p.size {
		if t := p.popLocked(); t != nil { // it came while the lock was released
			p.mu.Unlock()
			p.tr.start(t.ticket, now)
			return t
		}
	}
	if p.closed || p.staffed > p.size {
		// The pool is closing and its queue is empty, or the pool is shrinking: the worker
		// leaves (work returns). While staffed > size no worker is idle (Resize sent the idle
		// ones away first, and none goes idle), so the tasks in the queue wait for the
		// workers that stay, at least one, never for an idle one.
		p.staffed--
		close(w.wake)
	} else {
		p.idleAt = max(p.idleAt, now)
		p.idle = append(p.idle, w)
		// An idle worker is room, and with WithQueueSize(0) the only room there is.
		p.wakeSubmittersLocked()
	}
	p.mu.Unlock()
	return nil
}

// Resize sets the number of workers the pool runs from now on; workers must be at least 1,
// as for NewPool. Growing starts the new workers at once, hands them the tasks at the head
// of the queue and wakes the Submits waiting for room. Shrinking never stops a running task:
// idle workers beyond the new size leave at once, busy ones as they finish their task (they
// take no new one), so the tasks in the queue wait for the workers that stay.
// workerpool_max_workers reports the new size from now on (Tracker.SetMaxWorkers, with the
// saturated time counted against it), and workerpool_workers the workers alive while the
// surplus drains. After Shutdown, Resize does nothing: the pool's workers are leaving.
func (p *Pool) Resize(workers int) {
	if workers < 1 {
		panic(fmt.Sprintf("collector: Pool %q resized to %d workers, need at least 1", p.tr.name, workers))
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	// The Tracker's capacity changes under p.mu, so that two Resizes leave it with the size
	// the pool keeps, and before a task starts on a new worker, so that busy does not pass it
	// (unless a shrink comes in before the tasks popped below start: they then run as surplus,
	// and max_workers shows the busy count until they finish, as after any shrink).
	p.tr.SetMaxWorkers(workers)
	p.size = workers
	p.maxSpare = 2*workers + queueSpare(p.maxQueued)
	for p.staffed > p.size && len(p.idle) > 0 {
		w := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		p.staffed--
		close(w.wake)
	}
	add := p.size - p.staffed // surplus workers still finishing a task count as staff: they stay
	if add <= 0 {
		p.mu.Unlock()
		return
	}
	p.staffed += add
	p.live += add
	p.tr.workers.Store(int64(p.live))
	// The queue is not empty only if no worker is idle: each new worker takes its head task,
	// started once the lock is released; the rest go idle, which is room for blocked Submits.
	// A Submit that read the clock before this Resize and takes a new idle worker starts no
	// earlier than the resize: SetMaxWorkers floored every shard's clock at its reading.
	starts := make([]*task, 0, min(add, p.queued))
	for range add {
		t := p.popLocked()
		if t == nil {
			break
		}
		starts = append(starts, t)
	}
	p.startIdleLocked(add - len(starts))
	if len(starts) < add {
		p.wakeSubmittersLocked()
	}
	p.mu.Unlock()
	now := p.tr.clock.now()
	for _, t := range starts {
		p.tr.start(t.ticket, now) // before its worker can finish it
		go p.work(newWorker(), t)
	}
}

// popLocked takes the head of the queue, dropping the tasks whose own context has ended and
// whose watcher has not run yet: they never start.
func (p *Pool) popLocked() *task {
	for t := p.head; t != nil; t = p.head {
		p.unlinkLocked(t)
		if t.ctx == p.ctx || t.ctx.Err() == nil {
			return t
		}
		err, k := t.ctx.Err(), t.ticket
		p.recycleLocked(t)
		k.Reject(ReasonOf(err))
	}
	return nil
}

// Shutdown stops accepting tasks and waits until every accepted task has run and every worker
// has returned. If ctx ends first, the tasks still queued are dropped and counted rejected
// "closed", the pool's context is canceled to tell the running ones to stop, and Shutdown
// returns ctx.Err() without waiting for them (they finish and are counted as usual; their
// workers then exit). Calling it again waits again.
func (p *Pool) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		for _, w := range p.idle {
			close(w.wake)
		}
		p.staffed -= len(p.idle)
		p.idle = p.idle[:0]
		p.wakeSubmittersLocked()
	}
	p.mu.Unlock()
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	for t := p.head; t != nil; t = p.head {
		k := t.ticket
		p.unlinkLocked(t)
		p.recycleLocked(t)
		k.Reject(RejectedClosed)
	}
	p.mu.Unlock()
	p.cancel()
	return ctx.Err()
}

// Kind returns a way to submit tasks of one kind to p: the kind is their route, and while
// such tasks run the pool exposes workerpool_route_busy_workers and
// workerpool_route_oldest_running_task_age_seconds for it (see Tracker.Kind). Use a small,
// fixed set of kinds, never an identifier.
func (p *Pool) Kind(kind string) PoolKind {
	name := routeName(kind)
	if name == "" {
		// No kind, as for Tracker.Kind(""): a route series with an empty route would be one
		// without the label, beside the pool's named routes.
		return PoolKind{p: p}
	}
	return PoolKind{p: p, kind: &name}
}

// PoolKind submits tasks of one kind to a Pool (see Pool.Kind): its methods are the Pool's.
type PoolKind struct {
	p    *Pool
	kind *string // a pointer: one word for submit to carry, nil for tasks without a kind
}

// TrySubmit is Pool.TrySubmit for a task of this kind.
func (k PoolKind) TrySubmit(task Task) error {
	return k.p.submit(false, context.Background(), k.p.ctx, task, k.kind)
}

// Submit is Pool.Submit for a task of this kind.
func (k PoolKind) Submit(ctx context.Context, task Task) error {
	return k.p.submit(true, ctx, k.p.ctx, task, k.kind)
}

// SubmitWithContext is Pool.SubmitWithContext for a task of this kind.
func (k PoolKind) SubmitWithContext(ctx, taskCtx context.Context, task Task) error {
	return k.p.submit(true, ctx, taskCtx, task, k.kind)
}

// Describe implements prometheus.Collector.
func (p *Pool) Describe(ch chan<- *prometheus.Desc) { p.tr.Describe(ch) }

// Collect implements prometheus.Collector: one consistent snapshot per scrape.
func (p *Pool) Collect(ch chan<- prometheus.Metric) { p.tr.Collect(ch) }
