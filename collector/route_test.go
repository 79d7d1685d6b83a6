package collector

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/poolwatch/poolwatch/internal/route"
)

// routes returns a scrape's route series: busy workers and oldest age by route.
func (s scrape) routes() (busy, oldest map[string]float64) {
	busy, oldest = map[string]float64{}, map[string]float64{}
	for name, into := range map[string]map[string]float64{contract.RouteBusyWorkers: busy, contract.RouteOldestRunning: oldest} {
		for _, m := range s[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == contract.LabelRoute {
					into[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return busy, oldest
}

// held serves requests through h until release is closed, and waits until n of them run.
type held struct {
	release chan struct{}
	running sync.WaitGroup
	done    sync.WaitGroup
}

func holdHandler() (*held, http.Handler) {
	h := &held{release: make(chan struct{})}
	return h, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		h.running.Done()
		<-h.release
	})
}

// serve sends a request for each path through handler, without the network, and returns once
// every one of them runs.
func (h *held) serve(handler http.Handler, paths ...string) {
	h.running.Add(len(paths))
	h.done.Add(len(paths))
	for _, p := range paths {
		go func() {
			defer h.done.Done()
			handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
		}()
	}
	h.running.Wait()
}

func (h *held) finish() { close(h.release); h.done.Wait() }

// A Limiter wrapped around the handlers of a ServeMux labels each request with the pattern it
// matched: one slow route holding most of the slots is named, with its count and age.
func TestLimiterRoutesByPattern(t *testing.T) {
	clock := newFakeClock()
	l := NewLimiter("api", 8, WithClock(clock.Now))
	h, slow := holdHandler()
	mux := http.NewServeMux()
	mux.Handle("GET /users/{id}", l.Wrap(slow))
	mux.Handle("GET /health", l.Wrap(slow))
	h.serve(mux, "/users/1", "/users/2?x=y")
	clock.Advance(3 * time.Second)
	h.serve(mux, "/users/3", "/health")
	clock.Advance(time.Second)

	s := gather(t, l)
	busy, oldest := s.routes()
	want := map[string]float64{"GET /users/{id}": 3, "GET /health": 1}
	if fmt.Sprint(busy) != fmt.Sprint(want) {
		t.Errorf("route busy = %v, want %v", busy, want)
	}
	if oldest["GET /users/{id}"] != 4 || oldest["GET /health"] != 1 {
		t.Errorf("route oldest = %v, want 4 s and 1 s", oldest)
	}
	if got := s.value(t, contract.BusyWorkers); got != 4 {
		t.Errorf("busy = %v", got)
	}
	h.finish()
	if busy, _ := gather(t, l).routes(); len(busy) != 0 {
		t.Errorf("route series after every request ended: %v", busy)
	}
}

// A Limiter that wraps the whole mux sees no pattern yet; MuxRoute finds it, and PathRoute
// names requests that have no pattern at all.
func TestLimiterRouteFunctions(t *testing.T) {
	h, slow := holdHandler()
	mux := http.NewServeMux()
	mux.Handle("POST /orders/{id}/pay", slow)
	byMux := NewLimiter("mux", 4, WithRoute(MuxRoute(mux)))
	byPath := NewLimiter("path", 4, WithRoute(PathRoute))
	plain := NewLimiter("plain", 4)
	for _, l := range []*Limiter{byMux, byPath, plain} {
		h.running.Add(1)
		h.done.Add(1)
		go func() {
			defer h.done.Done()
			r := httptest.NewRequest(http.MethodPost, "/orders/7/pay?now=1", nil)
			l.Wrap(mux).ServeHTTP(httptest.NewRecorder(), r)
		}()
	}
	h.running.Wait()
	defer h.finish()
	for l, want := range map[*Limiter]string{byMux: "POST /orders/{id}/pay", byPath: "POST /orders/:id/pay"} {
		if busy, _ := gather(t, l).routes(); len(busy) != 1 || busy[want] != 1 {
			t.Errorf("%s: routes %v, want %q", l.Name(), busy, want)
		}
	}
	// Without a pattern at its level nor a function, a Limiter exposes no route series.
	if busy, _ := gather(t, plain).routes(); len(busy) != 0 {
		t.Errorf("plain limiter: routes %v", busy)
	}
}

// Cardinality stays bounded: 1,000 requests on 1,000 distinct paths running at once give the
// 20 routes holding the most workers and "other", and every request is counted.
func TestLimiterRoutesBounded(t *testing.T) {
	const n = 1000
	l := NewLimiter("wide", n, WithRoute(PathRoute))
	h, slow := holdHandler()
	paths := make([]string, n)
	for i := range paths {
		paths[i] = fmt.Sprintf("/files/f%04d", i)
		if i < 30 {
			paths[i] = "/hot" // the route holding the most workers
		}
	}
	h.serve(l.Wrap(slow), paths...)
	defer h.finish()
	s := gather(t, l)
	busy, oldest := s.routes()
	if len(busy) != route.DefaultMax+1 || len(oldest) != len(busy) {
		t.Fatalf("%d route series (%d ages), want %d", len(busy), len(oldest), route.DefaultMax+1)
	}
	sum := 0.0
	for _, v := range busy {
		sum += v
	}
	if sum != n || busy["GET /hot"] != 30 || busy[route.Other] != n-30-(route.DefaultMax-1) {
		t.Errorf("routes hold %v workers (want %d), /hot %v, other %v", sum, n, busy["GET /hot"], busy[route.Other])
	}
	checkInvariants(t, s, nil, true)
}

// Kinds on a Tracker and a Pool: the series follow the tasks of each kind, with WithMaxRoutes
// as the bound, and tasks without a kind are not in them.
func TestKinds(t *testing.T) {
	clock := newFakeClock()
	tr := NewTracker("jobs", 10, WithClock(clock.Now), WithMaxRoutes(1))
	resize, export := tr.Kind("resize"), tr.Kind("export")
	var started []Ticket
	for _, k := range []TrackerKind{resize, resize, export} {
		tk := k.Submit()
		tk.Start()
		started = append(started, tk)
		clock.Advance(time.Second)
	}
	plain := tr.Submit()
	plain.Start()
	busy, oldest := gather(t, tr).routes()
	if fmt.Sprint(busy) != fmt.Sprint(map[string]float64{"resize": 2, route.Other: 1}) || oldest["resize"] != 3 || oldest[route.Other] != 1 {
		t.Errorf("routes %v %v, want resize 2 (3 s) and other 1 (1 s)", busy, oldest)
	}
	for _, k := range started {
		k.Finish(OutcomeSuccess)
	}
	// A slot reused by a task without a kind has none.
	again := tr.Submit()
	again.Start()
	if busy, _ := gather(t, tr).routes(); len(busy) != 0 {
		t.Errorf("routes after the kinds ended: %v", busy)
	}
	plain.Finish(OutcomeSuccess)
	again.Finish(OutcomeSuccess)

	p := NewPool("pool", 2)
	release, running := make(chan struct{}), make(chan struct{}, 2)
	task := func(context.Context) error { running <- struct{}{}; <-release; return nil }
	thumbs := p.Kind("thumb")
	if err := thumbs.TrySubmit(task); err != nil {
		t.Fatal(err)
	}
	if err := thumbs.Submit(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	<-running
	<-running
	if busy, _ := gather(t, p).routes(); len(busy) != 1 || busy["thumb"] != 2 {
		t.Errorf("pool routes %v, want thumb 2", busy)
	}
	close(release)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A kind's name becomes a label value: invalid UTF-8 is replaced and the length bounded.
func TestKindNames(t *testing.T) {
	tr := NewTracker("names", 2)
	k := tr.Kind("bad\xff" + strings.Repeat("é", route.MaxRoute))
	tk := k.Submit()
	tk.Start()
	defer tk.Finish(OutcomeSuccess)
	busy, _ := gather(t, tr).routes()
	for r := range busy {
		if len(r) > route.MaxRoute || !strings.HasPrefix(r, "bad\uFFFD") {
			t.Errorf("route %q (%d bytes)", r, len(r))
		}
	}
}

// Kinds cost no allocation either.
func TestKindHotPathAllocatesNothing(t *testing.T) {
	tr := NewTracker("allocs", 4)
	k := tr.Kind("resize")
	allocs := testing.AllocsPerRun(1000, func() {
		tk := k.Submit()
		tk.Start()
		tk.Finish(OutcomeSuccess)
	})
	if allocs != 0 {
		t.Errorf("%v allocs per task of a kind, want 0", allocs)
	}
}

// BenchmarkTrackerTaskKind is BenchmarkTrackerTask for tasks of a kind: the price of the
// route series on the hot path of those who use them.
func BenchmarkTrackerTaskKind(b *testing.B) {
	tr := NewTracker("bench", benchWorkers)
	k := tr.Kind("resize")
	b.ReportAllocs()
	for b.Loop() {
		tk := k.Submit()
		tk.Start()
		tk.Finish(OutcomeSuccess)
	}
}
