package collector

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// A zero Option (a struct literal, a variable never set) and a nil option are no-ops for
// every constructor, not a panic inside it.
func TestZeroAndNilOptionsAreNoOps(t *testing.T) {
	var zero Option
	p := NewPool("zero", 1, zero, nil, Option{})
	t.Cleanup(func() { shutdown(t, p) })
	if p.maxQueued != -1 {
		t.Errorf("pool: queue %d after no-op options, want -1 (unbounded)", p.maxQueued)
	}
	if tr := NewTracker("zero", 1, zero, nil); tr.maxQueued != -1 {
		t.Errorf("tracker: queue %d after no-op options, want -1", tr.maxQueued)
	}
	if l := NewLimiter("zero", 1, zero, nil); l.maxQueued != -1 {
		t.Errorf("limiter: queue %d after no-op options, want -1", l.maxQueued)
	}
}

// A tracked pool that runs more tasks than the Tracker was told (a Tracker trusts the pool's
// Start calls) must still give scrapes where busy <= workers <= max_workers: max_workers
// reports the busy count while it is above the declared capacity, and the pool shows
// saturated; it returns to the declared capacity once the excess ends.
func TestTrackerStartBeyondCapacityKeepsInvariants(t *testing.T) {
	tr := NewTracker("over", 2)
	var ks []Ticket
	for range 3 {
		k := tr.Kind("resize").Submit()
		if !k.Start() {
			t.Fatal("Start refused")
		}
		ks = append(ks, k)
	}
	s := gather(t, tr)
	checkInvariants(t, s, nil, true)
	if busy, maxW := s.value(t, contract.BusyWorkers), s.value(t, contract.MaxWorkers); busy != 3 || maxW != 3 {
		t.Errorf("busy %v, max %v with 3 running on a declared capacity of 2, want 3 and 3", busy, maxW)
	}
	if got := s.value(t, contract.RouteBusyWorkers, "resize"); got != 3 {
		t.Errorf("route busy %v, want 3 (= busy_workers)", got)
	}
	ks[0].Finish(OutcomeSuccess)
	ks[1].Finish(OutcomeSuccess)
	s = gather(t, tr)
	checkInvariants(t, s, nil, true)
	if maxW := s.value(t, contract.MaxWorkers); maxW != 2 {
		t.Errorf("max %v once 1 runs, want the declared 2", maxW)
	}
}

// A shard's slot table holds as many slots as the peak of its tasks in flight: after a burst
// ends, a scrape gives the memory back, and a ticket from the burst stays stale when its slot
// index is reused by a table grown again.
func TestSlotTableShrinksAfterBurst(t *testing.T) {
	tr := NewTracker("burst", 4)
	const burst = 20_000
	ks := make([]Ticket, burst)
	for i := range ks {
		ks[i] = tr.Submit()
	}
	for _, k := range ks {
		k.Reject(RejectedCanceled)
	}
	slots := func() (n int) {
		for i := range tr.shards {
			n += cap(tr.shards[i].slots)
		}
		return n
	}
	if got := slots(); got < burst {
		t.Fatalf("%d slots for a burst of %d", got, burst)
	}
	// A task submitted after the burst may take a slot high up (the free list is a stack):
	// the first scrape has new tasks fill each table from the bottom, the next one cuts it.
	k := tr.Submit()
	checkInvariants(t, gather(t, tr), nil, true)
	k.Reject(RejectedCanceled)
	k = tr.Submit()
	checkInvariants(t, gather(t, tr), nil, true)
	if got := slots(); got > minSlots*len(tr.shards) {
		t.Errorf("%d slots kept after the burst ended (1 task in flight), want at most %d", got, minSlots*len(tr.shards))
	}
	// Grow the tables again: no ticket of the burst may act on a task of the new ones.
	again := make([]Ticket, burst)
	for i := range again {
		again[i] = tr.Submit()
	}
	for _, old := range ks {
		if old.Start() || old.Reject(RejectedClosed) {
			t.Fatalf("a ticket of the burst acted on a new task in its old slot")
		}
	}
	for _, n := range again {
		if !n.Start() || !n.Finish(OutcomeSuccess) {
			t.Fatal("a new task could not run")
		}
	}
	k.Reject(RejectedCanceled)
	s := gather(t, tr)
	checkInvariants(t, s, nil, true)
	if got := s.value(t, contract.TasksCompletedTotal); got != burst {
		t.Errorf("completed %v, want %d", got, burst)
	}
}

// A shard's slot index has slotBits bits in a Ticket: a full shard hands the task to another,
// and with every shard full Submit panics with a message that names the cause (tickets that
// are never finished or rejected), instead of making tickets that name the wrong shard.
func TestSlotIndexOverflowIsEnforced(t *testing.T) {
	tr := NewTracker("overflow", 1)
	tr.slotLimit = 3
	n := len(tr.shards) * tr.slotLimit
	seen := map[uint32]bool{}
	for range n {
		k := tr.Submit()
		if seen[k.ref] {
			t.Fatalf("two tasks in flight share slot %#x", k.ref)
		}
		seen[k.ref] = true
	}
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "in flight") {
			t.Errorf("Submit past %d tasks in flight: recovered %v, want a panic naming the tasks in flight", n, r)
		}
	}()
	tr.Submit()
}

// A Pool recycles its task nodes, but keeps no more of them than its steady state needs:
// after a burst through an unbounded queue, the burst's nodes go back to the GC.
func TestPoolSpareNodesBoundedAfterBurst(t *testing.T) {
	p := NewPool("burst", 1)
	t.Cleanup(func() { shutdown(t, p) })
	hold := make(chan struct{})
	ctx := context.Background()
	if err := p.Submit(ctx, func(context.Context) error { <-hold; return nil }); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	const burst = 5000
	wg.Add(burst)
	for range burst {
		if err := p.Submit(ctx, func(context.Context) error { wg.Done(); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	close(hold)
	wg.Wait()
	p.mu.Lock()
	n := 0
	for s := p.spare; s != nil; s = s.next {
		n++
	}
	p.mu.Unlock()
	if n > 2+1024 {
		t.Errorf("%d spare nodes kept after a burst of %d, want at most %d", n, burst, 2+1024)
	}
}
