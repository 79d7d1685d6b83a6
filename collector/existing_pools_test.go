package collector

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/poolwatch/poolwatch/internal/contract"
	"golang.org/x/sync/semaphore"
)

// TestTrackerAroundPond instruments a real pond v2 pool with a bounded, non-blocking queue.
func TestTrackerAroundPond(t *testing.T) {
	const workers, queue = 3, 5
	p := pond.NewPool(workers, pond.WithQueueSize(queue), pond.WithNonBlocking(true))
	tr := NewTracker("pond", workers, WithQueueSize(queue))
	release := make(chan struct{})
	var accepted, refused int
	var tasks []pond.Task
	for i := range 20 {
		k := tr.Submit()
		task, err := p.TrySubmit(func() {
			_ = k.Run(func() error {
				<-release
				if i%4 == 0 {
					return errors.New("failed")
				}
				return nil
			})
		})
		if !err {
			// pond refused it (its queue is full): the ticket never runs.
			k.Reject(RejectedQueueFull)
			refused++
			continue
		}
		accepted++
		tasks = append(tasks, task)
	}
	waitFor(t, "pond's workers to pick up tasks", func() bool {
		return gather(t, tr).value(t, contract.BusyWorkers) == workers
	})
	s := gather(t, tr)
	checkInvariants(t, s, nil, true)
	if got := s.value(t, contract.QueuedTasks); got != float64(accepted-workers) {
		t.Errorf("queued = %v, want %d", got, accepted-workers)
	}
	if refused == 0 || s.value(t, contract.TasksRejectedTotal, contract.ReasonQueueFull) != float64(refused) {
		t.Errorf("pond refused %d tasks; rejected{queue_full} = %v", refused, s.value(t, contract.TasksRejectedTotal, contract.ReasonQueueFull))
	}
	close(release)
	for _, task := range tasks {
		_ = task.Wait()
	}
	p.StopAndWait()
	s2 := gather(t, tr)
	checkInvariants(t, s2, s, true)
	if got := s2.value(t, contract.TasksCompletedTotal); got != float64(accepted) {
		t.Errorf("completed = %v, want %d", got, accepted)
	}
}

// TestTrackerAroundSemaphore instruments the usual x/sync/semaphore pattern: a goroutine per
// task that waits in Acquire (the queue) and gives up when its context ends.
func TestTrackerAroundSemaphore(t *testing.T) {
	const slots = 2
	sem := semaphore.NewWeighted(slots)
	tr := NewTracker("semaphore", slots)
	hold := make(chan struct{})
	var wg sync.WaitGroup
	run := func(ctx context.Context, work func()) {
		k := tr.Submit()
		if err := sem.Acquire(ctx, 1); err != nil {
			k.Reject(ReasonOf(err))
			return
		}
		defer sem.Release(1)
		_ = k.Run(func() error { work(); return nil })
	}
	for range slots {
		wg.Go(func() { run(context.Background(), func() { <-hold }) })
	}
	waitFor(t, "both slots taken", func() bool { return gather(t, tr).value(t, contract.BusyWorkers) == slots })
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	for range 3 {
		wg.Go(func() { run(ctx, func() {}) })
	}
	waitFor(t, "three queued", func() bool { return gather(t, tr).value(t, contract.QueuedTasks) == 3 })
	time.Sleep(5 * time.Millisecond)
	s := gather(t, tr)
	checkInvariants(t, s, nil, true)
	if got := s.value(t, contract.OldestQueuedAgeSeconds); got < 0.004 {
		t.Errorf("oldest queued age = %v, want >= 5 ms", got)
	}
	waitFor(t, "the waiters to time out", func() bool {
		return gather(t, tr).value(t, contract.TasksRejectedTotal, contract.ReasonTimeout) == 3
	})
	close(hold)
	wg.Wait()
	s2 := gather(t, tr)
	checkInvariants(t, s2, s, true)
	if got := s2.value(t, contract.TasksCompletedTotal, contract.OutcomeSuccess); got != slots {
		t.Errorf("completed = %v, want %d", got, slots)
	}
	if got := s2.value(t, contract.SaturatedSecondsTotal); got < 0.5 {
		t.Errorf("saturated %v s, want at least the 500 ms the waiters waited", got)
	}
}

// TestTrackerAroundResizedPond follows a real pond v2 pool through pond's own Resize, with a
// hand-moved clock: each pond.Resize is told to the Tracker with SetMaxWorkers (and pond's
// running workers with SetWorkers). Growing a saturated pond ends the saturation at the
// resize; shrinking it below its busy workers (pond lets them finish) starts one there, and
// max_workers follows pond's capacity, or the busy count while more run than it.
func TestTrackerAroundResizedPond(t *testing.T) {
	clk := newFakeClock()
	p := pond.NewPool(2, pond.WithQueueSize(10))
	t.Cleanup(p.StopAndWait)
	tr := NewTracker("pond", 2, WithQueueSize(10), WithClock(clk.Now))
	resize := func(n int) {
		p.Resize(n)
		tr.SetMaxWorkers(n)
	}
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	// Runs before StopAndWait (cleanups run last first): a failed step leaves no task held,
	// or StopAndWait would wait for it until the whole package's test timeout.
	t.Cleanup(free)
	var tasks []pond.Task
	for range 3 {
		k := tr.Submit()
		tasks = append(tasks, p.Submit(func() { _ = k.Run(func() error { <-release; return nil }) }))
	}
	var prev scrape
	expect := func(step string, maxW, busy, satSec float64) {
		t.Helper()
		var s scrape
		waitFor(t, step, func() bool {
			tr.SetWorkers(int(p.RunningWorkers()))
			s = gather(t, tr)
			return s.value(t, contract.BusyWorkers) == busy
		})
		checkInvariants(t, s, prev, true)
		prev = s
		s.expect(t, step, map[string]float64{contract.MaxWorkers: maxW, contract.SaturatedSecondsTotal: satSec})
	}
	expect("2 of 2 running, 1 queued", 2, 2, 0) // t=0: saturated
	clk.Advance(10 * time.Second)
	resize(4) // t=10: pond starts a worker for the queued task: 3 busy of 4
	expect("grown to 4", 4, 3, 10)
	clk.Advance(5 * time.Second)
	expect("3 of 4 busy for 5 s", 4, 3, 10) // t=15: not saturated
	resize(2)                               // t=15: pond keeps its 3 running
	clk.Advance(2 * time.Second)
	expect("shrunk to 2 under 3 running", 3, 3, 12) // t=17
	free()
	for _, task := range tasks {
		_ = task.Wait()
	}
	clk.Advance(time.Second)
	expect("idle at 2", 2, 0, 12)
}
