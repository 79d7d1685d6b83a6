package uwsgi

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// The counter through a request that harakiri kills, then a restart of uWSGI.
func TestBusyCounterKeepsWhatItShowed(t *testing.T) {
	var b busyCounters
	now := time.Unix(1_800_000_000, 0)
	for i, step := range []struct {
		what      string
		r         busyReading
		want      float64
		restarted bool
		fell      float64
	}{
		{"first read", busyReading{running: 10, inFlight: 5}, 15, false, 0},
		{"the request runs on", busyReading{running: 10, inFlight: 8}, 18, false, 0},
		{"killed by harakiri: its 8 s never reach running_time", busyReading{running: 10}, 18, false, 8},
		{"later requests add to what was kept", busyReading{running: 12, inFlight: 1}, 21, false, 0},
		{"no change", busyReading{running: 12, inFlight: 1}, 21, false, 0},
		{"uWSGI restarted: running_time fell", busyReading{running: 1}, 1, true, 0},
		{"and counts afresh", busyReading{running: 3, inFlight: 2}, 5, false, 0},
	} {
		s, err := b.take(context.Background(), "tcp://127.0.0.1:1717", now)
		if err != nil {
			t.Fatal(err)
		}
		got, restarted, fell := s.total(step.r)
		s.release()
		if got != step.want || restarted != step.restarted || fell != step.fell {
			t.Errorf("read %d (%s): %v, restarted %v, fell %v; want %v, %v, %v",
				i+1, step.what, got, restarted, fell, step.want, step.restarted, step.fell)
		}
	}
}

// Whatever the reads (running_time never falling, requests in flight coming and going), the
// counter never falls and never runs ahead of running + in flight + what fell.
func TestBusyCounterMonotonic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s busyState
	running, last, fell := 0.0, 0.0, 0.0
	prev := busyReading{}
	for i := range 10_000 {
		running += rng.Float64() * 3
		r := busyReading{running: running, inFlight: rng.Float64() * 20}
		if prev.running+prev.inFlight > r.running+r.inFlight {
			fell += prev.running + prev.inFlight - (r.running + r.inFlight)
		}
		got, _, _ := s.total(r)
		if got < last {
			t.Fatalf("read %d: %v after %v", i, got, last)
		}
		if got > r.running+r.inFlight+fell+1e-6 {
			t.Fatalf("read %d: %v, more than %v + %v fallen", i, got, r.running+r.inFlight, fell)
		}
		last, prev = got, r
	}
}

// Reads of one target take turns; a read that waits gives up with its context, and another
// target does not wait.
func TestBusyCounterTurns(t *testing.T) {
	var b busyCounters
	now := time.Now()
	held, err := b.take(context.Background(), "a", now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := b.take(ctx, "a", now); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second read of a while the first runs: %v, want it to wait until its deadline", err)
	}
	other, err := b.take(context.Background(), "b", now)
	if err != nil {
		t.Fatal(err)
	}
	other.release()

	got := make(chan error)
	go func() {
		s, err := b.take(context.Background(), "a", now)
		if err == nil {
			s.release()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("took a's turn while it was held: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	held.release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// Past maxBusyTargets, the target read least recently loses its state.
func TestBusyCounterForgetsTheOldestTarget(t *testing.T) {
	var b busyCounters
	start := time.Unix(1_800_000_000, 0)
	for i := range maxBusyTargets + 1 {
		s, err := b.take(context.Background(), fmt.Sprint(i), start.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		s.release()
	}
	if len(b.targets) != maxBusyTargets {
		t.Errorf("%d targets kept, want %d", len(b.targets), maxBusyTargets)
	}
	if _, ok := b.targets["0"]; ok {
		t.Error("the target read first is still kept")
	}
	if _, ok := b.targets[fmt.Sprint(maxBusyTargets)]; !ok {
		t.Error("the target read last is not kept")
	}
}
