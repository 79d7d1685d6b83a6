package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/pumatest"
	"github.com/poolwatch/poolwatch/exporter/tomcattest"
	"github.com/poolwatch/poolwatch/exporter/uwsgitest"
	"github.com/poolwatch/poolwatch/internal/testproc"
)

// scrapeUntil scrapes url until ok accepts the parsed answer (at most 15 s) and returns it
// with its raw body.
func scrapeUntil(t *testing.T, url, what string, ok func(scrape) bool) (scrape, string) {
	t.Helper()
	client := httpClient(nil)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body := get(t, client, url)
		s := parse(t, body)
		if ok(s) {
			return s, body
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s; last scrape:\n%s", what, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pool returns a pool series' value, or -1 when it is absent.
func (s scrape) pool(name, pool string) float64 {
	v, ok := s.value(name, "pool", pool)
	if !ok {
		return -1
	}
	return v
}

// checkDown asserts that, the server gone, the exporter answers poolwatch_up 0 for source and
// no pool series at all, and logs why.
func checkDown(t *testing.T, exp *exporterProc, source string) {
	t.Helper()
	_, body := get(t, httpClient(nil), "http://"+exp.addr+"/metrics")
	s := parse(t, body)
	if up, ok := s.value("poolwatch_up", "source", source); !ok || up != 0 {
		t.Errorf("poolwatch_up{source=%q} = %v (present %v) with the server stopped", source, up, ok)
	}
	if names := s.workerpoolSeries(); len(names) > 0 {
		t.Errorf("pool series with the server stopped: %v", names)
	}
	if !strings.Contains(exp.Log(), "reading target failed") {
		t.Error("no log line says why poolwatch_up is 0")
	}
}

// A real uWSGI of 2 workers × 2 threads and a backlog of 4 through the exporter: 9 slow
// requests show the pool exhausted with a full accept queue (backlog + 1 on Linux), the
// output passes promtool, the pool recovers when they end, and a stopped uWSGI reads up 0.
func TestUWSGIThroughExporter(t *testing.T) {
	srv := uwsgitest.Start(t, uwsgitest.Options{Workers: 2, Threads: 2, Listen: 4})
	exp := startExporter(t, "--uwsgi.scrape-uri="+srv.StatsTarget, "--uwsgi.timeout=2s")
	metrics := "http://" + exp.addr + "/metrics"
	pool := strings.TrimPrefix(srv.StatsTarget, "tcp://")

	srv.Occupy(t, 9)
	s, body := scrapeUntil(t, metrics, "4 busy and 5 queued", func(s scrape) bool {
		return s.pool("workerpool_busy_workers", pool) == 4 && s.pool("workerpool_queued_tasks", pool) == 5
	})
	promtoolCheck(t, body)
	for name, want := range map[string]float64{
		"workerpool_max_workers": 4, "workerpool_workers": 4, "workerpool_max_queued_tasks": 5,
		"workerpool_tasks_submitted_total": -1, "workerpool_saturated_seconds_total": -1,
	} {
		if got := s.pool(name, pool); got != want {
			t.Errorf("%s = %v, want %v (-1: absent)", name, got, want)
		}
	}
	busy := s.pool("workerpool_busy_seconds_total", pool)
	if busy < 0 {
		t.Error("workerpool_busy_seconds_total absent")
	}
	if up, _ := s.value("poolwatch_up", "source", "uwsgi"); up != 1 {
		t.Errorf("poolwatch_up = %v", up)
	}

	srv.Release(t)
	s, _ = scrapeUntil(t, metrics, "the pool idle again", func(s scrape) bool {
		return s.pool("workerpool_busy_workers", pool) == 0 && s.pool("workerpool_queued_tasks", pool) == 0
	})
	// The 9 requests' time, closed now: at least what showed while 4 of them ran.
	if after := s.pool("workerpool_busy_seconds_total", pool); after < busy {
		t.Errorf("workerpool_busy_seconds_total went from %v to %v", busy, after)
	}
	srv.Stop(t)
	checkDown(t, exp, "uwsgi")
}

// A real Puma in cluster mode (2 workers × 2 threads) through the exporter: a pool per
// worker, both exhausted by slow requests, promtool-clean, idle again once they end, and a
// stopped Puma reads up 0.
func TestPumaClusterThroughExporter(t *testing.T) {
	srv := pumatest.Start(t, 2, 2, 2)
	exp := startExporter(t, "--puma.scrape-uri="+srv.StatsURL, "--puma.timeout=2s")
	metrics := "http://" + exp.addr + "/metrics"
	u, err := url.Parse(srv.StatsURL)
	if err != nil {
		t.Fatal(err)
	}
	w0, w1 := u.Host+"/worker-0", u.Host+"/worker-1"
	completed := func(s scrape) float64 {
		return s.pool("workerpool_tasks_completed_total", w0) + s.pool("workerpool_tasks_completed_total", w1)
	}
	// The readiness request may be counted only once its worker next reports (every second
	// here): wait for one more report, so that the count before the load is settled.
	scrapeUntil(t, metrics, "both workers idle", func(s scrape) bool {
		return s.pool("workerpool_busy_workers", w0) == 0 && s.pool("workerpool_busy_workers", w1) == 0
	})
	time.Sleep(1500 * time.Millisecond)
	s, _ := scrapeUntil(t, metrics, "the count before the load", func(scrape) bool { return true })
	before := completed(s)

	srv.OccupyOneByOne(t, 6, 200*time.Millisecond)
	s, body := scrapeUntil(t, metrics, "both workers exhausted", func(s scrape) bool {
		return s.pool("workerpool_busy_workers", w0) == 2 && s.pool("workerpool_busy_workers", w1) == 2
	})
	promtoolCheck(t, body)
	if got := completed(s); got != before {
		t.Errorf("completed requests %v while the requests run or wait, want the %v before them", got, before)
	}
	for _, p := range []string{w0, w1} {
		if s.pool("workerpool_max_workers", p) != 2 || s.pool("workerpool_queued_tasks", p) < 0 ||
			s.pool("workerpool_max_queued_tasks", p) != -1 {
			t.Errorf("pool %s: max %v, queued %v, max queued %v", p, s.pool("workerpool_max_workers", p),
				s.pool("workerpool_queued_tasks", p), s.pool("workerpool_max_queued_tasks", p))
		}
	}

	srv.Release(t)
	// Each worker reports its busy threads and requests_count together: idle, it has counted
	// every request it finished.
	scrapeUntil(t, metrics, "both workers idle, the six requests completed", func(s scrape) bool {
		return s.pool("workerpool_busy_workers", w0) == 0 && s.pool("workerpool_busy_workers", w1) == 0 && completed(s) == before+6
	})
	srv.Stop(t)
	checkDown(t, exp, "puma")
	if strings.Contains(exp.Log(), pumatest.Token) {
		t.Error("the exporter logged Puma's control token")
	}
}

// A real Tomcat (one JVM start) with 4 threads on the application's connector through the
// exporter: 6 slow requests exhaust it, the status connector keeps answering, the output
// passes promtool with no queue series, the pool recovers, and a stopped Tomcat reads up 0.
func TestTomcatThroughExporter(t *testing.T) {
	srv := tomcattest.Start(t, 4)
	target := fmt.Sprintf("http://%s:%s@%s/manager/status?XML=true", tomcattest.User, tomcattest.Password, srv.StatusAddr)
	exp := startExporter(t, "--tomcat.scrape-uri="+target, "--tomcat.timeout=3s")
	metrics := "http://" + exp.addr + "/metrics"

	srv.Occupy(t, 6)
	s, body := scrapeUntil(t, metrics, "4 busy of 4", func(s scrape) bool {
		return s.pool("workerpool_busy_workers", srv.Connector) == 4
	})
	promtoolCheck(t, body)
	for name, want := range map[string]float64{
		"workerpool_max_workers": 4, "workerpool_workers": 4,
		"workerpool_queued_tasks": -1, "workerpool_busy_seconds_total": -1,
	} {
		if got := s.pool(name, srv.Connector); got != want {
			t.Errorf("%s = %v, want %v (-1: absent)", name, got, want)
		}
	}
	if s.pool("workerpool_max_workers", srv.StatusConnector) != 2 {
		t.Errorf("no pool for the status connector %s", srv.StatusConnector)
	}

	srv.Release(t)
	scrapeUntil(t, metrics, "the pool idle again", func(s scrape) bool {
		return s.pool("workerpool_busy_workers", srv.Connector) == 0
	})
	srv.Stop(t)
	checkDown(t, exp, "tomcat")
	if strings.Contains(exp.Log(), tomcattest.Password) {
		t.Error("the exporter logged Tomcat's password")
	}
}

// Targets the sources refuse at start, with the reason.
func TestScrapeURIFlagsRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"puma stop":   {[]string{"--puma.scrape-uri=http://127.0.0.1:9293/stop?token=x"}, "/stats"},
		"uwsgi ftp":   {[]string{"--uwsgi.scrape-uri=ftp://127.0.0.1:1717"}, "tcp://host:port"},
		"tomcat html": {[]string{"--tomcat.scrape-uri=http://127.0.0.1:8081/manager/status"}, "XML"},
		"timeout": {[]string{"--tomcat.scrape-uri=http://127.0.0.1:8081/manager/status?XML=true", "--tomcat.timeout=0s"},
			"timeout must be positive"},
	} {
		t.Run(name, func(t *testing.T) {
			if out := startExporterExpectExit(t, tc.args...); !strings.Contains(out, tc.want) {
				t.Errorf("the exporter's complaint does not say %q:\n%s", tc.want, out)
			}
		})
	}
}

// /probe reads a uWSGI over a unix socket through a module (its own protocol, dialled with
// the module's reader), and refuses a stats socket the module does not allow.
func TestUWSGIProbeOverUnixSocket(t *testing.T) {
	srv := uwsgitest.Start(t, uwsgitest.Options{Workers: 1, Threads: 2, Listen: 8, StatsUnix: true})
	dir := filepath.Dir(strings.TrimPrefix(srv.StatsTarget, "unix://"))
	cfg := writeFile(t, t.TempDir(), "poolwatch.yml", "modules:\n  uwsgi:\n    source: uwsgi\n    timeout: 2s\n"+
		"    target_patterns: ['unix://"+regexp.QuoteMeta(dir)+"/stats\\.sock']\n")
	exp := startExporter(t, "--config.file="+cfg)
	probe := func(target string) (int, string) {
		return get(t, httpClient(nil), "http://"+exp.addr+"/probe?"+url.Values{"module": {"uwsgi"}, "target": {target}}.Encode())
	}
	srv.Occupy(t, 1)
	pool := strings.TrimPrefix(srv.StatsTarget, "unix://")
	s, body := scrapeUntil(t, "http://"+exp.addr+"/probe?"+url.Values{"module": {"uwsgi"}, "target": {srv.StatsTarget}}.Encode(),
		"one busy thread", func(s scrape) bool { return s.pool("workerpool_busy_workers", pool) == 1 })
	promtoolCheck(t, body)
	if s.pool("workerpool_max_workers", pool) != 2 {
		t.Errorf("max workers = %v, want 2", s.pool("workerpool_max_workers", pool))
	}
	if code, _ := probe("unix:///run/other.sock"); code != http.StatusForbidden {
		t.Errorf("a socket the module does not allow: status %d, want 403", code)
	}
	srv.Release(t)
}

// The --puma.scrape-uri client follows no redirect to another action of the control app: a
// real Puma sent to /stop by the target's server is still running afterwards.
func TestPumaFlagTargetRedirectToStopRefused(t *testing.T) {
	srv := pumatest.Start(t, 0, 1, 1)
	redirector := httptest.NewServer(http.RedirectHandler(strings.Replace(srv.StatsURL, "/stats?", "/stop?", 1), http.StatusFound))
	t.Cleanup(redirector.Close)
	// The flag's target, as main makes it: a module of that one target.
	module, err := exporter.NewModule(sources["puma"], redirector.URL+"/stats?token=x", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	target := module.Target(redirector.URL+"/stats?token=x", 2*time.Second)
	if _, err := target.Source.Read(t.Context(), target.Reader, target.URL, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "redirect refused") {
		t.Errorf("read through a redirect to /stop: err %v, want the redirect refused", err)
	}
	time.Sleep(time.Second) // Puma stops gracefully, a moment after /stop answers
	if _, err := testproc.HTTPGet(t.Context(), srv.StatsURL); err != nil {
		t.Errorf("Puma stopped after a read redirected to /stop: %v", err)
	}
}
