package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter/cherrypytest"
	"github.com/poolwatch/poolwatch/internal/testproc"
)

// The findings of issue 11, each against the real exporter binary and a real hostile
// loopback server (or the real CherryPy).

// Finding 1: the single-target mode follows a redirect only to its own target, as /probe
// does; it used to follow one anywhere.
func TestSingleTargetRedirectIsRefused(t *testing.T) {
	var secret atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		secret.Add(1)
		w.Write(cherrypytest.HostilePage(cherrypytest.ManyServers, 1))
	}))
	t.Cleanup(elsewhere.Close)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/internal/cpstats", http.StatusFound)
	}))
	t.Cleanup(target.Close)

	exp := startExporter(t, "--cherrypy.scrape-uri="+target.URL+"/cpstats/data")
	_, body := get(t, httpClient(nil), "http://"+exp.addr+"/metrics")
	if up, ok := parse(t, body).value("poolwatch_up", "source", "cherrypy"); !ok || up != 0 {
		t.Errorf("poolwatch_up = %v (present %v) for a target redirecting elsewhere", up, ok)
	}
	if n := secret.Load(); n != 0 {
		t.Errorf("the exporter followed the redirect to another host %d times", n)
	}
	if !strings.Contains(exp.Log(), "not a target of this module") {
		t.Errorf("no log line says the redirect was refused:\n%s", exp.Tail(5))
	}
}

// hostileTargets serves the hostile page kind/N at /kind/N/cpstats/data, so that each N is
// a target of its own (not coalesced with the others).
func hostileTargets(t *testing.T) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	pages := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		key := parts[0] + "/" + strconv.Itoa(n)
		mu.Lock()
		page, ok := pages[key]
		if !ok {
			page = cherrypytest.HostilePage(parts[0], n)
			pages[key] = page
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(page)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func hostileConfig(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	return writeFile(t, t.TempDir(), "poolwatch.yml", "modules:\n  cherrypy:\n    source: cherrypy\n    timeout: 60s\n"+
		"    target_patterns: ['"+regexp.QuoteMeta(srv.URL)+"/[a-z-]+/[0-9]+/cpstats/data\\?n=[0-9]+']\n")
}

func hostileURL(srv *httptest.Server, kind string, i, n int) string {
	return fmt.Sprintf("%s/%s/%d/cpstats/data?n=%d", srv.URL, kind, i, n)
}

func probe(t *testing.T, c *http.Client, addr, module, target string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/probe?"+url.Values{"module": {module}, "target": {target}}.Encode(), nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return resp.StatusCode, string(b)
}

// peakRSS is the exporter's peak resident set size (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// Finding 2: a 100k-server page (9.5 MB, under the body limit) gave 400k series and 210 MB of
// RSS per scrape, 2.3 GB under 10 concurrent scrapes. Now it reads poolwatch_up 0 with one
// line, and 10 concurrent scrapes of 10 such targets, then of 10 valid pages as large (100k
// requests, read to the end), keep the exporter's peak RSS under 100 MB.
func TestHugePagesBoundedOutputAndMemory(t *testing.T) {
	const n, scrapers = 100_000, 10
	srv := hostileTargets(t)
	exp := startExporter(t, "--config.file="+hostileConfig(t, srv))
	// Reading ten 9.5 MB pages to their end takes a few CPU-seconds each: room for a busy
	// machine, within the module's 60 s timeout.
	client := httpClient(nil)
	client.Timeout = 90 * time.Second
	for _, tc := range []struct {
		kind string
		up   float64
	}{{cherrypytest.ManyServers, 0}, {cherrypytest.SameBindAddress, 0}, {cherrypytest.ManyRequests, 1}} {
		var wg sync.WaitGroup
		for i := range scrapers {
			wg.Go(func() {
				code, body := probe(t, client, exp.addr, "cherrypy", hostileURL(srv, tc.kind, i, n))
				s := parse(t, body)
				if up, _ := s.value("poolwatch_up", "source", "cherrypy"); code != 200 || up != tc.up {
					t.Errorf("%s: status %d, poolwatch_up %v, want %v", tc.kind, code, up, tc.up)
				}
				if series := len(strings.Split(body, "\n")); series > 100 {
					t.Errorf("%s: %d lines of exposition", tc.kind, series)
				}
			})
		}
		wg.Wait()
	}
	peak := peakRSS(t, exp.Pid())
	t.Logf("peak RSS of the exporter after %d concurrent scrapes of 100k-entry pages: %.1f MB", scrapers, float64(peak)/1e6)
	if peak >= 100e6 {
		t.Errorf("peak RSS %.1f MB, want < 100 MB", float64(peak)/1e6)
	}
	if lines := strings.Count(exp.Log(), "max_pools 50"); lines != 2*scrapers {
		t.Errorf("%d log lines name the pool limit, want one per refused scrape (%d)", lines, 2*scrapers)
	}
}

// Finding 3: values from requests and targets are truncated in the log, and repeated
// problems of one read are one line with a count. A refused probe used to log its whole
// target (100 MB of log for 100 probes of a 1 MB target), a page of 100k bad servers one
// 10.9 MB error line, one of duplicate bind addresses a line per duplicate.
func TestLogsStayBounded(t *testing.T) {
	srv := hostileTargets(t)
	exp := startExporter(t, "--config.file="+hostileConfig(t, srv))
	client := httpClient(nil)
	logSize := func() int { return len(exp.Log()) }

	before := logSize()
	huge := "http://127.0.0.1:1/" + strings.Repeat("a", 512<<10)
	for range 20 {
		if code, _ := probe(t, client, exp.addr, "cherrypy", huge); code != http.StatusForbidden {
			t.Fatalf("status %d for a disallowed target", code)
		}
	}
	if grown := logSize() - before; grown > 20*1024 {
		t.Errorf("20 refused probes of a 512 KB target wrote %d bytes of log", grown)
	}

	for _, tc := range []struct {
		kind  string
		n     int
		level string
	}{{cherrypytest.WrongTypes, 40, "level=ERROR"}, {cherrypytest.SameBindAddress, 40, "level=WARN"}} {
		before := exp.Log()
		probe(t, client, exp.addr, "cherrypy", hostileURL(srv, tc.kind, 0, tc.n))
		added := strings.TrimPrefix(exp.Log(), before)
		if lines := strings.Count(added, tc.level); lines != 1 || !strings.Contains(added, "39") && !strings.Contains(added, "40") {
			t.Errorf("%s: want one %s line with a count, got %d:\n%.2000s", tc.kind, tc.level, lines, added)
		}
		if len(added) > 2048 {
			t.Errorf("%s: %d bytes of log for one scrape", tc.kind, len(added))
		}
	}
}

// Finding 4: an empty config is refused on start (the exporter exits and says why) and on
// reload (the old one stays, and the reload metrics say so).
func TestEmptyConfigRefused(t *testing.T) {
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty.yml", "# every module was commented out\n")
	p := testproc.Start(t, testproc.Spec{Name: "exporter-empty", Path: binary,
		Args: []string{"--web.listen-address=" + testproc.HostPort(testproc.FreePort(t)), "--config.file=" + empty}})
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("the exporter started with an empty config")
	}
	if err := p.Running(); err == nil || !strings.Contains(p.Log(), "no modules") {
		t.Errorf("exit %v, log:\n%s", err, p.Log())
	}
}

func TestReloadMetrics(t *testing.T) {
	target := cpstatsServer(t, "saturated.json").URL + "/cpstats/data"
	cfg := writeFile(t, t.TempDir(), "poolwatch.yml", "modules:\n  cherrypy:\n    source: cherrypy\n    targets: ['"+target+"']\n")
	exp := startExporter(t, "--config.file="+cfg)
	client := httpClient(nil)
	metrics := func() (ok, ts float64) {
		_, body := get(t, client, "http://"+exp.addr+"/metrics")
		s := parse(t, body)
		ok, _ = s.value("poolwatch_exporter_config_last_reload_successful")
		ts, _ = s.value("poolwatch_exporter_config_last_reload_success_timestamp_seconds")
		return ok, ts
	}
	ok, ts := metrics()
	if ok != 1 || ts < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("after start: successful %v, timestamp %v", ok, ts)
	}

	writeFile(t, filepath.Dir(cfg), "poolwatch.yml", "")
	resp, err := client.Post("http://"+exp.addr+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("reload of an empty config: %s", resp.Status)
	}
	if ok2, ts2 := metrics(); ok2 != 0 || ts2 != ts {
		t.Errorf("after a failed reload: successful %v, timestamp %v (was %v)", ok2, ts2, ts)
	}
	if code, _ := probe(t, client, exp.addr, "cherrypy", target); code != 200 {
		t.Errorf("the failed reload dropped the working module: %d", code)
	}

	// SIGHUP with a good file again.
	writeFile(t, filepath.Dir(cfg), "poolwatch.yml", "modules:\n  cherrypy:\n    source: cherrypy\n    targets: ['"+target+"']\n")
	if err := exp.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	exp.WaitUntil(t, "reload on SIGHUP", 10*time.Second, func() error {
		if ok, _ := metrics(); ok != 1 {
			return fmt.Errorf("successful = %v", ok)
		}
		return nil
	})
}

// Finding 5: 50 concurrent scrapers of one CherryPy stats server through /probe, for 30 s, as
// Prometheus HA pairs and several scrapers do. They used to wedge its 2-thread stats server
// for over a minute; the stats page must answer at once afterwards, and the scrapes must
// have had their data meanwhile.
func TestManyScrapersDoNotExhaustTheStatsServer(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 30 s")
	}
	app := cherrypytest.Start(t, 4)
	cfg := writeFile(t, t.TempDir(), "poolwatch.yml",
		"modules:\n  cherrypy:\n    source: cherrypy\n    timeout: 10s\n    targets: ['"+app.StatsURL+"']\n")
	exp := startExporter(t, "--config.file="+cfg)

	const scrapers, duration = 50, 30 * time.Second
	// Scrapers keep their connections to the exporter, as Prometheus does.
	transport := &http.Transport{MaxIdleConnsPerHost: scrapers}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: 20 * time.Second}
	var up, down atomic.Int64
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for range scrapers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				_, body := probe(t, client, exp.addr, "cherrypy", app.StatsURL, "X-Prometheus-Scrape-Timeout-Seconds", "10")
				if strings.Contains(body, `poolwatch_up{source="cherrypy"} 1`) {
					up.Add(1)
				} else {
					down.Add(1)
				}
			}
		})
	}
	wg.Wait()

	start := time.Now()
	quick := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := quick.Get(app.StatsURL)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("the stats page does not answer after the scrapers stopped: %v", err)
	}
	resp.Body.Close()
	t.Logf("%d scrapes with poolwatch_up 1, %d with 0; the stats page answered in %v afterwards", up.Load(), down.Load(), elapsed)
	if elapsed > time.Second {
		t.Errorf("the stats page took %v to answer after the scrapers stopped", elapsed)
	}
	if down.Load() > up.Load()/10 {
		t.Errorf("%d of %d scrapes failed", down.Load(), up.Load()+down.Load())
	}
}
