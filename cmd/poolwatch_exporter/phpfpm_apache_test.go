package main

import (
	"fmt"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter/apachetest"
	"github.com/poolwatch/poolwatch/exporter/phpfpmtest"
	"github.com/poolwatch/poolwatch/internal/testproc"
)

// waitScrape scrapes url every 100 ms until ok accepts the scrape (at most 10 s).
func waitScrape(t *testing.T, url, what string, ok func(scrape) bool) (scrape, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, httpClient(nil), url)
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

// A real PHP-FPM, static pool of 3, status read over FastCGI from pm.status_listen: 3 slow
// requests take every child and 2 wait in the listen queue; the exporter shows the pool
// exhausted with its queue, then recovered; once PHP-FPM is gone, poolwatch_up 0 and no pool
// series, within the timeout.
func TestPHPFPMExhaustionThroughExporter(t *testing.T) {
	const children, backlog = 3, 4
	srv := phpfpmtest.Start(t, phpfpmtest.Options{MaxChildren: children, Backlog: backlog})
	exp := startExporter(t, "--phpfpm.scrape-uri="+srv.StatusTarget(children), "--phpfpm.timeout=2s")
	url := "http://" + exp.addr + "/metrics"
	pool := []string{"pool", phpfpmtest.Pool}

	srv.Occupy(t, children+2, 2)
	s, body := waitScrape(t, url, "3 busy and 2 queued", func(s scrape) bool {
		busy, _ := s.value("workerpool_busy_workers", pool...)
		q, _ := s.value("workerpool_queued_tasks", pool...)
		return busy == children && q == 2
	})
	promtoolCheck(t, body)
	for name, v := range map[string]float64{
		"workerpool_max_workers": children, "workerpool_workers": children,
		"workerpool_max_queued_tasks": backlog + 1,
	} {
		if got, ok := s.value(name, pool...); !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
	if up, _ := s.value("poolwatch_up", "source", "phpfpm"); up != 1 {
		t.Errorf("poolwatch_up = %v", up)
	}
	if age, ok := s.value("workerpool_oldest_running_task_age_seconds", pool...); !ok || age <= 0 {
		t.Errorf("oldest running age %v (present %v)", age, ok)
	}
	completed1, _ := s.value("workerpool_tasks_completed_total", append(pool, "outcome", "success")...)

	s, _ = waitScrape(t, url, "the pool idle again", func(s scrape) bool {
		busy, _ := s.value("workerpool_busy_workers", pool...)
		q, _ := s.value("workerpool_queued_tasks", pool...)
		return busy == 0 && q == 0
	})
	if c, _ := s.value("workerpool_tasks_completed_total", append(pool, "outcome", "success")...); c < completed1+children+2 {
		t.Errorf("completed went from %v to %v, want the %d requests added", completed1, c, children+2)
	}

	srv.Stop(t)
	start := time.Now()
	_, body = get(t, httpClient(nil), url)
	s = parse(t, body)
	if up, ok := s.value("poolwatch_up", "source", "phpfpm"); !ok || up != 0 {
		t.Errorf("poolwatch_up = %v (present %v) with PHP-FPM stopped", up, ok)
	}
	if names := s.workerpoolSeries(); len(names) > 0 {
		t.Errorf("pool series after PHP-FPM stopped: %v", names)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("scrape of a dead target took %v", time.Since(start))
	}
}

// A real Apache httpd (event MPM, 3 threads): with 2 slow requests the status request takes
// the last worker and the exporter shows busy = max; with 3, the status page cannot be
// answered and poolwatch_up is 0 with no pool series; after the requests, busy is back to the
// status request alone; once httpd is gone, poolwatch_up 0 again.
func TestApacheExhaustionThroughExporter(t *testing.T) {
	const workers = 3
	srv := apachetest.Start(t, apachetest.Options{MPM: "event", Workers: workers})
	exp := startExporter(t, "--apache.scrape-uri="+srv.StatusURL+"?auto", "--apache.timeout=1s")
	url := "http://" + exp.addr + "/metrics"
	pool := []string{"pool", srv.Addr}

	srv.Occupy(t, workers-1, 3)
	s, body := waitScrape(t, url, "every worker busy", func(s scrape) bool {
		busy, _ := s.value("workerpool_busy_workers", pool...)
		return busy == workers
	})
	promtoolCheck(t, body)
	for name, v := range map[string]float64{"workerpool_max_workers": workers, "workerpool_workers": workers} {
		if got, ok := s.value(name, pool...); !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
	if _, ok := s.value("workerpool_queued_tasks", pool...); ok {
		t.Error("a queue series for Apache, which does not measure its queue")
	}
	if _, ok := s.value("workerpool_tasks_completed_total", append(pool, "outcome", "success")...); !ok {
		t.Error("no completed count")
	}

	srv.Occupy(t, 1, 2)
	s, body = waitScrape(t, url, "the status page silent", func(s scrape) bool {
		up, _ := s.value("poolwatch_up", "source", "apache")
		return up == 0
	})
	if names := s.workerpoolSeries(); len(names) > 0 {
		t.Errorf("pool series while the status page was silent: %v", names)
	}
	promtoolCheck(t, body)

	waitScrape(t, url, "the pool recovered", func(s scrape) bool {
		busy, _ := s.value("workerpool_busy_workers", pool...)
		return busy == 1
	})

	srv.Stop(t)
	_, body = get(t, httpClient(nil), url)
	s = parse(t, body)
	if up, ok := s.value("poolwatch_up", "source", "apache"); !ok || up != 0 {
		t.Errorf("poolwatch_up = %v (present %v) with httpd stopped", up, ok)
	}
	if names := s.workerpoolSeries(); len(names) > 0 {
		t.Errorf("pool series after httpd stopped: %v", names)
	}
	if !strings.Contains(exp.Log(), "reading target failed") {
		t.Error("no log line says why poolwatch_up is 0")
	}
}

// A target without a capacity is refused at start, not scraped as a guess.
func TestPHPFPMTargetWithoutCapacityIsRefused(t *testing.T) {
	exp := startExporterExpectExit(t, "--phpfpm.scrape-uri=fastcgi://127.0.0.1:9000/status")
	if !strings.Contains(exp, "max_children") {
		t.Errorf("the exporter's complaint does not name max_children:\n%s", exp)
	}
}

// startExporterExpectExit runs the exporter with args, expects it to exit within 10 s (a
// refused flag) and returns its output.
func startExporterExpectExit(t *testing.T, args ...string) string {
	t.Helper()
	p := testproc.Start(t, testproc.Spec{Name: "exporter", Path: binary,
		Args: append([]string{"--web.listen-address=" + testproc.HostPort(testproc.FreePort(t))}, args...)})
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatalf("the exporter kept running with %v", args)
	}
	if err := p.Running(); !strings.Contains(fmt.Sprint(err), "exit status 1") {
		t.Errorf("exporter ended with %v, want exit status 1", err)
	}
	return p.Log()
}

// /probe reads a PHP-FPM target over FastCGI when a module allows it, and refuses one it does
// not (another capacity is another target).
func TestPHPFPMProbe(t *testing.T) {
	srv := phpfpmtest.Start(t, phpfpmtest.Options{MaxChildren: 2, Backlog: 8})
	target := srv.StatusTarget(2)
	config := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(config, []byte("modules:\n  phpfpm:\n    source: phpfpm\n    targets: ['"+target+"']\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exp := startExporter(t, "--config.file="+config)
	probe := "http://" + exp.addr + "/probe?module=phpfpm&target="
	code, body := get(t, httpClient(nil), probe+neturl.QueryEscape(target))
	s := parse(t, body)
	if up, _ := s.value("poolwatch_up", "source", "phpfpm"); code != 200 || up != 1 {
		t.Fatalf("probe: %d, poolwatch_up %v\n%s", code, up, body)
	}
	if max, _ := s.value("workerpool_max_workers", "pool", phpfpmtest.Pool); max != 2 {
		t.Errorf("max_workers %v, want 2", max)
	}
	if code, _ := get(t, httpClient(nil), probe+neturl.QueryEscape(srv.StatusTarget(20))); code != 403 {
		t.Errorf("a target the module does not list: %d, want 403", code)
	}
}

// Two single-target flags would need two targets on one /metrics: refused, pointing to /probe.
func TestTwoScrapeURIsAreRefused(t *testing.T) {
	out := startExporterExpectExit(t, "--cherrypy.scrape-uri=http://127.0.0.1:8081/cpstats/data",
		"--apache.scrape-uri=http://127.0.0.1/server-status?auto")
	if !strings.Contains(out, "config.file") {
		t.Errorf("the exporter's complaint does not point to --config.file:\n%s", out)
	}
}

// A status read through /probe leaves no connection open behind it: with prefork an idle
// keep-alive connection holds a whole worker until KeepAliveTimeout (5 s by default, 30 s
// here), which takes it from the pool the exporter measures and counts it busy ("K").
func TestApacheProbeHoldsNoWorker(t *testing.T) {
	srv := apachetest.Start(t, apachetest.Options{MPM: "prefork", Workers: 2, Extra: "KeepAlive On\nKeepAliveTimeout 30\n"})
	target := srv.StatusURL + "?auto"
	config := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(config, []byte("modules:\n  apache:\n    source: apache\n    targets: ['"+target+"']\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exp := startExporter(t, "--config.file="+config)
	code, body := get(t, httpClient(nil), "http://"+exp.addr+"/probe?module=apache&target="+neturl.QueryEscape(target))
	if up, _ := parse(t, body).value("poolwatch_up", "source", "apache"); code != 200 || up != 1 {
		t.Fatalf("probe: %d, poolwatch_up %v\n%s", code, up, body)
	}
	// Read the page ourselves, on a connection of our own, well within KeepAliveTimeout: the
	// only busy worker is soon the one serving this very request. Soon, because the probe's
	// worker may still be closing ("C": httpd lingers until the exporter's close arrives).
	var page string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, page = get(t, httpClient(nil), target)
		if strings.Contains(page, "BusyWorkers: 1\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a probe, a worker is still held by the exporter:\n%s", page)
		}
	}
}
