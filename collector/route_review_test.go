package collector

import (
	"context"
	"net/http"
	"net/http/httptest"
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

// Tasks of a kind on a Pool allocate nothing either, once the slot tables have their size.
func TestPoolKindHotPathAllocatesNothing(t *testing.T) {
	p := NewPool("kind-allocs", 2, WithQueueSize(1024))
	t.Cleanup(func() { shutdown(t, p) })
	k := p.Kind("thumb")
	var wg sync.WaitGroup
	task := func(context.Context) error { wg.Done(); return nil }
	wg.Add(256)
	for range 256 {
		for k.TrySubmit(task) != nil {
		}
	}
	wg.Wait()
	allocs := testing.AllocsPerRun(200, func() {
		wg.Add(64)
		for range 64 {
			for k.TrySubmit(task) != nil {
			}
		}
		wg.Wait()
	})
	if allocs != 0 {
		t.Errorf("Pool.Kind: %v allocs per 64 tasks, want 0", allocs)
	}
}

// A Limiter labelling requests by their pattern allocates no more per request than one whose
// requests have no pattern.
func TestLimiterPatternAllocatesNothingMore(t *testing.T) {
	l := NewLimiter("limiter-allocs", 2)
	h := l.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	w := httptest.NewRecorder()
	plain := httptest.NewRequest(http.MethodGet, "/users/1", nil)
	routed := httptest.NewRequest(http.MethodGet, "/users/1", nil)
	routed.Pattern = "GET /users/{id}"
	for range 64 {
		h.ServeHTTP(w, routed)
	}
	base := testing.AllocsPerRun(500, func() { h.ServeHTTP(w, plain) })
	withPattern := testing.AllocsPerRun(500, func() { h.ServeHTTP(w, routed) })
	if withPattern > base {
		t.Errorf("%v allocs per request with a pattern, %v without", withPattern, base)
	}
	t.Logf("allocs per request: %v without a pattern, %v with one", base, withPattern)
}
