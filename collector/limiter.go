package collector

import (
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limiter is net/http middleware that bounds how many requests its handler serves at once:
// the Go equivalent of a server's thread pool, exposing the same series as a Pool. Up to
// maxConcurrent requests run; the next ones wait in a FIFO queue (bounded by WithQueueSize,
// for at most WithMaxWait). A request that finds the queue full, or waits too long, is answered
// 503 Service Unavailable with a Retry-After header and counted rejected queue_full or
// timeout; one whose client goes away while it waits is counted rejected canceled.
//
// A handler that answers 5xx counts as outcome error, one that panics as outcome panic (the
// panic then continues to net/http, unchanged).
type Limiter struct {
	tr         *Tracker
	maxQueued  int // < 0: unbounded
	maxWait    time.Duration
	retryAfter string
	route      func(*http.Request) string // nil: r.Pattern

	// The slots and the waiting line, under their own lock; the numbers are the Tracker's.
	mu    sync.Mutex
	slots int // how many requests may run at once: maxConcurrent, or the last Resize
	// running is how many slots are taken: at most slots, except after a Resize that shrank
	// them while more ran (those are never cut short; the surplus goes as they finish).
	running int
	// freedAt is the latest time a finishing request freed a slot (clock nanoseconds): a
	// request that takes a slot starts no earlier, even if it read the clock before the lock.
	freedAt    int64
	waiting    int
	head, tail *waiter
}

// waiter is a request waiting for a slot. The request that frees a slot starts the waiter's
// ticket itself and closes ready: the slot passes from hand to hand, in arrival order, and no
// newcomer can overtake the queue.
type waiter struct {
	ticket     Ticket
	ready      chan struct{}
	granted    bool
	prev, next *waiter
}

// grant hands the waiter its slot, its ticket already started. Under l.mu: a wait that ends
// at the same instant reads granted under that lock, and takes the slot rather than leave it
// held by nobody.
func (w *waiter) grant() {
	w.granted = true
	close(w.ready)
}

// NewLimiter returns a Limiter called name (its "pool" label) that runs at most maxConcurrent
// (at least 1) requests at once. Options: WithQueueSize (default unbounded), WithMaxWait
// (default: as long as the client waits), WithRetryAfter, WithNativeHistograms, WithClock.
func NewLimiter(name string, maxConcurrent int, opts ...LimiterOption) *Limiter {
	if maxConcurrent < 1 {
		panic(fmt.Sprintf("collector: NewLimiter %q with %d slots, need at least 1", name, maxConcurrent))
	}
	c := newLimiterConfig(opts)
	retry := c.retryAfter
	if retry <= 0 {
		retry = c.maxWait
	}
	return &Limiter{
		tr:         newTracker(name, maxConcurrent, c.trackerConfig),
		slots:      maxConcurrent,
		maxQueued:  c.queueSize,
		maxWait:    c.maxWait,
		route:      c.route,
		retryAfter: fmt.Sprint(max(1, int64(math.Ceil(retry.Seconds())))),
	}
}

// Name returns the limiter's pool name.
func (l *Limiter) Name() string { return l.tr.name }

// Wrap returns next behind the limiter.
func (l *Limiter) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, ok := l.acquire(r)
		if !ok {
			if r.Context().Err() == nil {
				w.Header().Set("Retry-After", l.retryAfter)
				http.Error(w, "503 service unavailable: every worker of pool "+l.tr.name+" is busy", http.StatusServiceUnavailable)
			}
			return
		}
		l.serve(next, w, r, k)
	})
}

// acquire returns a started ticket, or false once the request was rejected (and counted).
func (l *Limiter) acquire(r *http.Request) (Ticket, bool) {
	t := l.tr
	now := t.clock.now()
	kind := r.Pattern
	if l.route != nil {
		kind = l.route(r)
	}
	k := t.submit(now)
	if kind != "" {
		t.setKind(k, kind)
	}
	l.mu.Lock()
	if l.running < l.slots && l.head == nil {
		l.running++
		// now was read before the lock: a slot freed in between was busy until then, and
		// starting earlier would count it busy twice (busy and saturated seconds past the clock).
		start := max(now, l.freedAt)
		l.mu.Unlock()
		t.start(k, start)
		return k, true
	}
	if l.maxQueued >= 0 && l.waiting >= l.maxQueued {
		l.mu.Unlock()
		k.Reject(RejectedQueueFull)
		return Ticket{}, false
	}
	w := &waiter{ticket: k, ready: make(chan struct{})}
	w.prev = l.tail
	if l.tail != nil {
		l.tail.next = w
	} else {
		l.head = w
	}
	l.tail = w
	l.waiting++
	l.mu.Unlock()

	var expired <-chan time.Time
	if l.maxWait > 0 {
		timer := time.NewTimer(l.maxWait)
		defer timer.Stop()
		expired = timer.C
	}
	var reason Reason
	select {
	case <-w.ready:
		return k, true
	case <-expired:
		reason = RejectedTimeout
	case <-r.Context().Done():
		reason = ReasonOf(r.Context().Err())
	}
	l.mu.Lock()
	if w.granted { // the slot came just as the wait ended: take it
		l.mu.Unlock()
		return k, true
	}
	l.unlinkLocked(w)
	l.mu.Unlock()
	k.Reject(reason)
	return Ticket{}, false
}

func (l *Limiter) unlinkLocked(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		l.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		l.tail = w.prev
	}
	w.prev, w.next = nil, nil
	l.waiting--
}

// Resize sets how many requests may run at once from now on (at least 1, as for
// NewLimiter), and the tracked capacity with it (Tracker.SetMaxWorkers). Growing starts the
// longest-waiting requests at once, as many as the new slots; shrinking never cuts a running
// request short: while more run than the new size, a finishing request gives its slot up
// rather than pass it to a waiter, until the running ones fit.
func (l *Limiter) Resize(maxConcurrent int) {
	if maxConcurrent < 1 {
		panic(fmt.Sprintf("collector: Limiter %q resized to %d slots, need at least 1", l.tr.name, maxConcurrent))
	}
	t := l.tr
	l.mu.Lock()
	defer l.mu.Unlock()
	// Under l.mu, so that two Resizes leave the Tracker with the size the Limiter keeps, and
	// before any waiter starts on a new slot, so that busy never passes the new capacity.
	t.SetMaxWorkers(maxConcurrent)
	l.slots = maxConcurrent
	now := t.clock.now()
	for l.running < l.slots && l.head != nil {
		w := l.head
		l.unlinkLocked(w)
		l.running++
		t.start(w.ticket, now) // the slot is new: nobody was busy on it before now
		w.grant()
	}
}

// release finishes k and passes its slot to the first waiter, started at the same instant;
// after a Resize that shrank the limiter, it gives the slot up instead while more requests run
// than the new size allows.
func (l *Limiter) release(k Ticket, o Outcome) {
	t := l.tr
	now := t.clock.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.head
	if w == nil || l.running > l.slots {
		t.finish(k, o, now)
		l.running--
		l.freedAt = max(l.freedAt, now)
		return
	}
	l.unlinkLocked(w)
	t.handover(k, o, w.ticket, now) // before the waiter can serve, and so before it can finish
	w.grant()
}

func (l *Limiter) serve(next http.Handler, w http.ResponseWriter, r *http.Request, k Ticket) {
	rec := &statusRecorder{ResponseWriter: w}
	finished := false
	defer func() {
		if !finished {
			l.release(k, OutcomePanic) // the panic itself goes on to net/http
		}
	}()
	next.ServeHTTP(rec.wrap(), r)
	finished = true
	o := OutcomeSuccess
	if rec.status >= 500 {
		o = OutcomeError
	}
	l.release(k, o)
}

// Describe implements prometheus.Collector.
func (l *Limiter) Describe(ch chan<- *prometheus.Desc) { l.tr.Describe(ch) }

// Collect implements prometheus.Collector.
func (l *Limiter) Collect(ch chan<- prometheus.Metric) { l.tr.Collect(ch) }
