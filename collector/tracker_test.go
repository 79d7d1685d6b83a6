package collector

import (
	"math"
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

// TestTicketMisuseIsIgnored: calls out of order, twice, or on a copy cannot double-count.
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
	qc.Start() // the copy's slot was freed by the reject: ignored
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

func TestTrackerSetWorkers(t *testing.T) {
	tr := NewTracker("lazy", 8)
	tr.SetWorkers(3)
	if got := gather(t, tr).value(t, contract.Workers); got != 3 {
		t.Errorf("workers = %v, want 3", got)
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
