package collector

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// TestTrackerInvariantsWhileTablesShrink: goroutines submit bursts large enough to grow the
// shards' slot tables far past minSlots, then drain them (start and finish, or reject, two
// copies of each ticket racing for every step), with more tasks running at once than the
// Tracker's declared capacity, while scrapes run all along and shrink the tables between
// bursts. Every scrape must be an exact snapshot, every counter monotonic, every step must act
// exactly once, and no ticket of an ended task (kept across later bursts, after its slot was
// cut and regrown) may ever act again.
func TestTrackerInvariantsWhileTablesShrink(t *testing.T) {
	const declared, goroutines, rounds = 2, 4, 6
	tr := NewTracker("shrink", declared, WithNativeHistograms(1.1))
	var wg sync.WaitGroup
	var won, staleActed, tasks, scrapes atomic.Int64
	// After each round every goroutine waits for the others to drain their bursts, then for
	// two scrapes: those cut the tables, which the next round grows again.
	var drained [rounds]sync.WaitGroup
	for r := range drained {
		drained[r].Add(goroutines)
	}
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 3))
			var ended []Ticket // tickets of tasks that have ended, kept to try again later
			for r := range rounds {
				burst := make([]Ticket, 200+rng.IntN(1500))
				for i := range burst {
					burst[i] = tr.Submit()
				}
				tasks.Add(int64(len(burst)))
				// The slots of the older rounds were cut by a scrape and are taken again by
				// this round's tasks, queued now: none of the old tickets may act on them.
				for _, k := range ended {
					if k.Start() || k.Finish(OutcomeError) || k.Reject(RejectedClosed) {
						staleActed.Add(1)
					}
				}
				for _, k := range burst {
					if rng.IntN(4) == 0 {
						race(&won, func() bool { return k.Reject(RejectedCanceled) })
					} else {
						race(&won, k.Start)
						race(&won, func() bool { return k.Finish(OutcomeSuccess) })
					}
				}
				ended = append(ended, burst...)
				drained[r].Done()
				drained[r].Wait()
				for mark := scrapes.Load(); scrapes.Load() < mark+2; {
					runtime.Gosched()
				}
			}
		})
	}
	prev, _ := scrapeWhile(t, tr, &wg, func(s scrape) {
		checkNativeCounts(t, s)
		scrapes.Add(1)
	})
	s := gather(t, tr)
	checkInvariants(t, s, prev, true)
	total := float64(tasks.Load())
	rejected := s.value(t, contract.TasksRejectedTotal)
	if s.value(t, contract.TasksSubmittedTotal) != total || s.value(t, contract.TasksCompletedTotal)+rejected != total {
		t.Errorf("submitted %v, completed %v, rejected %v; want %v tasks in all", s.value(t, contract.TasksSubmittedTotal),
			s.value(t, contract.TasksCompletedTotal), rejected, total)
	}
	if want := rejected + 2*(total-rejected); float64(won.Load()) != want {
		t.Errorf("%d steps acted, want %v: a step acted twice or never", won.Load(), want)
	}
	if n := staleActed.Load(); n != 0 {
		t.Errorf("%d tickets of ended tasks acted on a later task", n)
	}
	// Nothing in flight: two scrapes give every table back down to minSlots.
	gather(t, tr)
	for i := range tr.shards {
		if c := cap(tr.shards[i].slots); c > minSlots {
			t.Errorf("shard %d keeps %d slots with nothing in flight, want at most %d", i, c, minSlots)
		}
	}
	t.Logf("%d scrapes, %v tasks", scrapes.Load(), total)
}

// checkNativeCounts: the native buckets, observed under the shards' locks like the classic
// ones, count exactly the histogram's samples in the same scrape.
func checkNativeCounts(t *testing.T, s scrape) {
	t.Helper()
	for _, name := range []string{contract.TaskWaitSeconds, contract.TaskDurationSeconds} {
		h := s.histogram(t, name)
		native := h.GetZeroCount()
		for _, n := range deltas(h.GetPositiveDelta()) {
			native += n
		}
		if native != h.GetSampleCount() {
			t.Errorf("%s: native buckets count %d, samples %d", name, native, h.GetSampleCount())
		}
	}
}

// deltas turns a native histogram's delta-encoded bucket counts into counts.
func deltas(ds []int64) []uint64 {
	out := make([]uint64, len(ds))
	var c int64
	for i, d := range ds {
		c += d
		out[i] = uint64(c)
	}
	return out
}

// TestSlotTableShrinksUnderSteadyLoad: after a burst drained in the order it came (a queue's
// order: the highest slots freed last, so on top of the free list), a steady trickle keeps a
// few tasks in flight in every shard at every scrape, each new task taking the slot the last
// finished one freed. The tables must still shrink back to the steady state's size within a
// few scrapes, not keep the burst's peak for as long as the trickle lasts.
func TestSlotTableShrinksUnderSteadyLoad(t *testing.T) {
	tr := NewTracker("trickle", 4)
	burst := make([]Ticket, 300*len(tr.shards))
	for i := range burst {
		burst[i] = tr.Submit()
	}
	for _, k := range burst {
		k.Start()
		k.Finish(OutcomeSuccess)
	}
	slots := func() (n int) {
		for i := range tr.shards {
			n += cap(tr.shards[i].slots)
		}
		return n
	}
	peak := slots()
	inFlight := 2 * len(tr.shards) // two tasks in every shard, always
	var fifo []Ticket
	for step := range 4000 {
		if len(fifo) == inFlight { // the oldest ends, then the next task comes
			fifo[0].Finish(OutcomeSuccess)
			fifo = fifo[1:]
		}
		k := tr.Submit()
		k.Start()
		fifo = append(fifo, k)
		if step%200 == 199 {
			checkInvariants(t, gather(t, tr), nil, true)
		}
	}
	if got := slots(); got > minSlots*len(tr.shards) {
		t.Errorf("%d slots kept after 20 scrapes of a steady %d tasks in flight (peak %d), want at most %d",
			got, inFlight, peak, minSlots*len(tr.shards))
	}
}

// TestParkedSlotsAreTakenAgain: slots freed high in a table while a scrape waits to cut it
// are parked, out of the free list; when the tasks come back before the cut and the free list
// runs dry, the parked slots are taken again before the table grows, and their tasks run.
func TestParkedSlotsAreTakenAgain(t *testing.T) {
	tr := NewTracker("parked", 4)
	const perShard = 300
	n := perShard * len(tr.shards)
	drain := func(ks []Ticket) {
		for _, k := range ks {
			if !k.Start() || !k.Finish(OutcomeSuccess) {
				t.Fatal("a task could not run")
			}
		}
	}
	burst := make([]Ticket, n)
	for i := range burst {
		burst[i] = tr.Submit()
	}
	drain(burst) // in order: the highest slots are freed last, on top of the free lists
	high := make([]Ticket, 2*len(tr.shards))
	for i := range high {
		high[i] = tr.Submit() // two per shard, high up
	}
	checkInvariants(t, gather(t, tr), nil, true) // a quarter in use at most: park the top
	drain(high)                                  // parked
	for i := range tr.shards {
		if sh := &tr.shards[i]; sh.parked != 2 {
			t.Fatalf("shard %d: %d parked slots, want 2", i, sh.parked)
		}
	}
	for i := range burst {
		burst[i] = tr.Submit()
	}
	for i := range tr.shards {
		if got := len(tr.shards[i].slots); got != perShard {
			t.Errorf("shard %d: %d slots for %d tasks in flight, want %d (the parked ones taken again)", i, got, perShard, perShard)
		}
	}
	drain(burst)
	s := gather(t, tr)
	checkInvariants(t, s, nil, true)
	if got, want := s.value(t, contract.TasksCompletedTotal), float64(2*n+len(high)); got != want {
		t.Errorf("completed %v, want %v", got, want)
	}
}

// TestFullShardPassesTheTaskOn: a Submit dealt to a shard whose slot table is full takes a
// slot in another shard that has room, and its task runs there; only with every shard full
// does Submit panic (TestSlotIndexOverflowIsEnforced).
func TestFullShardPassesTheTaskOn(t *testing.T) {
	tr := NewTracker("full", 1)
	tr.slotLimit = 3
	var all []Ticket
	for range len(tr.shards) * tr.slotLimit {
		all = append(all, tr.Submit())
	}
	const roomy = 5 // empty one shard: the next Submits, dealt to full shards, go there
	var kept []Ticket
	for _, k := range all {
		if k.ref>>slotBits == roomy {
			k.Reject(RejectedCanceled)
		} else {
			kept = append(kept, k)
		}
	}
	for range tr.slotLimit {
		k := tr.Submit()
		if k.ref>>slotBits != roomy {
			t.Fatalf("a task went to shard %d, full, instead of %d", k.ref>>slotBits, roomy)
		}
		kept = append(kept, k)
	}
	for _, k := range kept {
		if !k.Start() || !k.Finish(OutcomeSuccess) {
			t.Fatal("a task could not run")
		}
	}
	s := gather(t, tr)
	checkInvariants(t, s, nil, true)
	if got, want := s.value(t, contract.TasksCompletedTotal), float64(len(kept)); got != want {
		t.Errorf("completed %v, want %v", got, want)
	}
}

// TestPoolInvariantsThroughBursts: submitters push bursts through a Pool's unbounded queue,
// wait for them to run, and start again, while scrapes run all along: the slot tables grow
// and are cut between bursts, a worker's handover from one task to the next runs in tables
// being shrunk, and every scrape stays exact and within the elapsed time.
func TestPoolInvariantsThroughBursts(t *testing.T) {
	begin := time.Now()
	p := NewPool("bursts", 3)
	const submitters, rounds, burst = 3, 5, 400
	var wg sync.WaitGroup
	for g := range submitters {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 4))
			for range rounds {
				var ran sync.WaitGroup
				ran.Add(burst)
				for range burst {
					sleep := rng.IntN(8) == 0
					err := p.Submit(context.Background(), func(context.Context) error {
						defer ran.Done()
						if sleep {
							time.Sleep(20 * time.Microsecond)
						}
						return nil
					})
					if err != nil {
						t.Errorf("Submit: %v", err)
						ran.Done()
					}
				}
				ran.Wait()
			}
		})
	}
	prev, _ := scrapeWhile(t, p, &wg, func(s scrape) { checkWithinElapsed(t, s, time.Since(begin).Seconds()) })
	shutdown(t, p)
	s := gather(t, p)
	checkInvariants(t, s, prev, true)
	if got, want := s.value(t, contract.TasksCompletedTotal), float64(submitters*rounds*burst); got != want {
		t.Errorf("completed %v, want %v", got, want)
	}
	for i := range p.tr.shards {
		if c := cap(p.tr.shards[i].slots); c > minSlots {
			t.Errorf("shard %d keeps %d slots once the pool is idle, want at most %d", i, c, minSlots)
		}
	}
}
