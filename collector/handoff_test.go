package collector

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// trapClock is a fake clock whose next reading, once armed, is taken at once but handed back
// only when released: the goroutine that read it stands for one preempted (or kept waiting
// for a lock) between its clock reading and the lock it then takes.
type trapClock struct {
	*fakeClock
	mu      sync.Mutex
	armed   bool
	trapped chan struct{}
	release chan struct{}
}

func newTrapClock() *trapClock {
	return &trapClock{fakeClock: newFakeClock(), trapped: make(chan struct{}), release: make(chan struct{})}
}

func (c *trapClock) Now() time.Time {
	now := c.fakeClock.Now()
	c.mu.Lock()
	armed := c.armed
	c.armed = false
	c.mu.Unlock()
	if armed {
		close(c.trapped)
		<-c.release
	}
	return now
}

func (c *trapClock) arm() {
	c.mu.Lock()
	c.armed = true
	c.mu.Unlock()
}

// checkWithinElapsed checks that busy seconds stay within max_workers x the time since the
// pool was made, and saturated seconds within that time: a worker runs one task at a time.
func checkWithinElapsed(t *testing.T, s scrape, elapsed float64) {
	t.Helper()
	maxW := s.value(t, contract.MaxWorkers)
	if busy := s.value(t, contract.BusySecondsTotal); busy > maxW*elapsed+1e-9 {
		t.Errorf("busy seconds %v over %v s with %v workers: a worker counted busy twice at once", busy, elapsed, maxW)
	}
	if sat := s.value(t, contract.SaturatedSecondsTotal); sat > elapsed+1e-9 {
		t.Errorf("saturated seconds %v over %v s", sat, elapsed)
	}
}

// TestPoolSubmitToIdleWorkerStartsAfterItsLastTask: a Submit reads the clock, then waits for
// the pool's lock; meanwhile the only worker finishes its task and goes idle. The new task is
// handed to that worker: it cannot have started before the worker was free.
func TestPoolSubmitToIdleWorkerStartsAfterItsLastTask(t *testing.T) {
	clk := newTrapClock()
	p := NewPool("handoff", 1, WithClock(clk.Now))
	t.Cleanup(func() { shutdown(t, p) })
	a, b := newBlocker(), newBlocker()
	if err := p.TrySubmit(a.task); err != nil { // a runs from t=0
		t.Fatal(err)
	}
	<-a.started
	clk.Advance(10 * time.Second)
	clk.arm()
	submitted := make(chan error)
	go func() { submitted <- p.TrySubmit(b.task) }() // reads t=10, then stalls
	<-clk.trapped
	clk.Advance(10 * time.Second)
	close(a.release) // a ends at t=20, its worker goes idle
	waitFor(t, "the worker to go idle", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.idle) == 1
	})
	close(clk.release)
	if err := <-submitted; err != nil {
		t.Fatal(err)
	}
	<-b.started
	clk.Advance(10 * time.Second) // t=30: a ran 20 s, b has run 10 s
	s := gather(t, p)
	checkInvariants(t, s, nil, false)
	checkWithinElapsed(t, s, 30)
	if got := s.value(t, contract.BusySecondsTotal); !near(got, 30) {
		t.Errorf("busy seconds = %v, want 30 (a 20 s, then b 10 s on the same worker)", got)
	}
	if w := s.histogram(t, contract.TaskWaitSeconds); !near(w.GetSampleSum(), 10) {
		t.Errorf("wait sum = %v, want 10 (b waited from t=10 until the worker was free at t=20)", w.GetSampleSum())
	}
	close(b.release)
}

// TestLimiterFreedSlotStartsAfterItsLastRequest: the same for a Limiter, whose fast path reads
// the clock before its lock: a request that takes the slot another has just freed starts no
// earlier than that one finished.
func TestLimiterFreedSlotStartsAfterItsLastRequest(t *testing.T) {
	clk := newTrapClock()
	l := NewLimiter("handoff", 1, WithClock(clk.Now))
	g := newGate()
	h := l.Wrap(g)
	served := make(chan int, 2)
	serve := func(url string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		served <- rec.Code
	}
	go serve("/?do=hold") // a holds the only slot from t=0
	<-g.entered
	clk.Advance(10 * time.Second)
	clk.arm()
	go serve("/?do=hold") // b reads t=10, then stalls before the limiter's lock
	<-clk.trapped
	clk.Advance(10 * time.Second)
	g.release <- struct{}{} // a ends at t=20
	if code := <-served; code != http.StatusOK {
		t.Fatalf("a: %d", code)
	}
	close(clk.release)
	<-g.entered
	clk.Advance(10 * time.Second)
	s := gather(t, l)
	checkInvariants(t, s, nil, false)
	checkWithinElapsed(t, s, 30)
	if got := s.value(t, contract.BusySecondsTotal); !near(got, 30) {
		t.Errorf("busy seconds = %v, want 30 (a 20 s, then b 10 s in the same slot)", got)
	}
	close(g.release)
	if code := <-served; code != http.StatusOK {
		t.Fatalf("b: %d", code)
	}
}
