package exporter

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Reads of one target take turns; a read that waits gives up with its context, and another
// target does not wait. The state is the target's own, kept from one turn to the next.
func TestTargetStatesTurns(t *testing.T) {
	var states TargetStates[int]
	held, release, err := states.Take(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	*held = 7
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if s, rel, err := states.Take(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) || s != nil {
		t.Fatalf("second read of a while the first runs: %v, %v; want it to wait until its deadline", s, err)
	} else {
		rel() // a no-op, safe to defer whatever Take returned
	}
	other, releaseOther, err := states.Take(context.Background(), "b")
	if err != nil || *other != 0 {
		t.Fatalf("b: %v, %v", other, err)
	}
	releaseOther()

	got := make(chan error)
	go func() {
		s, rel, err := states.Take(context.Background(), "a")
		if err == nil {
			if *s != 7 {
				err = fmt.Errorf("a's state is %d, want the 7 its last turn left", *s)
			}
			rel()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("took a's turn while it was held: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	release()
	release() // a second call must not take back the turn the goroutine now holds
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if _, rel, err := states.Take(context.Background(), "a"); err != nil {
		t.Fatal(err)
	} else {
		rel()
	}
}

// Past MaxTargetStates a new target gets no state, and no target loses its own.
func TestTargetStatesBoundsItsTargets(t *testing.T) {
	var states TargetStates[int]
	for i := range MaxTargetStates + 1 {
		s, release, err := states.Take(context.Background(), fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		if (s == nil) != (i == MaxTargetStates) {
			t.Fatalf("target %d: state %v", i, s)
		}
		if s != nil {
			*s = i + 1
		}
		release()
	}
	if s, release, _ := states.Take(context.Background(), "0"); s == nil || *s != 1 {
		t.Errorf("the first target lost its state: %v", s)
	} else {
		release()
	}
}
