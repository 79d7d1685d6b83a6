package collector

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Task is the work a Pool runs. ctx is the context given to Submit (context.Background for
// TrySubmit). A returned error counts the task as outcome "error".
type Task func(ctx context.Context) error

// Pool runs tasks on a fixed number of workers, all started by NewPool, with a FIFO queue in
// front of them (unbounded unless WithQueueSize bounds it). It is a prometheus.Collector
// exposing every series of the metric contract under the pool's name.
//
// A task submitted while a worker is idle is handed to it at once and never counts as
// queued. A task whose context ends while it waits is removed from the queue and counted
// rejected (timeout or canceled). A task that panics counts as outcome panic; its worker
// recovers and carries on.
type Pool struct {
	tr      *Tracker
	workers int
	onPanic func(any)

	// Guarded by tr.mu: one lock for the queue and its metrics, so they always agree.
	head, tail *task
	spare      *task // recycled nodes: a task costs no allocation in the steady state
	idle       []*worker
	live       int
	closed     bool
	room       chan struct{} // closed when the queue loses a task; made only when a Submit waits
	exited     chan struct{} // closed when the last worker returns
}

// task is one queued or running task: a node of the queue's doubly linked list, so that a
// task whose context ends can be taken out of the middle.
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
func NewPool(name string, workers int, opts ...Option) *Pool {
	if workers < 1 {
		panic(fmt.Sprintf("collector: NewPool %q with %d workers, need at least 1", name, workers))
	}
	c := newConfig(opts)
	p := &Pool{
		tr:      newTracker(name, workers, c),
		workers: workers,
		onPanic: c.panicHandler,
		idle:    make([]*worker, 0, workers),
		live:    workers,
		exited:  make(chan struct{}),
	}
	for range workers {
		w := &worker{wake: make(chan *task, 1)}
		p.idle = append(p.idle, w)
		go p.work(w, nil)
	}
	return p
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.tr.name }

// TrySubmit queues task, or hands it to an idle worker, without blocking. It returns
// ErrQueueFull when the queue is at capacity and ErrPoolClosed after Shutdown; either way the
// task is counted submitted and rejected.
func (p *Pool) TrySubmit(task Task) error {
	now := p.tr.clock.now()
	p.tr.mu.Lock()
	defer p.tr.mu.Unlock()
	if p.closed {
		p.tr.rejectLocked(RejectedClosed)
		return ErrPoolClosed
	}
	if !p.hasRoomLocked() {
		p.tr.rejectLocked(RejectedQueueFull)
		return ErrQueueFull
	}
	p.acceptLocked(context.Background(), task, now, now)
	return nil
}

// Submit queues task, or hands it to an idle worker, waiting for room in a full queue until
// ctx ends. Once accepted, the task waits for a worker only as long as ctx lasts: if ctx ends
// first, the task is dropped and counted rejected timeout (deadline) or canceled. Submit
// returns nil once the task is accepted, ctx.Err() if it ended before, and ErrPoolClosed after
// Shutdown. The task's wait is measured from the call to Submit.
func (p *Pool) Submit(ctx context.Context, task Task) error {
	now := p.tr.clock.now()
	start := now // when the task can start: later than now if Submit had to wait for room
	p.tr.mu.Lock()
	for {
		if p.closed {
			p.tr.rejectLocked(RejectedClosed)
			p.tr.mu.Unlock()
			return ErrPoolClosed
		}
		if err := ctx.Err(); err != nil {
			p.tr.rejectLocked(ReasonOf(err))
			p.tr.mu.Unlock()
			return err
		}
		if p.hasRoomLocked() {
			p.acceptLocked(ctx, task, now, start)
			p.tr.mu.Unlock()
			return nil
		}
		if p.room == nil {
			p.room = make(chan struct{})
		}
		room := p.room
		p.tr.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
		}
		p.tr.mu.Lock()
		start = p.tr.clock.now()
	}
}

func (p *Pool) hasRoomLocked() bool {
	q := p.tr.maxQueued
	return len(p.idle) > 0 || q < 0 || p.tr.s.queued.n < q
}

// acceptLocked hands the task to an idle worker (a worker is only idle when the queue is
// empty) or appends it to the queue.
// The task counts as submitted at submitted; if it goes to a worker at once, it starts at start.
func (p *Pool) acceptLocked(ctx context.Context, fn Task, submitted, start int64) {
	t := p.spare
	if t != nil {
		p.spare = t.next
		t.next = nil
	} else {
		t = &task{}
	}
	t.fn, t.ctx = fn, ctx
	t.ticket = p.tr.submitLocked(submitted)
	if k := len(p.idle); k > 0 {
		w := p.idle[k-1]
		p.idle = p.idle[:k-1]
		p.tr.startLocked(&t.ticket, start)
		w.wake <- t
		return
	}
	t.queued = true
	t.prev = p.tail
	if p.tail != nil {
		p.tail.next = t
	} else {
		p.head = t
	}
	p.tail = t
	if ctx.Done() != nil {
		// Only a context that can end needs a watcher; it is the only allocation per task.
		seq := t.seq
		t.stop = context.AfterFunc(ctx, func() { p.expire(t, seq) })
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
	t.seq++
	t.next = p.spare
	p.spare = t
}

// expire runs when a queued task's context ends: if the task still waits, it never will.
func (p *Pool) expire(t *task, seq uint64) {
	p.tr.mu.Lock()
	defer p.tr.mu.Unlock()
	if t.seq != seq || !t.queued {
		return
	}
	err := t.ctx.Err()
	p.unlinkLocked(t)
	p.tr.abandonLocked(&t.ticket, ReasonOf(err))
	p.recycleLocked(t)
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
	p.tr.mu.Lock()
	p.live--
	p.tr.s.workers = p.live
	if p.live == 0 {
		close(p.exited)
	}
	p.tr.mu.Unlock()
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

// next finishes done and, under the same lock, starts the head of the queue on the same
// worker. With an empty queue the worker goes idle, or exits if the pool is closed (a nil
// return with the worker not idle).
func (p *Pool) next(w *worker, done *task, o Outcome) *task {
	now := p.tr.clock.now()
	p.tr.mu.Lock()
	defer p.tr.mu.Unlock()
	p.tr.finishLocked(&done.ticket, o, now)
	p.recycleLocked(done)
	t := p.head
	if t == nil {
		if !p.closed {
			p.idle = append(p.idle, w)
			// An idle worker is room, and with WithQueueSize(0) the only room there is.
			p.wakeSubmittersLocked()
		} else {
			close(w.wake)
		}
		return nil
	}
	p.unlinkLocked(t)
	p.tr.startLocked(&t.ticket, now)
	return t
}

// Shutdown stops accepting tasks and waits until every accepted task has run and every worker
// has returned. If ctx ends first, the tasks still queued are dropped and counted rejected
// "closed", and Shutdown returns ctx.Err() without waiting for the running ones (they finish
// and are counted as usual; their workers then exit). Calling it again waits again.
func (p *Pool) Shutdown(ctx context.Context) error {
	p.tr.mu.Lock()
	if !p.closed {
		p.closed = true
		for _, w := range p.idle {
			close(w.wake)
		}
		p.idle = p.idle[:0]
		p.wakeSubmittersLocked()
	}
	p.tr.mu.Unlock()
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
	}
	p.tr.mu.Lock()
	for t := p.head; t != nil; t = p.head {
		p.unlinkLocked(t)
		p.tr.abandonLocked(&t.ticket, RejectedClosed)
		p.recycleLocked(t)
	}
	p.tr.mu.Unlock()
	return ctx.Err()
}

// Describe implements prometheus.Collector.
func (p *Pool) Describe(ch chan<- *prometheus.Desc) { p.tr.Describe(ch) }

// Collect implements prometheus.Collector: one consistent snapshot per scrape.
func (p *Pool) Collect(ch chan<- prometheus.Metric) { p.tr.Collect(ch) }
