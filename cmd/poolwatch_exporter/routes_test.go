package main

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter/cherrypytest"
	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/poolwatch/poolwatch/internal/route"
)

// routeSeries returns the route series of pool in a scrape: busy workers and oldest age by
// route.
func (s scrape) routeSeries(pool string) (busy, oldest map[string]float64) {
	busy, oldest = map[string]float64{}, map[string]float64{}
	for name, into := range map[string]map[string]float64{contract.RouteBusyWorkers: busy, contract.RouteOldestRunning: oldest} {
		for _, m := range s[name].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["pool"] == pool {
				into[labels["route"]] = m.GetGauge().GetValue()
			}
		}
	}
	return busy, oldest
}

// A slow route exhausts a real CherryPy: three requests on /slow/users/<id> (three ids, one
// route) and one on /slow take its 4 threads, two more wait. Through /probe, the exporter
// names the route holding the workers, with the right count and ages that grow with time.
func TestRoutesThroughExporter(t *testing.T) {
	const threads = 4
	app := cherrypytest.Start(t, threads)
	cfg := writeFile(t, t.TempDir(), "poolwatch.yml", "modules:\n  cherrypy:\n    source: cherrypy\n"+
		"    targets: ['"+app.StatsURL+"']\n"+
		"    routes:\n      rewrite: [{match: '^/slow/users/me$', replacement: '/slow/users/:id'}]\n")
	exp := startExporter(t, "--config.file="+cfg)
	probeURL := "http://" + exp.addr + "/probe?" + url.Values{"module": {"cherrypy"}, "target": {app.StatsURL}}.Encode()
	client := httpClient(nil)
	pool := net.JoinHostPort("127.0.0.1", itoa(app.Port))

	sent := time.Now()
	for _, id := range []string{"42", "me", "123e4567-e89b-12d3-a456-426614174000"} {
		app.Hold(t, 1, "/slow/users/"+id+"?seconds=60")
	}
	app.Hold(t, 1, "/slow?seconds=60")
	app.Hold(t, 2, "/slow/queued?seconds=60")

	var busy, oldest map[string]float64
	var body string
	deadline := time.Now().Add(15 * time.Second)
	for {
		before := time.Since(sent).Seconds()
		_, body = get(t, client, probeURL)
		after := time.Since(sent).Seconds()
		s := parse(t, body)
		busy, oldest = s.routeSeries(pool)
		// Judged once every busy thread's request is named: a thread that has just taken its
		// connection is busy before cpstats knows the request's path, and its route is not
		// counted yet (CI saw GET /slow/users/:id at 2 of 3 with the threads all busy).
		if b, _ := s.value(contract.BusyWorkers, "pool", pool); b == threads && len(busy) == 2 && busy["GET /slow/users/:id"]+busy["GET /slow"] == threads {
			want := map[string]float64{"GET /slow/users/:id": 3, "GET /slow": 1}
			for r, n := range want {
				if busy[r] != n {
					t.Errorf("route %q holds %v workers, want %v (all: %v)", r, busy[r], n, busy)
				}
				if oldest[r] > after || oldest[r] < before-1 {
					t.Errorf("route %q: oldest %v s, want within [%v, %v]", r, oldest[r], before-1, after)
				}
			}
			promtoolCheck(t, body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw the 4 held requests as routes; last probe:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1100 * time.Millisecond)
	_, body = get(t, client, probeURL)
	_, later := parse(t, body).routeSeries(pool)
	if r := "GET /slow/users/:id"; later[r] < oldest[r]+1 {
		t.Errorf("route %q: oldest went from %v to %v over 1.1 s", r, oldest[r], later[r])
	}
}

// Cardinality stays bounded: 1,000 requests on 1,000 distinct paths, 40 at a time on a
// 40-thread CherryPy, while the exporter is scraped. No scrape shows more than the default
// 20 routes plus "other" for the pool, and every running request is counted.
func TestRoutesBoundedThroughExporter(t *testing.T) {
	const threads, paths, clients = 40, 1000, 40
	app := cherrypytest.Start(t, threads)
	exp := startExporter(t, "--cherrypy.scrape-uri="+app.StatsURL)
	metricsURL := "http://" + exp.addr + "/metrics"
	pool := net.JoinHostPort("127.0.0.1", itoa(app.Port))

	work := make(chan int)
	errs := make(chan error, paths)
	var wg sync.WaitGroup
	load := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				resp, err := load.Get(fmt.Sprintf("http://127.0.0.1:%d/slow/r%04d?seconds=0.3", app.Port, i))
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("path %d: %s", i, resp.Status)
					}
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		for i := range paths {
			work <- i
		}
		close(work)
		wg.Wait()
		close(done)
	}()

	client := httpClient(nil)
	scrapes, folded, mostSeries := 0, 0, 0
	seen := map[string]bool{}
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(200 * time.Millisecond):
		}
		_, body := get(t, client, metricsURL)
		s := parse(t, body)
		busy, oldest := s.routeSeries(pool)
		scrapes++
		if len(busy) > route.DefaultMax+1 || len(oldest) != len(busy) {
			t.Fatalf("%d route series (%d ages) for one pool, want at most %d:\n%v", len(busy), len(oldest), route.DefaultMax+1, busy)
		}
		mostSeries = max(mostSeries, len(busy))
		sum := 0.0
		for r, n := range busy {
			sum += n
			seen[r] = true
			if r != route.Other && !strings.HasPrefix(r, "GET /slow/r") {
				t.Errorf("unexpected route %q", r)
			}
		}
		if b, _ := s.value(contract.BusyWorkers, "pool", pool); sum > b {
			t.Errorf("routes hold %v workers, more than the %v busy", sum, b)
		}
		if busy[route.Other] > 0 {
			folded++
		}
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	load.CloseIdleConnections()
	t.Logf("%d scrapes, at most %d route series in one, %d with routes folded into %q, %d distinct routes seen",
		scrapes, mostSeries, folded, route.Other, len(seen))
	if folded == 0 || mostSeries != route.DefaultMax+1 {
		t.Errorf("the load never had more routes running than the bound (%d scrapes, at most %d series): the test proves nothing", scrapes, mostSeries)
	}
}
