package collector

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestTrackerTimeSeriesExact drives a tracker with a hand-moved clock through tasks that finish
// out of order, and checks the integrals and ages to the nanosecond, including the part of
// the tasks still running at each scrape.
func TestTrackerTimeSeriesExact(t *testing.T) {
	clk := newFakeClock()
	tr := NewTracker("exact", 2, WithClock(clk.Now))
	expect := func(step string, busySec, satSec, oldestQ, oldestR float64) scrape {
		t.Helper()
		s := gather(t, tr)
		for _, c := range []struct {
			name string
			want float64
		}{
			{contract.BusySecondsTotal, busySec},
			{contract.SaturatedSecondsTotal, satSec},
			{contract.OldestQueuedAgeSeconds, oldestQ},
			{contract.OldestRunningAgeSecs, oldestR},
		} {
			if got := s.value(t, c.name); !near(got, c.want) {
				t.Errorf("%s: %s = %v, want %v", step, c.name, got, c.want)
			}
		}
		return s
	}

	a, b, c := tr.Submit(), tr.Submit(), tr.Submit() // t=0
	expect("all queued", 0, 0, 0, 0)
	clk.Advance(time.Second)
	a.Start() // t=1
	clk.Advance(time.Second)
	b.Start() // t=2: both workers busy, saturated from here
	clk.Advance(time.Second)
	s := expect("A and B running", 1+2, 1, 3, 2) // t=3
	checkInvariants(t, s, nil, true)
	clk.Advance(time.Second)
	b.Finish(OutcomeError) // t=4: B, started after A, finishes first
	clk.Advance(time.Second)
	s2 := expect("B finished before A", 3+2+1, 2, 5, 4) // t=5: A is still the oldest running
	checkInvariants(t, s2, s, true)
	c.Start() // t=5: C waited 5 s
	clk.Advance(time.Second)
	a.Finish(OutcomeSuccess) // t=6
	clk.Advance(time.Second)
	s3 := expect("C running alone", 6+2*1+1*1, 3, 0, 2) // t=7: queue empty, C started at 5
	checkInvariants(t, s3, s2, true)
	c.Finish(OutcomePanic)
	s4 := expect("idle", 9, 3, 0, 0)
	checkInvariants(t, s4, s3, true)

	wait := s4.histogram(t, contract.TaskWaitSeconds)
	if wait.GetSampleCount() != 3 || !near(wait.GetSampleSum(), 1+2+5) {
		t.Errorf("wait histogram count %d sum %v, want 3 and 8", wait.GetSampleCount(), wait.GetSampleSum())
	}
	dur := s4.histogram(t, contract.TaskDurationSeconds)
	if dur.GetSampleCount() != 3 || !near(dur.GetSampleSum(), 2+5+2) {
		t.Errorf("duration histogram count %d sum %v, want 3 and 9", dur.GetSampleCount(), dur.GetSampleSum())
	}
	for _, o := range contract.Outcomes {
		if got := s4.value(t, contract.TasksCompletedTotal, o); got != 1 {
			t.Errorf("completed{%s} = %v, want 1", o, got)
		}
	}
}

// TestTicketMisuseIsIgnored: calls out of order, twice, on a copy or on the zero Ticket cannot
// double-count.
func TestTicketMisuseIsIgnored(t *testing.T) {
	tr := NewTracker("misuse", 2)
	k := tr.Submit()
	k.Finish(OutcomeSuccess) // not started: ignored
	k.Start()
	k.Start() // second start: ignored
	cp := k
	k.Finish(OutcomeSuccess)
	k.Finish(OutcomeSuccess)
	cp.Finish(OutcomeError) // a copy of a ticket that already finished
	k.Reject(RejectedTimeout)
	var zero Ticket
	zero.Start()
	zero.Done(nil)
	zero.Reject(RejectedClosed)

	q := tr.Submit()
	qc := q
	q.Reject(RejectedCanceled)
	qc.Start() // the copy names a task that was rejected: ignored
	tr.Reject(RejectedQueueFull)

	s := gather(t, tr)
	checkInvariants(t, s, nil, true)
	if got := s.value(t, contract.TasksSubmittedTotal); got != 3 {
		t.Errorf("submitted = %v, want 3", got)
	}
	if got := s.value(t, contract.TasksCompletedTotal); got != 1 {
		t.Errorf("completed = %v, want 1", got)
	}
	if got := s.value(t, contract.TasksRejectedTotal); got != 2 {
		t.Errorf("rejected = %v, want 2", got)
	}
}

// TestTicketCopiesAreOneTask reproduces the misuse of a mutable Ticket: a copy starts the
// task (a closure that captured it, a struct passed by value) and the original finishes it.
// Both name the same task, so it finishes, and the pool is not left showing a worker busy
// forever with an oldest-running age that climbs.
func TestTicketCopiesAreOneTask(t *testing.T) {
	clk := newFakeClock()
	tr := NewTracker("copies", 2, WithClock(clk.Now))
	k := tr.Submit()
	started := make(chan struct{})
	go func(cp Ticket) { // the copy, on another goroutine as a worker would be
		cp.Start()
		close(started)
	}(k)
	<-started
	clk.Advance(time.Hour)
	if !k.Finish(OutcomeSuccess) {
		t.Error("Finish on the original of a ticket started through a copy was ignored")
	}
	s := gather(t, tr)
	checkInvariants(t, s, nil, true)
	s.expect(t, "finished through the original of a copied ticket", map[string]float64{
		contract.BusyWorkers: 0, contract.OldestRunningAgeSecs: 0, contract.TasksCompletedTotal: 1,
		contract.BusySecondsTotal: 3600,
	})
	// Any copy acts once: the task has ended for all of them.
	for _, cp := range []Ticket{k, k} {
		if cp.Finish(OutcomeError) || cp.Start() || cp.Reject(RejectedCanceled) {
			t.Error("a copy of a finished ticket acted again")
		}
	}
}

func TestTrackerRunCountsPanicAndRepanics(t *testing.T) {
	tr := NewTracker("run", 1)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		k := tr.Submit()
		_ = k.Run(func() error { panic("boom") })
	}()
	k := tr.Submit()
	if err := k.Run(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	s := gather(t, tr)
	checkInvariants(t, s, nil, true)
	if s.value(t, contract.TasksCompletedTotal, contract.OutcomePanic) != 1 || s.value(t, contract.TasksCompletedTotal, contract.OutcomeSuccess) != 1 {
		t.Error("Run did not count one panic and one success")
	}
}

// TestTrackerSetWorkersKeepsInvariants: SetWorkers is clamped to [0, max], and a scrape never
// shows fewer workers than busy ones, so busy <= workers <= max holds whatever the pool says.
func TestTrackerSetWorkersKeepsInvariants(t *testing.T) {
	tr := NewTracker("lazy", 2)
	tr.SetWorkers(1)
	if got := gather(t, tr).value(t, contract.Workers); got != 1 {
		t.Errorf("SetWorkers(1): workers = %v, want 1", got)
	}
	tr.SetWorkers(5) // more than the pool can have
	s := gather(t, tr)
	checkInvariants(t, s, nil, true)
	if got := s.value(t, contract.Workers); got != 2 {
		t.Errorf("SetWorkers(5) on a 2-worker tracker: workers = %v, want 2 (clamped)", got)
	}
	tr.SetWorkers(-3)
	k := tr.Submit()
	k.Start()
	s = gather(t, tr)
	checkInvariants(t, s, nil, true)
	if got := s.value(t, contract.Workers); got != 1 {
		t.Errorf("SetWorkers(-3) with one task running: workers = %v, want 1 (a busy worker is alive)", got)
	}
}

// The instrumented hot path must not allocate: Submit, Start, Finish and Reject.
func TestTrackerHotPathAllocatesNothing(t *testing.T) {
	tr := NewTracker("allocs", 4, WithQueueSize(16))
	allocs := testing.AllocsPerRun(1000, func() {
		k := tr.Submit()
		k.Start()
		k.Finish(OutcomeSuccess)
		r := tr.Submit()
		r.Reject(RejectedTimeout)
	})
	if allocs != 0 {
		t.Errorf("tracker hot path: %v allocs per task, want 0", allocs)
	}
}

var funcSink func()

// A closure that captures a Ticket as it is holds it by value: handing the closure to a pool
// (here, storing it where the compiler cannot follow) costs the closure's allocation only,
// not one more for the ticket.
func TestTicketInClosureAllocatesOnlyTheClosure(t *testing.T) {
	tr := NewTracker("closure", 4)
	allocs := testing.AllocsPerRun(1000, func() {
		k := tr.Submit()
		funcSink = func() { _ = k.Run(func() error { return nil }) }
		funcSink()
	})
	if allocs != 1 {
		t.Errorf("%v allocs per task, want 1 (the closure)", allocs)
	}
}

// TestTrackerInvariantsUnderLoad: goroutines submit, start, finish and reject tasks, with two
// copies of each ticket racing for every step, while scrapes run all along: each scrape is an
// exact snapshot (the accounting is an equality, busy never passes max) and every counter is
// monotonic; each task is counted once, whichever copy won.
func TestTrackerInvariantsUnderLoad(t *testing.T) {
	const workers, goroutines, tasks = 3, 8, 2000
	tr := NewTracker("stress", workers, WithQueueSize(100))
	slots := make(chan struct{}, workers) // the tracked "pool": at most workers run at once
	var wg sync.WaitGroup
	var won atomic.Int64
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			for range tasks {
				k := tr.Submit()
				if rng.IntN(5) == 0 {
					race(&won, func() bool { return k.Reject(RejectedTimeout) })
					continue
				}
				slots <- struct{}{}
				race(&won, k.Start)
				o := Outcome(rng.IntN(3))
				race(&won, func() bool { return k.Finish(o) })
				<-slots
			}
		})
	}
	prev, _ := scrapeWhile(t, tr, &wg, nil)
	s := gather(t, tr)
	checkInvariants(t, s, prev, true)
	total := float64(goroutines * tasks)
	if s.value(t, contract.TasksSubmittedTotal) != total || s.value(t, contract.TasksCompletedTotal)+s.value(t, contract.TasksRejectedTotal) != total {
		t.Errorf("submitted %v, completed %v, rejected %v; want %v tasks in all", s.value(t, contract.TasksSubmittedTotal),
			s.value(t, contract.TasksCompletedTotal), s.value(t, contract.TasksRejectedTotal), total)
	}
	// Rejects are one step, the others two: every step won exactly once.
	rejected := s.value(t, contract.TasksRejectedTotal)
	if want := rejected + 2*(total-rejected); float64(won.Load()) != want {
		t.Errorf("%d steps acted, want %v: a step acted twice or never", won.Load(), want)
	}
}

// race runs step from two goroutines at once and counts how many acted.
func race(won *atomic.Int64, step func() bool) {
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if step() {
				won.Add(1)
			}
		})
	}
	wg.Wait()
}
