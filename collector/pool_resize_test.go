package collector

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// TestPoolResizeGrowStartsQueuedTasks: growing a pool whose workers are all busy starts the
// new workers at once on the tasks at the head of the queue, and the one left idle is room
// for a Submit blocked on a pool without a queue.
func TestPoolResizeGrowStartsQueuedTasks(t *testing.T) {
	p := NewPool("grow", 1, WithQueueSize(10))
	t.Cleanup(func() { shutdown(t, p) })
	first := occupy(t, p)
	queued := []*blocker{newBlocker(), newBlocker(), newBlocker()}
	for _, b := range queued {
		if err := p.TrySubmit(b.task); err != nil {
			t.Fatal(err)
		}
	}
	if s := gather(t, p); s.value(t, contract.QueuedTasks) != 3 {
		t.Fatalf("queued = %v before the resize, want 3", s.value(t, contract.QueuedTasks))
	}
	p.Resize(5)
	for i, b := range queued {
		select {
		case <-b.started:
		case <-time.After(5 * time.Second):
			t.Fatalf("queued task %d never started after the pool grew", i)
		}
	}
	s := gather(t, p)
	checkInvariants(t, s, nil, true)
	s.expect(t, "grown to 5 with 4 tasks", map[string]float64{
		contract.MaxWorkers: 5, contract.Workers: 5, contract.BusyWorkers: 4, contract.QueuedTasks: 0,
	})
	for _, b := range append(queued, first) {
		close(b.release)
	}
}

// TestPoolResizeGrowWakesBlockedSubmit: with no queue and the only worker busy, a Submit
// waits for a worker; growing the pool gives it one at once.
func TestPoolResizeGrowWakesBlockedSubmit(t *testing.T) {
	p := NewPool("direct", 1, WithQueueSize(0))
	t.Cleanup(func() { shutdown(t, p) })
	first := occupy(t, p)
	defer close(first.release)
	b := newBlocker()
	submitted := make(chan error, 1)
	go func() { submitted <- p.Submit(t.Context(), b.task) }()
	waitFor(t, "the Submit to wait", func() bool { return gather(t, p).value(t, contract.QueuedTasks) == 1 })
	p.Resize(2)
	select {
	case <-b.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the blocked Submit's task never started after the pool grew")
	}
	if err := <-submitted; err != nil {
		t.Fatalf("Submit: %v", err)
	}
	close(b.release)
}

// TestPoolSubmitToNewWorkerStartsAfterTheResize: a Submit reads the clock, then stalls while a
// Resize adds a worker; the task goes to that worker, which did not exist when the Submit read
// the clock: it runs from the resize, not before (busy and saturated seconds would pass what
// the clock allows).
func TestPoolSubmitToNewWorkerStartsAfterTheResize(t *testing.T) {
	clk := newTrapClock()
	p := NewPool("grown", 1, WithQueueSize(0), WithClock(clk.Now))
	t.Cleanup(func() { shutdown(t, p) })
	a, b := newBlocker(), newBlocker()
	if err := p.TrySubmit(a.task); err != nil { // a runs from t=0: saturated
		t.Fatal(err)
	}
	<-a.started
	clk.Advance(10 * time.Second)
	clk.arm()
	submitted := make(chan error)
	go func() { submitted <- p.TrySubmit(b.task) }() // reads t=10, then stalls
	<-clk.trapped
	clk.Advance(10 * time.Second)
	p.Resize(2) // t=20: a new, idle worker; no longer saturated
	close(clk.release)
	if err := <-submitted; err != nil {
		t.Fatal(err)
	}
	<-b.started                   // on the new worker, from t=20: saturated again
	clk.Advance(10 * time.Second) // t=30
	s := gather(t, p)
	checkInvariants(t, s, nil, false)
	checkWithinElapsed(t, s, 30)
	s.expect(t, "grown at t=20, both busy at t=30", map[string]float64{
		contract.BusySecondsTotal: 30 + 10, contract.SaturatedSecondsTotal: 20 + 10, contract.MaxWorkers: 2,
	})
	// The Submit reached the Tracker after the resize too: like any event whose clock reading
	// predates a resize (or a scrape), it counts at the resize, where it started at once.
	if w := s.histogram(t, contract.TaskWaitSeconds); w.GetSampleCount() != 2 || !near(w.GetSampleSum(), 0) {
		t.Errorf("wait: %d tasks waiting %v s, want 2 and 0", w.GetSampleCount(), w.GetSampleSum())
	}
	close(a.release)
	close(b.release)
}

// TestPoolResizeShrinkLetsTasksFinish: shrinking a pool of 4 busy workers to 1 cancels no
// running task; the surplus workers take no queued task and leave as they finish, workers
// drops with them, and the last worker then runs the queue.
func TestPoolResizeShrinkLetsTasksFinish(t *testing.T) {
	p := NewPool("shrink", 4, WithQueueSize(10))
	t.Cleanup(func() { shutdown(t, p) })
	running := make([]*blocker, 4)
	canceled := make(chan struct{}, 4)
	for i := range running {
		b := newBlocker()
		running[i] = b
		if err := p.TrySubmit(func(ctx context.Context) error {
			b.started <- struct{}{}
			select {
			case <-b.release:
				return nil
			case <-ctx.Done():
				canceled <- struct{}{}
				return ctx.Err()
			}
		}); err != nil {
			t.Fatal(err)
		}
		<-b.started
	}
	p.Resize(1)
	later := []*blocker{newBlocker(), newBlocker()}
	for _, b := range later {
		if err := p.TrySubmit(b.task); err != nil {
			t.Fatal(err)
		}
	}
	var prev scrape
	expect := func(step string, maxW, workers, busy, queued float64) {
		t.Helper()
		var s scrape
		waitFor(t, step, func() bool {
			s = gather(t, p)
			return s.value(t, contract.Workers) == workers && s.value(t, contract.BusyWorkers) == busy
		})
		checkInvariants(t, s, prev, true)
		prev = s
		s.expect(t, step, map[string]float64{contract.MaxWorkers: maxW, contract.QueuedTasks: queued})
	}
	expect("shrunk to 1 with 4 running", 4, 4, 4, 2)
	close(running[0].release)
	close(running[1].release)
	expect("two surplus workers left", 2, 2, 2, 2)
	close(running[2].release)
	expect("the last surplus worker left", 1, 1, 1, 2)
	select {
	case <-later[0].started:
		t.Fatal("a queued task started on a surplus worker")
	case <-time.After(20 * time.Millisecond):
	}
	close(running[3].release)
	for _, b := range later {
		select {
		case <-b.started:
		case <-time.After(5 * time.Second):
			t.Fatal("the queue never ran on the worker that stayed")
		}
		close(b.release)
	}
	expect("idle at 1 worker", 1, 1, 0, 0)
	if n := len(canceled); n != 0 {
		t.Errorf("%d running tasks saw their context end on the shrink", n)
	}
	if got := prev.value(t, contract.TasksCompletedTotal, contract.OutcomeSuccess); got != 6 {
		t.Errorf("completed{success} = %v, want 6", got)
	}
}

// TestPoolResizeShrinkIdleWorkersLeave: idle workers beyond the new size leave at once.
func TestPoolResizeShrinkIdleWorkersLeave(t *testing.T) {
	p := NewPool("idle", 6)
	t.Cleanup(func() { shutdown(t, p) })
	p.Resize(2)
	waitFor(t, "workers to drop to 2", func() bool { return gather(t, p).value(t, contract.Workers) == 2 })
	// The scrape clamps workers to max_workers: count the goroutines themselves.
	waitFor(t, "four worker goroutines to return", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.live == 2
	})
	s := gather(t, p)
	checkInvariants(t, s, nil, true)
	if got := s.value(t, contract.MaxWorkers); got != 2 {
		t.Errorf("max_workers = %v, want 2", got)
	}
}

// TestPoolShutdownAfterResizes: Shutdown waits for every worker, those Resize started
// included, while shrunk workers are still finishing; a Resize after Shutdown starts nothing.
// goleak (TestMain) fails the package if a worker is left behind.
func TestPoolShutdownAfterResizes(t *testing.T) {
	p := NewPool("resized", 2, WithQueueSize(100))
	var ran atomic.Int64
	hold := make(chan struct{})
	for range 20 {
		if err := p.TrySubmit(func(context.Context) error { <-hold; ran.Add(1); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	p.Resize(8)
	waitFor(t, "8 busy", func() bool { return gather(t, p).value(t, contract.BusyWorkers) == 8 })
	p.Resize(3)
	p.Resize(5)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- p.Shutdown(ctx)
	}()
	// Only ErrPoolClosed says the pool is closed: the probes fill the queue meanwhile, and a
	// full queue (ErrQueueFull) would end the wait before Shutdown has run.
	waitFor(t, "Shutdown to close the pool", func() bool {
		return errors.Is(p.TrySubmit(func(context.Context) error { return nil }), ErrPoolClosed)
	})
	p.Resize(10) // closed: nothing starts
	// The 8 workers are all held on their task, so none can have left: a Resize that grew
	// the closed pool would show here (and its idle workers would keep Shutdown waiting).
	p.mu.Lock()
	live, size := p.live, p.size
	p.mu.Unlock()
	if live != 8 || size != 5 {
		t.Errorf("Resize(10) after Shutdown: %d worker goroutines, size %d; want 8 and 5 as before", live, size)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	p.Resize(4)
	s := gather(t, p)
	checkInvariants(t, s, nil, true)
	if ran.Load() != 20 || s.value(t, contract.Workers) != 0 {
		t.Errorf("after Shutdown: %d of 20 tasks ran, workers = %v (want 0)", ran.Load(), s.value(t, contract.Workers))
	}
}

// TestPoolInvariantsWhileResizing: submitters push tasks through a bounded queue (waiting for
// room, or refused) while another goroutine resizes the pool at random between 1 and 6 workers
// and scrapes run all along: every scrape holds the invariants and stays within the elapsed
// time, no task is lost, and Shutdown drains everything.
func TestPoolInvariantsWhileResizing(t *testing.T) {
	begin := time.Now()
	p := NewPool("resizing", 3, WithQueueSize(8))
	const submitters, minTasks, minScrapes = 4, 400, 150
	var wg sync.WaitGroup
	var ran, submitted, scraped atomic.Int64
	for g := range submitters {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 11))
			for i := 0; i < minTasks || scraped.Load() < minScrapes; i++ {
				submitted.Add(1)
				sleep := rng.IntN(4) == 0
				task := func(context.Context) error {
					if sleep {
						time.Sleep(50 * time.Microsecond)
					}
					ran.Add(1)
					return nil
				}
				if rng.IntN(3) == 0 {
					_ = p.TrySubmit(task)
				} else if err := p.Submit(context.Background(), task); err != nil {
					t.Errorf("Submit: %v", err)
				}
			}
		})
	}
	var stop atomic.Bool
	var resizer sync.WaitGroup
	var resizes atomic.Int64
	resizer.Go(func() {
		rng := rand.New(rand.NewPCG(5, 11))
		for !stop.Load() {
			p.Resize(1 + rng.IntN(6))
			resizes.Add(1)
			time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
		}
	})
	prev, scrapes := scrapeWhile(t, p, &wg, func(s scrape) {
		scraped.Add(1)
		// The pool has had 6 workers at most, saturated at most all along.
		elapsed := time.Since(begin).Seconds()
		if busy := s.value(t, contract.BusySecondsTotal); busy > 6*elapsed+1e-9 {
			t.Errorf("busy seconds %v over %v s with 6 workers at most: a worker counted busy twice at once", busy, elapsed)
		}
		if sat := s.value(t, contract.SaturatedSecondsTotal); sat > elapsed+1e-9 {
			t.Errorf("saturated seconds %v over %v s", sat, elapsed)
		}
	})
	stop.Store(true)
	resizer.Wait()
	shutdown(t, p)
	s := gather(t, p)
	checkInvariants(t, s, prev, true)
	completed, total := s.value(t, contract.TasksCompletedTotal), float64(submitted.Load())
	if s.value(t, contract.TasksSubmittedTotal) != total || completed+s.value(t, contract.TasksRejectedTotal) != total {
		t.Errorf("submitted %v, completed %v, rejected %v; want %v in all", s.value(t, contract.TasksSubmittedTotal),
			completed, s.value(t, contract.TasksRejectedTotal), total)
	}
	if float64(ran.Load()) != completed {
		t.Errorf("%d tasks ran, %v counted completed", ran.Load(), completed)
	}
	t.Logf("%d scrapes, %d resizes, %v completed", scrapes, resizes.Load(), completed)
}

// TestLimiterResize: growing a full limiter starts the waiting requests at once; shrinking it
// lets the running ones finish, and a request waiting meanwhile starts only once the running
// ones fit the new size. max_workers follows the size (or the busy count above it).
func TestLimiterResize(t *testing.T) {
	l := NewLimiter("http", 2)
	g := newGate()
	srv := startServer(t, l.Wrap(g))
	// Runs before srv.Close (cleanups run last first): a failed step leaves no handler held.
	t.Cleanup(func() { close(g.release) })
	defer http.DefaultClient.CloseIdleConnections()
	var wg sync.WaitGroup
	hold := func() {
		wg.Go(func() {
			if code, _, err := get(context.Background(), srv.URL+"?do=hold"); err != nil || code != http.StatusOK {
				t.Errorf("request: %d %v", code, err)
			}
		})
	}
	state := func(step string, maxW, busy, queued float64) {
		t.Helper()
		var s scrape
		waitFor(t, step, func() bool {
			s = gather(t, l)
			return s.value(t, contract.BusyWorkers) == busy && s.value(t, contract.QueuedTasks) == queued
		})
		checkInvariants(t, s, nil, true)
		if got := s.value(t, contract.MaxWorkers); got != maxW {
			t.Errorf("%s: max_workers = %v, want %v", step, got, maxW)
		}
	}
	for range 4 {
		hold()
	}
	state("two running, two waiting", 2, 2, 2)
	l.Resize(5)
	state("grown to 5: all four running", 5, 4, 0)
	l.Resize(1)
	hold()
	state("shrunk to 1: four running, one waiting", 4, 4, 1)
	g.release <- struct{}{} // one handler returns: its slot goes, not to the waiter
	state("three running, still one waiting", 3, 3, 1)
	g.release <- struct{}{}
	g.release <- struct{}{}
	state("one running: the new size", 1, 1, 1)
	g.release <- struct{}{} // now the slot passes to the waiter
	state("the waiter runs", 1, 1, 0)
	g.release <- struct{}{}
	wg.Wait()
	s := gather(t, l)
	checkInvariants(t, s, nil, true)
	if got := s.value(t, contract.TasksCompletedTotal, contract.OutcomeSuccess); got != 5 {
		t.Errorf("completed{success} = %v, want 5", got)
	}
}
