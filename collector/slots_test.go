package collector

import (
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// A freed slot is reused by a newer task, so the oldest task is not the one in the first slot.
func TestOldestRunningFollowsReusedSlots(t *testing.T) {
	clk := newFakeClock()
	tr := NewTracker("reuse", 3, WithClock(clk.Now))
	a := tr.Submit()
	a.Start() // t=0, slot 0
	clk.Advance(time.Second)
	b := tr.Submit()
	b.Start() // t=1, slot 1
	clk.Advance(time.Second)
	a.Finish(OutcomeSuccess) // slot 0 freed
	c := tr.Submit()
	c.Start() // t=2, reuses slot 0
	clk.Advance(time.Second)
	if got := gather(t, tr).value(t, contract.OldestRunningAgeSecs); !near(got, 2) {
		t.Errorf("oldest running = %v, want 2 (b, in slot 1)", got)
	}
	b.Finish(OutcomeSuccess)
	c.Finish(OutcomeSuccess)
	if got := gather(t, tr).value(t, contract.OldestRunningAgeSecs); got != 0 {
		t.Errorf("oldest running = %v with nothing running, want 0", got)
	}
}

// A ticket names its slot by generation: once its task has ended and a newer task reuses the
// slot, the old ticket and all its copies are stale and cannot touch the new task.
func TestStaleTicketCannotTouchReusedSlot(t *testing.T) {
	tr := NewTracker("stale", 1)
	old := tr.Submit()
	stale := old
	if !old.Reject(RejectedTimeout) || stale.Reject(RejectedTimeout) {
		t.Fatal("a task must be rejected exactly once, whichever copy asks")
	}
	var reused Ticket
	for range 2 * len(tr.shards) { // every shard, so that one of them reuses old's slot
		k := tr.Submit()
		if k.ref == old.ref {
			reused = k
			break
		}
		k.Reject(RejectedCanceled)
	}
	if reused.tr == nil || reused.gen == old.gen {
		t.Fatalf("no new task took the old slot with a new generation (old %v, new %v)", old, reused)
	}
	if stale.Start() || stale.Reject(RejectedClosed) {
		t.Error("a stale ticket acted on the task that reused its slot")
	}
	if !reused.Start() || !reused.Finish(OutcomeSuccess) {
		t.Error("the slot's new task could not run")
	}
	s := gather(t, tr)
	checkInvariants(t, s, nil, true)
	if got := s.value(t, contract.TasksCompletedTotal); got != 1 {
		t.Errorf("completed = %v, want 1", got)
	}
}
