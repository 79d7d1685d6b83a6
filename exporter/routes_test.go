package exporter

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/poolwatch/poolwatch/internal/route"
)

func TestRoutesConfig(t *testing.T) {
	dir := t.TempDir()
	sources := testSources
	load := func(routes string) (*Config, error) {
		path := filepath.Join(dir, "c.yml")
		cfg := "modules:\n  m:\n    source: fake\n    targets: ['http://127.0.0.1:1/']\n" + routes
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(path, sources)
	}
	cfg, err := load("    routes:\n      max: 3\n      rewrite:\n      - {match: '^/static/.*', replacement: /static}\n")
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Modules["m"].routes
	if o.Max != 3 || o.Normalizer.Path("/static/a.css") != "/static" {
		t.Errorf("routes options %+v", o)
	}
	for _, bad := range []string{
		"    routes:\n      max: -1\n",
		"    routes:\n      rewrite: [{match: '('}]\n",
		"    routes:\n      rewrite: [{replacement: x}]\n",
		"    routes:\n      maximum: 3\n",
	} {
		if _, err := load(bad); err == nil || !strings.Contains(err.Error(), "m") {
			t.Errorf("config %q accepted (err %v)", bad, err)
		}
	}
}

func TestRoutesBusyBound(t *testing.T) {
	reqs := []Request{{Method: "GET", Target: "/a", AgeSeconds: 1}, {Method: "GET", Target: "/a/7", AgeSeconds: 2}}
	// 2 running requests on 1 busy worker: the younger one is the one the busy count missed.
	got, dropped, err := Routes(reqs, 1, RouteOptions{})
	if err != nil || dropped != 1 || len(got) != 1 || got[0] != (route.Stat{Route: "GET /a/:id", Busy: 1, Oldest: 2}) {
		t.Errorf("Routes on 1 busy = %+v, %d dropped, %v", got, dropped, err)
	}
	got, dropped, err = Routes(reqs, 2, RouteOptions{})
	if err != nil || dropped != 0 || len(got) != 2 {
		t.Fatalf("Routes = %+v, %d, %v", got, dropped, err)
	}
	for _, age := range []float64{-1, math.Inf(1), math.NaN()} {
		if _, _, err := Routes([]Request{{Target: "/", AgeSeconds: age}}, 1, RouteOptions{}); err == nil {
			t.Errorf("age %v accepted", age)
		}
	}
}

func TestCollectorRouteSeries(t *testing.T) {
	p := validPool() // 2 busy workers
	p.Running = []Request{{Method: "GET", Target: "/users/7?x", AgeSeconds: 1.5}, {Method: "GET", Target: "/users/8", AgeSeconds: 0.5}}
	src := &fakeSource{pools: []Pool{p}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(context.Background(), Target{Source: src, URL: "http://x", Timeout: time.Second}, discard()))
	want := `
# HELP workerpool_route_busy_workers Workers running a task (a request) of this route now; routes beyond the top ones are summed into route "other".
# TYPE workerpool_route_busy_workers gauge
workerpool_route_busy_workers{pool="127.0.0.1:8080",route="GET /users/:id"} 2
# HELP workerpool_route_oldest_running_task_age_seconds How long the oldest running task (request) of this route has run so far.
# TYPE workerpool_route_oldest_running_task_age_seconds gauge
workerpool_route_oldest_running_task_age_seconds{pool="127.0.0.1:8080",route="GET /users/:id"} 1.5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), contract.RouteBusyWorkers, contract.RouteOldestRunning); err != nil {
		t.Fatal(err)
	}
	// A bad age leaves the route series out, and the pool's other series stay.
	p.Running = append(p.Running, Request{Method: "GET", Target: "/", AgeSeconds: -1})
	src.pools = []Pool{p}
	if got := gather(t, src); strings.Contains(got, "route") || !strings.Contains(got, contract.BusyWorkers) {
		t.Errorf("with a negative age:\n%s", got)
	}
}

// The shipped example's rewrite rules do what its comments say.
func TestShippedExampleRoutes(t *testing.T) {
	cfg, err := LoadConfig("../examples/cherrypy/poolwatch_exporter.yml", testSources)
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Modules["cherrypy"].routes.Normalizer
	for in, want := range map[string]string{
		"/static/css/site.css?v=2":  "GET /static",
		"/shop/books/item/go-book":  "GET /shop/:shop/item/:slug",
		"/users/42/orders?page=3":   "GET /users/:id/orders",
		"/slow/reports/2026/11?x=y": "GET /slow/reports/:id/:id",
	} {
		if got := n.Route("GET", in); got != want {
			t.Errorf("route of GET %s = %q, want %q", in, got, want)
		}
	}
}
