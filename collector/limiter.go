package collector

import (
	"bufio"
	"fmt"
	"math"
	"net"
	"net/http"
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
	maxWait    time.Duration
	retryAfter string

	// Guarded by tr.mu.
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

// NewLimiter returns a Limiter called name (its "pool" label) that runs at most maxConcurrent
// (at least 1) requests at once. Options: WithQueueSize (default unbounded), WithMaxWait
// (default: as long as the client waits), WithRetryAfter, WithNativeHistograms, WithClock.
func NewLimiter(name string, maxConcurrent int, opts ...Option) *Limiter {
	if maxConcurrent < 1 {
		panic(fmt.Sprintf("collector: NewLimiter %q with %d slots, need at least 1", name, maxConcurrent))
	}
	c := newConfig(opts)
	retry := c.retryAfter
	if retry <= 0 {
		retry = c.maxWait
	}
	return &Limiter{
		tr:         newTracker(name, maxConcurrent, c),
		maxWait:    c.maxWait,
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
		l.serve(next, w, r, &k)
	})
}

// acquire returns a started ticket, or false once the request was rejected (and counted).
func (l *Limiter) acquire(r *http.Request) (Ticket, bool) {
	t := l.tr
	now := t.clock.now()
	t.mu.Lock()
	if t.s.busy < t.max && l.head == nil {
		k := t.submitLocked(now)
		t.startLocked(&k, now)
		t.mu.Unlock()
		return k, true
	}
	if t.maxQueued >= 0 && t.s.queued.n >= t.maxQueued {
		t.rejectLocked(RejectedQueueFull)
		t.mu.Unlock()
		return Ticket{}, false
	}
	w := &waiter{ticket: t.submitLocked(now), ready: make(chan struct{})}
	w.prev = l.tail
	if l.tail != nil {
		l.tail.next = w
	} else {
		l.head = w
	}
	l.tail = w
	t.mu.Unlock()

	var expired <-chan time.Time
	if l.maxWait > 0 {
		timer := time.NewTimer(l.maxWait)
		defer timer.Stop()
		expired = timer.C
	}
	var reason Reason
	select {
	case <-w.ready:
		return w.ticket, true
	case <-expired:
		reason = RejectedTimeout
	case <-r.Context().Done():
		reason = ReasonOf(r.Context().Err())
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if w.granted { // the slot came just as the wait ended: take it
		return w.ticket, true
	}
	l.unlinkLocked(w)
	t.abandonLocked(&w.ticket, reason)
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
}

// release finishes k and passes its slot to the first waiter.
func (l *Limiter) release(k *Ticket, o Outcome) {
	t := l.tr
	now := t.clock.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.finishLocked(k, o, now)
	if w := l.head; w != nil {
		l.unlinkLocked(w)
		t.startLocked(&w.ticket, now)
		w.granted = true
		close(w.ready)
	}
}

func (l *Limiter) serve(next http.Handler, w http.ResponseWriter, r *http.Request, k *Ticket) {
	rec := &statusRecorder{ResponseWriter: w}
	finished := false
	defer func() {
		if !finished {
			l.release(k, OutcomePanic) // the panic itself goes on to net/http
		}
	}()
	next.ServeHTTP(rec, r)
	finished = true
	o := OutcomeSuccess
	if rec.status >= 500 {
		o = OutcomeError
	}
	l.release(k, o)
}

// statusRecorder remembers the status a handler wrote. Unwrap lets http.ResponseController
// reach the real writer's Flush, Hijack and deadlines.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	// An informational 1xx (103 Early Hints) comes before the real status: keep waiting for it.
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush passes a flush through, for handlers that stream and test for http.Flusher.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack passes a hijack through, for handlers that type-assert http.Hijacker (websocket
// libraries do) rather than use http.ResponseController.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Describe implements prometheus.Collector.
func (l *Limiter) Describe(ch chan<- *prometheus.Desc) { l.tr.Describe(ch) }

// Collect implements prometheus.Collector.
func (l *Limiter) Collect(ch chan<- prometheus.Metric) { l.tr.Collect(ch) }
