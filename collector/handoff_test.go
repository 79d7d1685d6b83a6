package collector

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
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

// TestPoolShutdownMidFlightUnderLoad: submitters of every kind (TrySubmit, Submit with a wait
// that gets canceled, SubmitWithContext with a deadline) and tasks of every end (success,
// error, panic, runtime.Goexit, sleeping) keep coming while scrapes run, and Shutdown gives up
// midway (its context ends almost at once), with no queue and with a small one. Every scrape
// keeps the invariants exactly and stays within the elapsed time; nothing is lost.
func TestPoolShutdownMidFlightUnderLoad(t *testing.T) {
	for _, q := range []int{0, 2} {
		begin := time.Now()
		p := NewPool("midflight", 3, WithQueueSize(q), WithPanicHandler(func(any) {}))
		var submitters sync.WaitGroup
		var stop atomic.Bool
		var calls atomic.Int64
		for g := range 8 {
			submitters.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), 9))
				for !stop.Load() {
					kind := rng.IntN(12)
					task := func(context.Context) error {
						switch {
						case kind == 0:
							panic("midflight")
						case kind == 1:
							runtime.Goexit()
						case kind < 4:
							return errors.New("failed")
						case kind < 6:
							time.Sleep(100 * time.Microsecond)
						}
						return nil
					}
					calls.Add(1)
					switch rng.IntN(4) {
					case 0:
						_ = p.TrySubmit(task)
					case 1:
						ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(300))*time.Microsecond)
						_ = p.SubmitWithContext(ctx, ctx, task)
						cancel()
					case 2:
						ctx, cancel := context.WithCancel(context.Background())
						timer := time.AfterFunc(time.Duration(rng.IntN(200))*time.Microsecond, cancel)
						_ = p.Submit(ctx, task)
						timer.Stop()
						cancel()
					default:
						_ = p.Submit(context.Background(), task)
					}
				}
			})
		}
		var prev scrape
		for i := range 60 {
			if i == 40 {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Microsecond)
				_ = p.Shutdown(ctx)
				cancel()
			}
			time.Sleep(time.Millisecond)
			s := gather(t, p)
			checkInvariants(t, s, prev, false)
			checkWithinElapsed(t, s, time.Since(begin).Seconds())
			prev = s
		}
		stop.Store(true)
		submitters.Wait()
		shutdown(t, p)
		s := gather(t, p)
		checkInvariants(t, s, prev, true)
		checkWithinElapsed(t, s, time.Since(begin).Seconds())
		if got := s.value(t, contract.TasksSubmittedTotal); got != float64(calls.Load()) {
			t.Errorf("queue %d: submitted %v, want the %d calls", q, got, calls.Load())
		}
		for _, name := range []string{contract.BusyWorkers, contract.QueuedTasks, contract.Workers} {
			if got := s.value(t, name); got != 0 {
				t.Errorf("queue %d: %s = %v after Shutdown, want 0", q, name, got)
			}
		}
	}
}
