package collector

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/prometheus/client_golang/prometheus"
)

// TestTrackerSetMaxWorkersSaturationExact resizes a tracked pool with a hand-moved clock and
// checks saturated seconds to the nanosecond: a shrink into saturation starts an episode at
// the resize, a grow out of it ends one there, a resize to the busy count itself counts as
// saturated (busy >= capacity), a resize to the same size or across sizes that all leave the
// pool saturated changes nothing, and capacity 0 saturates from one busy worker.
func TestTrackerSetMaxWorkersSaturationExact(t *testing.T) {
	clk := newFakeClock()
	tr := NewTracker("resized", 4, WithClock(clk.Now))
	var prev scrape
	expect := func(step string, maxW, workers, satSec float64) {
		t.Helper()
		s := gather(t, tr)
		checkInvariants(t, s, prev, true)
		prev = s
		s.expect(t, step, map[string]float64{
			contract.MaxWorkers: maxW, contract.Workers: workers, contract.SaturatedSecondsTotal: satSec,
		})
	}
	run := func(n int) []Ticket {
		ks := make([]Ticket, n)
		for i := range ks {
			ks[i] = tr.Submit()
			ks[i].Start()
		}
		return ks
	}
	a := run(3) // t=0: 3 of 4 busy
	clk.Advance(time.Second)
	tr.SetMaxWorkers(3) // t=1: shrunk into saturation
	clk.Advance(2 * time.Second)
	expect("shrunk to the busy count", 3, 3, 2) // t=3
	tr.SetMaxWorkers(3)                         // the same size: the episode goes on
	clk.Advance(time.Second)
	expect("resized to the same size", 3, 3, 3) // t=4
	tr.SetMaxWorkers(6)                         // t=4: grown out of saturation
	clk.Advance(2 * time.Second)
	expect("grown past the busy count", 6, 6, 3) // t=6
	a[0].Finish(OutcomeSuccess)                  // t=6: 2 busy of 6
	tr.SetMaxWorkers(2)                          // t=6: busy equals the new capacity: saturated
	clk.Advance(time.Second)
	expect("shrunk to exactly the busy count", 2, 2, 4) // t=7
	tr.SetMaxWorkers(1)                                 // t=7: still saturated, more so: no new episode
	clk.Advance(time.Second)
	expect("shrunk below the busy count", 2, 2, 5) // t=8: max_workers = busy while 2 run
	tr.SetMaxWorkers(0)                            // capacity 0: saturated from 1 busy worker
	clk.Advance(time.Second)
	a[1].Finish(OutcomeSuccess) // t=9: 1 busy, still >= max(0, 1)
	clk.Advance(time.Second)
	expect("capacity 0, one busy", 1, 1, 7) // t=10
	a[2].Finish(OutcomeSuccess)             // t=10: idle, the episode ends
	clk.Advance(time.Second)
	expect("capacity 0, idle", 0, 0, 7) // t=11
	tr.SetMaxWorkers(2)
	b := run(2) // t=11: saturated again
	clk.Advance(3 * time.Second)
	tr.SetMaxWorkers(5) // t=14: ends it
	clk.Advance(time.Second)
	expect("saturated 3 s more at 2 workers", 5, 5, 10) // t=15
	for _, k := range b {
		k.Finish(OutcomeSuccess)
	}
	clk.Advance(time.Second)
	expect("idle at 5 workers", 5, 5, 10)
}

// TestTrackerSetMaxWorkersLateEvent: an event that read the clock before a resize and takes
// its shard's lock after it counts as happening at the resize. Here a task's Finish read
// t=9, and a shrink to the busy count at t=10 came in between: the episode that Finish ends
// lasts 0 s, not -1 s, and the next episode is counted in full.
func TestTrackerSetMaxWorkersLateEvent(t *testing.T) {
	clk := newFakeClock()
	tr := NewTracker("late", 4, WithClock(clk.Now))
	ks := []Ticket{tr.Submit(), tr.Submit(), tr.Submit()}
	for _, k := range ks {
		k.Start()
	}
	clk.Advance(9 * time.Second)
	late := tr.clock.now() // t=9: Finish reads the clock ...
	clk.Advance(time.Second)
	tr.SetMaxWorkers(3) // t=10: ... the pool is shrunk into saturation ...
	if !tr.finish(ks[0], OutcomeSuccess, late) {
		t.Fatal("finish did not act")
	} // ... and Finish takes the lock: 2 busy of 3 from t=10
	s := gather(t, tr)
	if got := s.value(t, contract.SaturatedSecondsTotal); !near(got, 0) {
		t.Errorf("saturated %v s after a 0 s episode, want 0", got)
	}
	k := tr.Submit()
	k.Start() // t=10: saturated again
	clk.Advance(4 * time.Second)
	s2 := gather(t, tr)
	checkInvariants(t, s2, s, true)
	if got := s2.value(t, contract.SaturatedSecondsTotal); !near(got, 4) {
		t.Errorf("saturated %v s after a 4 s episode, want 4 (a late event took time off)", got)
	}
}

// TestTrackerSetWorkersFollowsTheCapacity: SetWorkers is clamped to the capacity of each
// scrape, not of the call, and a tracker never told its workers reports its capacity, as
// resized.
func TestTrackerSetWorkersFollowsTheCapacity(t *testing.T) {
	tr := NewTracker("lazy", 2)
	tr.SetMaxWorkers(6)
	if got := gather(t, tr).value(t, contract.Workers); got != 6 {
		t.Errorf("never set, grown to 6: workers = %v, want 6", got)
	}
	tr.SetMaxWorkers(2)
	tr.SetWorkers(5) // the pool reports its workers before its resize
	if got := gather(t, tr).value(t, contract.Workers); got != 2 {
		t.Errorf("SetWorkers(5) at capacity 2: workers = %v, want 2", got)
	}
	tr.SetMaxWorkers(8)
	if got := gather(t, tr).value(t, contract.Workers); got != 5 {
		t.Errorf("SetWorkers(5), then grown to 8: workers = %v, want 5", got)
	}
	tr.SetMaxWorkers(3)
	s := gather(t, tr)
	checkInvariants(t, s, nil, true)
	if got := s.value(t, contract.Workers); got != 3 {
		t.Errorf("SetWorkers(5), then shrunk to 3: workers = %v, want 3", got)
	}
}

// TestTrackerResizesRacingTasks: goroutines start and finish tasks (more at times than the
// capacity of the moment) while another resizes the tracker at random and scrapes run all
// along. The clock stands still during the race, so every saturation episode it opens must be
// closed at the same instant: a crossing lost or counted twice by a resize racing an addBusy
// on another shard would leave saturated seconds off by the clock's whole reading once the
// clock moves. Afterwards a known episode must add exactly its length.
func TestTrackerResizesRacingTasks(t *testing.T) {
	clk := newFakeClock()
	tr := NewTracker("racing", 3, WithClock(clk.Now))
	clk.Advance(1000 * time.Second)
	const goroutines, minTasks, minScrapes = 6, 1500, 100
	var wg sync.WaitGroup
	var stop atomic.Bool
	var submitted, scraped atomic.Int64
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := 0; i < minTasks || scraped.Load() < minScrapes; i++ {
				submitted.Add(1)
				k := tr.Submit()
				if rng.IntN(6) == 0 {
					k.Reject(RejectedCanceled)
					continue
				}
				k.Start()
				k.Finish(OutcomeSuccess)
			}
		})
	}
	var resizer sync.WaitGroup
	var resizes atomic.Int64
	resizer.Go(func() {
		rng := rand.New(rand.NewPCG(7, 9))
		for !stop.Load() {
			tr.SetMaxWorkers(rng.IntN(8))
			resizes.Add(1)
			runtime.Gosched() // leave the scrapes their turn at the locks
		}
	})
	prev, scrapes := scrapeWhile(t, tr, &wg, func(scrape) { scraped.Add(1) })
	stop.Store(true)
	resizer.Wait()
	tr.SetMaxWorkers(2)
	s := gather(t, tr)
	checkInvariants(t, s, prev, true)
	base := s.value(t, contract.SaturatedSecondsTotal)
	if base != 0 {
		t.Errorf("saturated %v s while the clock stood still, want 0", base)
	}
	clk.Advance(5 * time.Second) // idle: nothing to add
	a, b := tr.Submit(), tr.Submit()
	a.Start()
	b.Start()
	clk.Advance(3 * time.Second) // saturated for 3 s
	a.Finish(OutcomeSuccess)
	b.Finish(OutcomeSuccess)
	clk.Advance(time.Second)
	s2 := gather(t, tr)
	checkInvariants(t, s2, s, true)
	if got := s2.value(t, contract.SaturatedSecondsTotal); !near(got, 3) {
		t.Errorf("saturated %v s after one 3 s episode, want 3: a crossing was lost or counted twice", got)
	}
	if want := float64(submitted.Load() + 2); s2.value(t, contract.TasksSubmittedTotal) != want {
		t.Errorf("submitted %v, want %v", s2.value(t, contract.TasksSubmittedTotal), want)
	}
	t.Logf("%d scrapes, %d resizes", scrapes, resizes.Load())
}

// TestResizeArguments: Pool.Resize and Limiter.Resize refuse fewer than 1 worker, as their
// constructors do, and leave the pool as it was; Tracker.SetMaxWorkers takes a negative
// capacity as 0 (saturated from one busy worker), as NewTracker does.
func TestResizeArguments(t *testing.T) {
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", what)
			}
		}()
		f()
	}
	p := NewPool("args", 2)
	t.Cleanup(func() { shutdown(t, p) })
	mustPanic("Pool.Resize(0)", func() { p.Resize(0) })
	mustPanic("Pool.Resize(-1)", func() { p.Resize(-1) })
	l := NewLimiter("args", 2)
	mustPanic("Limiter.Resize(0)", func() { l.Resize(0) })
	for name, c := range map[string]prometheus.Collector{"pool": p, "limiter": l} {
		if got := gather(t, c).value(t, contract.MaxWorkers); got != 2 {
			t.Errorf("%s: max_workers = %v after a refused resize, want 2", name, got)
		}
	}

	clk := newFakeClock()
	tr := NewTracker("args", 2, WithClock(clk.Now))
	tr.SetMaxWorkers(-3)
	k := tr.Submit()
	k.Start()
	clk.Advance(2 * time.Second)
	s := gather(t, tr)
	checkInvariants(t, s, nil, true)
	if got := s.value(t, contract.SaturatedSecondsTotal); !near(got, 2) {
		t.Errorf("capacity -3 (as 0), one busy for 2 s: saturated %v s, want 2", got)
	}
	k.Finish(OutcomeSuccess)
	if got := gather(t, tr).value(t, contract.MaxWorkers); got != 0 {
		t.Errorf("capacity -3, idle: max_workers = %v, want 0", got)
	}
}
