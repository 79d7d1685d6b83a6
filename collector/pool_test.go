package collector

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// blocker is a task that holds its worker until released.
type blocker struct {
	started chan struct{}
	release chan struct{}
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}, 1), release: make(chan struct{})}
}

// occupy submits a blocker to p and returns it once its task runs: p has one worker busy
// until b.release is closed.
func occupy(t *testing.T, p *Pool) *blocker {
	t.Helper()
	b := newBlocker()
	if err := p.TrySubmit(b.task); err != nil {
		t.Fatal(err)
	}
	<-b.started
	return b
}

func (b *blocker) task(context.Context) error {
	b.started <- struct{}{}
	<-b.release
	return nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPoolRunningTasksCountAtScrapeTime: with a hand-moved clock, busy and saturated seconds
// and the ages grow with tasks that are still running or waiting when the scrape happens.
func TestPoolRunningTasksCountAtScrapeTime(t *testing.T) {
	clk := newFakeClock()
	p := NewPool("clocked", 2, WithClock(clk.Now), WithQueueSize(4))
	t.Cleanup(func() { shutdown(t, p) })
	b1, b2, b3 := newBlocker(), newBlocker(), newBlocker()
	for _, b := range []*blocker{b1, b2} {
		if err := p.TrySubmit(b.task); err != nil {
			t.Fatal(err)
		}
		<-b.started
	}
	clk.Advance(10 * time.Second)
	s := gather(t, p)
	checkInvariants(t, s, nil, false)
	s.expect(t, "two running for 10 s", map[string]float64{
		contract.BusyWorkers: 2, contract.BusySecondsTotal: 20, contract.SaturatedSecondsTotal: 10,
		contract.OldestRunningAgeSecs: 10, contract.OldestQueuedAgeSeconds: 0, contract.QueuedTasks: 0,
	})
	if err := p.TrySubmit(b3.task); err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Second)
	s2 := gather(t, p)
	checkInvariants(t, s2, s, false)
	s2.expect(t, "one queued for 3 s", map[string]float64{
		contract.QueuedTasks: 1, contract.OldestQueuedAgeSeconds: 3, contract.BusySecondsTotal: 26,
		contract.SaturatedSecondsTotal: 13, contract.OldestRunningAgeSecs: 13,
	})
	close(b2.release) // the second task leaves first; b3 takes its worker
	<-b3.started
	clk.Advance(time.Second)
	s3 := gather(t, p)
	checkInvariants(t, s3, s2, false)
	s3.expect(t, "after b2 finished", map[string]float64{
		contract.QueuedTasks: 0, contract.OldestQueuedAgeSeconds: 0, contract.BusySecondsTotal: 28,
		contract.OldestRunningAgeSecs: 14, // b1, still running, started first
	})
	if w := s3.histogram(t, contract.TaskWaitSeconds); w.GetSampleCount() != 3 || !near(w.GetSampleSum(), 3) {
		t.Errorf("wait histogram count %d sum %v, want 3 tasks waiting 3 s in all", w.GetSampleCount(), w.GetSampleSum())
	}
	close(b1.release)
	close(b3.release)
	shutdown(t, p)
	s4 := gather(t, p)
	checkInvariants(t, s4, s3, true)
	if got := s4.value(t, contract.Workers); got != 0 {
		t.Errorf("workers after shutdown = %v, want 0", got)
	}
}

// TestPoolRealClockBusySeconds uses the real clock: a task sleeping 300 ms is scraped midway.
func TestPoolRealClockBusySeconds(t *testing.T) {
	p := NewPool("real", 1)
	t.Cleanup(func() { shutdown(t, p) })
	b := occupy(t, p)
	time.Sleep(100 * time.Millisecond)
	s := gather(t, p)
	close(b.release)
	if got := s.value(t, contract.BusySecondsTotal); got < 0.09 || got > 5 {
		t.Errorf("busy seconds of a task running for 100 ms = %v", got)
	}
	if got := s.value(t, contract.OldestRunningAgeSecs); got < 0.09 || got > 5 {
		t.Errorf("oldest running age = %v", got)
	}
}

func TestPoolOutcomesAndPanicsKeepWorkers(t *testing.T) {
	var panics atomic.Int32
	p := NewPool("outcomes", 1, WithPanicHandler(func(v any) {
		if v == "boom" {
			panics.Add(1)
		}
	}))
	for range 3 {
		for _, task := range []Task{
			func(context.Context) error { return nil },
			func(context.Context) error { return errors.New("failed") },
			func(context.Context) error { panic("boom") },
		} {
			if err := p.TrySubmit(task); err != nil {
				t.Fatal(err)
			}
		}
	}
	shutdown(t, p)
	s := gather(t, p)
	checkInvariants(t, s, nil, true)
	for _, o := range contract.Outcomes {
		if got := s.value(t, contract.TasksCompletedTotal, o); got != 3 {
			t.Errorf("completed{%s} = %v, want 3", o, got)
		}
	}
	if panics.Load() != 3 {
		t.Errorf("panic handler saw %d panics, want 3", panics.Load())
	}
}

func TestPoolQueueFullAndContextEndWhileQueued(t *testing.T) {
	p := NewPool("full", 1, WithQueueSize(2))
	t.Cleanup(func() { shutdown(t, p) })
	b := occupy(t, p)
	var ran atomic.Int32
	count := func(context.Context) error { ran.Add(1); return nil }

	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	canceled, cancel := context.WithCancel(context.Background())
	// Tasks with a context of their own, chosen explicitly: dropped if it ends while they wait.
	if err := p.SubmitWithContext(short, short, count); err != nil {
		t.Fatal(err)
	}
	if err := p.SubmitWithContext(canceled, canceled, count); err != nil {
		t.Fatal(err)
	}
	if err := p.TrySubmit(count); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("TrySubmit on a full queue: %v, want ErrQueueFull", err)
	}
	// A blocking Submit waits for room, and gives up when its context does.
	blocked, cancelBlocked := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancelBlocked()
	if err := p.Submit(blocked, count); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit on a full queue: %v, want DeadlineExceeded", err)
	}
	cancel()
	waitFor(t, "both queued tasks to be dropped", func() bool {
		return gather(t, p).value(t, contract.QueuedTasks) == 0
	})
	// Room again: a blocking Submit now succeeds at once.
	if err := p.Submit(context.Background(), count); err != nil {
		t.Fatal(err)
	}
	close(b.release)
	shutdown(t, p)
	s := gather(t, p)
	checkInvariants(t, s, nil, true)
	for reason, want := range map[string]float64{
		contract.ReasonQueueFull: 1, contract.ReasonTimeout: 2, contract.ReasonCanceled: 1, contract.ReasonClosed: 0,
	} {
		if got := s.value(t, contract.TasksRejectedTotal, reason); got != want {
			t.Errorf("rejected{%s} = %v, want %v", reason, got, want)
		}
	}
	if ran.Load() != 1 {
		t.Errorf("%d tasks ran, want only the last one", ran.Load())
	}
	if err := p.TrySubmit(count); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("TrySubmit after Shutdown: %v, want ErrPoolClosed", err)
	}
	if got := gather(t, p).value(t, contract.TasksRejectedTotal, contract.ReasonClosed); got != 1 {
		t.Errorf("rejected{closed} = %v after a late submit, want 1", got)
	}
}

// TestPoolShutdownMidwayLosesNothing submits many tasks, shuts down before they can all run,
// and accounts for every one of them.
func TestPoolShutdownMidwayLosesNothing(t *testing.T) {
	const n = 2000
	p := NewPool("drain", 4)
	var ran atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range n / 4 {
				err := p.Submit(context.Background(), func(context.Context) error {
					ran.Add(1)
					time.Sleep(time.Duration(200+(g*i)%400) * time.Microsecond)
					return nil
				})
				if err != nil {
					t.Errorf("submit: %v", err)
				}
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown midway: %v, want DeadlineExceeded", err)
	}
	shutdown(t, p) // the running tasks end, then the workers
	s := gather(t, p)
	checkInvariants(t, s, nil, true)
	completed := s.value(t, contract.TasksCompletedTotal)
	closed := s.value(t, contract.TasksRejectedTotal, contract.ReasonClosed)
	if completed+closed != n || s.value(t, contract.TasksSubmittedTotal) != n {
		t.Errorf("completed %v + rejected closed %v != %d submitted", completed, closed, n)
	}
	if completed != float64(ran.Load()) {
		t.Errorf("completed %v, but %d tasks ran", completed, ran.Load())
	}
	if closed == 0 || completed == 0 {
		t.Errorf("shutdown was not midway: completed %v, closed %v", completed, closed)
	}
}

func TestPoolShutdownDrainsEverything(t *testing.T) {
	p := NewPool("full-drain", 3, WithQueueSize(1000))
	var ran atomic.Int64
	for range 1000 {
		if err := p.TrySubmit(func(context.Context) error { ran.Add(1); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	shutdown(t, p)
	if ran.Load() != 1000 {
		t.Errorf("%d of 1000 tasks ran", ran.Load())
	}
	checkInvariants(t, gather(t, p), nil, true)
}

// TestPoolInvariantsUnderLoad scrapes continuously while goroutines submit tasks that
// succeed, fail, panic, sleep, time out and get canceled, through both submit calls.
func TestPoolInvariantsUnderLoad(t *testing.T) {
	begin := time.Now()
	p := NewPool("stress", 4, WithQueueSize(16), WithPanicHandler(func(any) {}))
	var submitters sync.WaitGroup
	for g := range 16 {
		submitters.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			var cancels []context.CancelFunc
			defer func() {
				for _, cancel := range cancels {
					cancel()
				}
			}()
			for range 300 {
				kind := rng.IntN(10)
				task := func(context.Context) error {
					switch {
					case kind == 0:
						panic("stress")
					case kind < 3:
						return errors.New("failed")
					case kind < 5:
						time.Sleep(200 * time.Microsecond)
					}
					return nil
				}
				switch rng.IntN(4) {
				case 0:
					_ = p.TrySubmit(task)
				case 1:
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(500))*time.Microsecond)
					_ = p.SubmitWithContext(ctx, ctx, task)
					cancel()
				case 2:
					ctx, cancel := context.WithCancel(context.Background())
					if rng.IntN(2) == 0 {
						_ = p.Submit(ctx, task) // ctx bounds the wait for room only
					} else {
						_ = p.SubmitWithContext(ctx, ctx, task)
					}
					if rng.IntN(2) == 0 {
						cancel() // most likely while the task still waits
					} else {
						cancels = append(cancels, cancel)
					}
				default:
					_ = p.Submit(context.Background(), task)
				}
			}
		})
	}
	prev, scrapes := scrapeWhile(t, p, &submitters, func(s scrape) { checkWithinElapsed(t, s, time.Since(begin).Seconds()) })
	shutdown(t, p)
	final := gather(t, p)
	checkInvariants(t, final, prev, true)
	if final.value(t, contract.TasksSubmittedTotal) != 16*300 {
		t.Errorf("submitted = %v, want %d", final.value(t, contract.TasksSubmittedTotal), 16*300)
	}
	for _, series := range [][2]string{
		{contract.TasksCompletedTotal, contract.OutcomePanic},
		{contract.TasksCompletedTotal, contract.OutcomeError},
		{contract.TasksRejectedTotal, contract.ReasonTimeout},
	} {
		if final.value(t, series[0], series[1]) == 0 {
			t.Errorf("the load never produced %s{%s}", series[0], series[1])
		}
	}
	t.Logf("%d scrapes under load; final: %v completed, %v rejected", scrapes,
		final.value(t, contract.TasksCompletedTotal), final.value(t, contract.TasksRejectedTotal))
}

func TestPoolHotPathAllocatesNothing(t *testing.T) {
	p := NewPool("allocs", 2, WithQueueSize(1024))
	t.Cleanup(func() { shutdown(t, p) })
	var wg sync.WaitGroup
	task := func(context.Context) error { wg.Done(); return nil }
	// Warm up: let the node free list and slot tables reach their size.
	wg.Add(256)
	for range 256 {
		for p.TrySubmit(task) != nil {
		}
	}
	wg.Wait()
	allocs := testing.AllocsPerRun(200, func() {
		wg.Add(64)
		for range 64 {
			for p.TrySubmit(task) != nil {
			}
		}
		wg.Wait()
	})
	if allocs != 0 {
		t.Errorf("Pool: %v allocs per 64 tasks, want 0", allocs)
	}
}

// TestPoolWithoutQueueSubmitTakesTheFreedWorker: with WithQueueSize(0) nothing ever queues, so
// a blocked Submit must be woken by the worker going idle, not by its own context ending.
func TestPoolWithoutQueueSubmitTakesTheFreedWorker(t *testing.T) {
	p := NewPool("direct", 1, WithQueueSize(0))
	t.Cleanup(func() { shutdown(t, p) })
	b := occupy(t, p)
	if err := p.TrySubmit(b.task); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("TrySubmit with the only worker busy and no queue: got %v, want ErrQueueFull", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ran := make(chan struct{})
	go func() {
		time.Sleep(50 * time.Millisecond) // let Submit block on the busy worker first
		close(b.release)
	}()
	begin := time.Now()
	if err := p.Submit(ctx, func(context.Context) error { close(ran); return nil }); err != nil {
		t.Fatalf("Submit: %v (after %v)", err, time.Since(begin))
	}
	select {
	case <-ran:
	case <-time.After(2 * time.Second):
		t.Fatal("the task handed to the freed worker never ran")
	}
	if waited := time.Since(begin); waited > 2*time.Second {
		t.Fatalf("Submit returned after %v: it waited for its context, not for the worker", waited)
	}
}

// TestPoolTaskCallingGoexitLosesNothing: runtime.Goexit (what t.FailNow calls) cannot be
// recovered; the task still ends counted as a panic, its worker is replaced, the queued task
// behind it runs, and Shutdown sees every worker return.
func TestPoolTaskCallingGoexitLosesNothing(t *testing.T) {
	p := NewPool("goexit", 1, WithQueueSize(4))
	b := occupy(t, p)
	if err := p.TrySubmit(func(context.Context) error { runtime.Goexit(); return nil }); err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	if err := p.TrySubmit(func(context.Context) error { close(ran); return nil }); err != nil {
		t.Fatal(err)
	}
	close(b.release)
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("the task queued behind the one that called Goexit never ran")
	}
	waitFor(t, "three finished tasks", func() bool {
		s := gather(t, p)
		return s.value(t, contract.TasksCompletedTotal, contract.OutcomeSuccess) == 2 &&
			s.value(t, contract.TasksCompletedTotal, contract.OutcomePanic) == 1
	})
	s := gather(t, p)
	checkInvariants(t, s, nil, true)
	if got := s.value(t, contract.Workers); got != 1 {
		t.Errorf("workers = %v after a Goexit, want 1 (the worker is replaced)", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown after a Goexit: %v", err)
	}
}

// TestPoolSubmitFromHandlerRunsAfterTheRequest reproduces the misuse that doc.go used to teach:
// an HTTP handler submits with its request's context and returns. That context bounds the wait
// for room only; the accepted tasks run afterwards, under the pool's context, instead of being
// dropped as "canceled" when the request ends.
func TestPoolSubmitFromHandlerRunsAfterTheRequest(t *testing.T) {
	p := NewPool("reports", 1, WithQueueSize(10))
	var ran atomic.Int32
	gate := make(chan struct{})
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 5 {
			err := p.Submit(r.Context(), func(ctx context.Context) error {
				<-gate // still queued or running when the request is long over
				if ctx.Err() != nil {
					return ctx.Err()
				}
				ran.Add(1)
				return nil
			})
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer http.DefaultClient.CloseIdleConnections()
	if code, _, err := get(context.Background(), srv.URL); err != nil || code != http.StatusAccepted {
		t.Fatalf("request: %d %v", code, err)
	}
	srv.Close() // every request context has ended
	close(gate)
	shutdown(t, p)
	s := gather(t, p)
	checkInvariants(t, s, nil, true)
	if ran.Load() != 5 || s.value(t, contract.TasksCompletedTotal, contract.OutcomeSuccess) != 5 {
		t.Errorf("%d of 5 tasks ran (completed %v, rejected canceled %v)", ran.Load(),
			s.value(t, contract.TasksCompletedTotal), s.value(t, contract.TasksRejectedTotal, contract.ReasonCanceled))
	}
}

// TestPoolBlockedSubmittersCountAsQueued reproduces the invisible wait: with no queue and the
// only worker busy, three callers block in Submit. They are submitted and queued from the
// call, their wait shows in the oldest queued age, and the wait histogram covers it.
func TestPoolBlockedSubmittersCountAsQueued(t *testing.T) {
	p := NewPool("direct", 1, WithQueueSize(0))
	t.Cleanup(func() { shutdown(t, p) })
	b := occupy(t, p)
	var callers sync.WaitGroup
	for range 3 {
		callers.Go(func() {
			if err := p.Submit(context.Background(), func(context.Context) error { return nil }); err != nil {
				t.Errorf("blocked Submit: %v", err)
			}
		})
	}
	waitFor(t, "three callers queued", func() bool { return gather(t, p).value(t, contract.QueuedTasks) == 3 })
	time.Sleep(300 * time.Millisecond)
	s := gather(t, p)
	checkInvariants(t, s, nil, false)
	s.expect(t, "three callers blocked", map[string]float64{contract.QueuedTasks: 3, contract.TasksSubmittedTotal: 4, contract.BusyWorkers: 1})
	if got := s.value(t, contract.OldestQueuedAgeSeconds); got < 0.3 {
		t.Errorf("oldest queued age = %v, want >= 0.3 s (the callers' wait)", got)
	}
	if got := s.value(t, contract.MaxQueuedTasks); got != 0 {
		t.Errorf("max queued = %v, want 0", got)
	}
	close(b.release)
	callers.Wait()
	shutdown(t, p)
	s2 := gather(t, p)
	checkInvariants(t, s2, s, true)
	w := s2.histogram(t, contract.TaskWaitSeconds)
	if w.GetSampleCount() != 4 || w.GetSampleSum() < 3*0.3 {
		t.Errorf("wait histogram: %d tasks waiting %v s in all, want 4 and >= 0.9 s", w.GetSampleCount(), w.GetSampleSum())
	}
}

// TestPoolBlockedSubmitterGivingUpIsRejected: a caller whose context ends while it waits for
// room was submitted, and never ran: rejected timeout.
func TestPoolBlockedSubmitterGivingUpIsRejected(t *testing.T) {
	p := NewPool("impatient", 1, WithQueueSize(0))
	t.Cleanup(func() { shutdown(t, p) })
	b := occupy(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Submit(ctx, func(context.Context) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit: %v, want DeadlineExceeded", err)
	}
	s := gather(t, p)
	checkInvariants(t, s, nil, true)
	if got := s.value(t, contract.TasksRejectedTotal, contract.ReasonTimeout); got != 1 {
		t.Errorf("rejected{timeout} = %v, want 1", got)
	}
	close(b.release)
}
