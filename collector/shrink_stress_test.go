package collector

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

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
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var prev scrape
	for loop := true; loop; {
		select {
		case <-done:
			loop = false
		default:
		}
		s := gather(t, tr)
		checkInvariants(t, s, prev, false)
		checkNativeCounts(t, s)
		prev = s
		scrapes.Add(1)
	}
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
