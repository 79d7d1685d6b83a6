package main

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter/cherrypytest"
)

// A real CherryPy with 4 threads: 4 slow requests take every thread and 3 more wait in
// cheroot's queue; the exporter must show exactly that, an oldest running request that ages,
// and after CherryPy is gone poolwatch_up 0 with no pool series, within the timeout.
func TestCherryPyExhaustionThroughExporter(t *testing.T) {
	const threads, queued = 4, 3
	app := cherrypytest.Start(t, threads)
	exp := startExporter(t, "--cherrypy.scrape-uri="+app.StatsURL, "--cherrypy.timeout=2s")
	client := httpClient(nil)
	metricsURL := "http://" + exp.addr + "/metrics"
	mainPool := net.JoinHostPort("127.0.0.1", itoa(app.Port))

	app.Get(t, "/") // one completed request
	app.Occupy(t, threads+queued, 60)

	var s scrape
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body := get(t, client, metricsURL)
		s = parse(t, body)
		busy, _ := s.value("workerpool_busy_workers", "pool", mainPool)
		q, _ := s.value("workerpool_queued_tasks", "pool", mainPool)
		if busy == threads && q == queued {
			promtoolCheck(t, body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw %d busy and %d queued; last scrape:\n%s", threads, queued, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	want := map[string]float64{
		"workerpool_max_workers":  threads,
		"workerpool_workers":      threads,
		"workerpool_busy_workers": threads,
		"workerpool_queued_tasks": queued,
	}
	for name, v := range want {
		if got, ok := s.value(name, "pool", mainPool); !ok || got != v {
			t.Errorf("%s{pool=%q} = %v (present %v), want %v", name, mainPool, got, ok, v)
		}
	}
	if got, _ := s.value("workerpool_tasks_completed_total", "pool", mainPool, "outcome", "success"); got != 1 {
		t.Errorf("completed = %v, want the 1 fast request", got)
	}
	if up, _ := s.value("poolwatch_up", "source", "cherrypy"); up != 1 {
		t.Errorf("poolwatch_up = %v", up)
	}
	age1, ok := s.value("workerpool_oldest_running_task_age_seconds", "pool", mainPool)
	if !ok {
		t.Fatal("no oldest running age")
	}
	busySeconds1, _ := s.value("workerpool_busy_seconds_total", "pool", mainPool)
	time.Sleep(1100 * time.Millisecond)
	_, body := get(t, client, metricsURL)
	s = parse(t, body)
	age2, _ := s.value("workerpool_oldest_running_task_age_seconds", "pool", mainPool)
	if age2 < age1+1 {
		t.Errorf("oldest running age went from %v to %v over 1.1 s, want it to grow by >= 1 s", age1, age2)
	}
	// 4 busy threads for 1.1 s: the counter includes work in progress, so it moves by ~4.4.
	if busySeconds2, _ := s.value("workerpool_busy_seconds_total", "pool", mainPool); busySeconds2-busySeconds1 < threads*1.0 {
		t.Errorf("busy seconds went from %v to %v, want >= %d more", busySeconds1, busySeconds2, threads)
	}
	if busy, _ := s.value("workerpool_busy_workers", "pool", mainPool); busy != threads {
		t.Errorf("busy = %v on the second scrape", busy)
	}

	app.Stop(t)
	start := time.Now()
	_, body = get(t, client, metricsURL)
	elapsed := time.Since(start)
	s = parse(t, body)
	if up, ok := s.value("poolwatch_up", "source", "cherrypy"); !ok || up != 0 {
		t.Errorf("poolwatch_up = %v (present %v) with CherryPy stopped", up, ok)
	}
	if names := s.workerpoolSeries(); len(names) > 0 {
		t.Errorf("stale pool series after CherryPy stopped: %v", names)
	}
	if elapsed > 2*time.Second+time.Second {
		t.Errorf("scrape took %v, want it within the 2 s timeout", elapsed)
	}
	if !strings.Contains(exp.Log(), "reading target failed") {
		t.Error("no log line says why poolwatch_up is 0")
	}
}

// A target that accepts connections and never answers: the scrape ends at the timeout.
func TestTargetThatNeverAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0") // never accepted: the request hangs
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	exp := startExporter(t, "--cherrypy.scrape-uri=http://"+l.Addr().String()+"/cpstats/data", "--cherrypy.timeout=1s")
	start := time.Now()
	code, body := get(t, httpClient(nil), "http://"+exp.addr+"/metrics")
	elapsed := time.Since(start)
	s := parse(t, body)
	if up, ok := s.value("poolwatch_up", "source", "cherrypy"); code != 200 || !ok || up != 0 {
		t.Errorf("status %d, poolwatch_up %v (present %v)", code, up, ok)
	}
	if elapsed < time.Second || elapsed > 3*time.Second {
		t.Errorf("scrape took %v, want about the 1 s timeout", elapsed)
	}
	if d, _ := s.value("poolwatch_scrape_duration_seconds", "source", "cherrypy"); d < 0.9 || d > 2 {
		t.Errorf("poolwatch_scrape_duration_seconds = %v, want about 1", d)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
