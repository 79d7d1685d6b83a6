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

func TestTimeSetStaleGenerations(t *testing.T) {
	var s timeSet
	slot, gen := s.add(10)
	if !s.remove(slot, gen) || s.remove(slot, gen) {
		t.Fatal("a slot must be freed exactly once")
	}
	slot2, gen2 := s.add(20)
	if slot2 != slot || gen2 == gen {
		t.Fatalf("reused slot %d gen %d, want slot %d with a new generation", slot2, gen2, slot)
	}
	if s.remove(slot, gen) {
		t.Error("a stale generation freed the slot's new owner")
	}
	if at, ok := s.oldest(); !ok || at != 20 {
		t.Errorf("oldest = %v %v, want 20", at, ok)
	}
	if s.remove(-1, 1) || s.remove(5, 1) {
		t.Error("out-of-range slots must be refused")
	}
}
