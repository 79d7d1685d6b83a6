package collector

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// A Pool's tasks of kind "" have no kind, as a Tracker's do: they must not expose a route
// series with an empty route (a series without the label, beside the others).
func TestPoolKindEmptyHasNoRoute(t *testing.T) {
	p := NewPool("empty-kind", 1)
	release, running := make(chan struct{}), make(chan struct{}, 1)
	task := func(context.Context) error { running <- struct{}{}; <-release; return nil }
	if err := p.Kind("").TrySubmit(task); err != nil {
		t.Fatal(err)
	}
	<-running
	s := gather(t, p)
	if mf, ok := s[contract.RouteBusyWorkers]; ok {
		t.Errorf("a task of kind \"\" exposes %d route series: %v", len(mf.GetMetric()), mf.GetMetric())
	}
	close(release)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Under concurrency, with every task of a kind, each scrape's route series sum to its
// busy_workers, and no route series reads 0.
func TestKindsSumToBusyUnderLoad(t *testing.T) {
	tr := NewTracker("kinds-load", 8, WithMaxRoutes(2))
	kinds := []TrackerKind{tr.Kind("a"), tr.Kind("b"), tr.Kind("c"), tr.Kind("d")}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				k := kinds[(g+i)%len(kinds)].Submit()
				k.Start()
				k.Finish(OutcomeSuccess)
			}
		})
	}
	for range 300 {
		s := gather(t, tr)
		busy := s.value(t, contract.BusyWorkers)
		routes, _ := s.routes()
		sum := 0.0
		for r, v := range routes {
			if v <= 0 {
				t.Errorf("route %q reads %v", r, v)
			}
			sum += v
		}
		if sum != busy || len(routes) > 3 {
			t.Fatalf("routes %v sum to %v, busy_workers %v", routes, sum, busy)
		}
	}
	stop.Store(true)
	wg.Wait()
}
