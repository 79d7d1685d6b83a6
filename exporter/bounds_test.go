package exporter

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// manyPools reports n pools, bad of them invalid and dup of them named like the first.
type manyPools struct {
	n, bad, dup int
	// running gives each pool that many running requests, each on a route of its own.
	running int
}

func (manyPools) Name() string { return "fake" }

func (s manyPools) Read(context.Context, Reader, string, *slog.Logger) ([]Pool, error) {
	pools := make([]Pool, s.n)
	for i := range pools {
		pools[i] = validPool()
		pools[i].Name = fmt.Sprintf("10.0.0.%d:8080", i)
		if s.running > 0 {
			pools[i].BusyWorkers, pools[i].Workers, pools[i].MaxWorkers = float64(s.running), float64(s.running), float64(s.running)
			pools[i].Running = []Request{}
			for r := range s.running {
				pools[i].Running = append(pools[i].Running, Request{Method: "GET", Target: fmt.Sprintf("/r%d", r), AgeSeconds: 1})
			}
		}
		switch {
		case i >= 1 && i <= s.dup:
			pools[i].Name = pools[0].Name
		case i > s.dup && i <= s.dup+s.bad:
			pools[i].BusyWorkers = 99
		}
	}
	return pools, nil
}

func collectWithLog(t *testing.T, target Target) (up float64, series int, log string) {
	t.Helper()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(context.Background(), target, logger))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "workerpool_") {
			series += len(mf.Metric)
		}
		if mf.GetName() == "poolwatch_up" {
			up = mf.Metric[0].GetGauge().GetValue()
		}
	}
	return up, series, buf.String()
}

// A target reporting more pools than the limit (default 50) reads poolwatch_up 0 with no pool
// series and one line saying why, instead of flooding Prometheus.
func TestCollectorRefusesMorePoolsThanTheLimit(t *testing.T) {
	up, series, log := collectWithLog(t, Target{Source: manyPools{n: 1000}, URL: "http://x", Timeout: time.Second})
	if up != 0 || series != 0 {
		t.Errorf("1000 pools: up %v with %d series, want 0 and none", up, series)
	}
	if n := strings.Count(log, "\n"); n != 1 || !strings.Contains(log, "max_pools 50") {
		t.Errorf("want one line naming the limit, got %d:\n%s", n, log)
	}
	if up, series, _ := collectWithLog(t, Target{Source: manyPools{n: DefaultMaxPools}, URL: "http://x", Timeout: time.Second}); up != 1 || series == 0 {
		t.Errorf("%d pools (the limit): up %v, %d series", DefaultMaxPools, up, series)
	}
	if up, _, _ := collectWithLog(t, Target{Source: manyPools{n: 6}, URL: "http://x", Timeout: time.Second, MaxPools: 5}); up != 0 {
		t.Error("a module's max_pools is not applied")
	}
}

func TestCollectorRefusesMoreSeriesThanTheLimit(t *testing.T) {
	perPool := testutil.CollectAndCount(NewCollector(context.Background(),
		Target{Source: manyPools{n: 1}, URL: "http://x", Timeout: time.Second}, discard())) - 2
	target := Target{Source: manyPools{n: 3}, URL: "http://x", Timeout: time.Second, MaxSeries: 3*perPool - 1}
	up, series, log := collectWithLog(t, target)
	if up != 0 || series != 0 || !strings.Contains(log, "max_series") {
		t.Errorf("over max_series: up %v, %d series, log %s", up, series, log)
	}
	target.MaxSeries = 3 * perPool
	if up, series, _ := collectWithLog(t, target); up != 1 || series != 3*perPool {
		t.Errorf("at max_series: up %v, %d series", up, series)
	}
}

// The route series are a diagnosis, the pool series what the alerts read: where the routes
// would take a read past max_series, the routes of the pools that do not fit are left out
// (one warning says how many) and the target stays up with every pool series.
func TestCollectorLeavesOutRoutesPastTheSeriesLimit(t *testing.T) {
	count := func(target Target) int {
		return testutil.CollectAndCount(NewCollector(context.Background(), target, discard())) - 2
	}
	bare := count(Target{Source: manyPools{n: 3}, URL: "http://x", Timeout: time.Second})
	full := count(Target{Source: manyPools{n: 3, running: 4}, URL: "http://x", Timeout: time.Second})
	perPoolRoutes := (full - bare) / 3
	if perPoolRoutes != 2*4 {
		t.Fatalf("%d route series per pool, want 8 (4 routes, busy and oldest)", perPoolRoutes)
	}
	target := Target{Source: manyPools{n: 3, running: 4}, URL: "http://x", Timeout: time.Second, MaxSeries: full - 1}
	up, series, log := collectWithLog(t, target)
	if up != 1 || series != bare+2*perPoolRoutes {
		t.Errorf("one series over max_series: up %v, %d series, want 1 and %d (the routes of one pool left out)", up, series, bare+2*perPoolRoutes)
	}
	if n := strings.Count(log, "level=WARN"); n != 1 || !strings.Contains(log, "pools=1") || !strings.Contains(log, "max_series") {
		t.Errorf("want one warning counting 1 pool whose routes were left out, got %d:\n%s", n, log)
	}
	target.MaxSeries = bare
	if up, series, _ := collectWithLog(t, target); up != 1 || series != bare {
		t.Errorf("room for the pool series only: up %v, %d series, want 1 and %d", up, series, bare)
	}
	target.MaxSeries = bare - 1
	if up, series, _ := collectWithLog(t, target); up != 0 || series != 0 {
		t.Errorf("no room for the pool series: up %v, %d series, want 0 and none", up, series)
	}
}

// Pools left out of one read (invalid, or a name reported twice) are one log line with a
// count, not one line each.
func TestCollectorSummarisesSkippedPoolsInOneLine(t *testing.T) {
	up, series, log := collectWithLog(t, Target{Source: manyPools{n: 40, dup: 20, bad: 15}, URL: "http://x", Timeout: time.Second})
	if up != 1 || series == 0 {
		t.Fatalf("up %v, %d series", up, series)
	}
	if n := strings.Count(log, "level=WARN"); n != 1 || !strings.Contains(log, "count=35") {
		t.Errorf("want one warning counting 35 pools left out, got %d:\n%s", n, log)
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"0123456789abc", 10, "0123456789...[3 more bytes]"},
		{"ééééé", 3, "é...[8 more bytes]"}, // not inside a rune
	} {
		if got := Truncate(tc.in, tc.max); got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// Every value of a log line is bounded: messages, strings, errors, Stringers, other values,
// inside groups and in attributes added with With.
func TestBoundedLogger(t *testing.T) {
	var buf bytes.Buffer
	huge := strings.Repeat("x", 1<<20)
	logger := BoundedLogger(slog.New(slog.NewJSONHandler(&buf, nil))).With("target", huge)
	logger.WithGroup("g").Error(huge, "err", fmt.Errorf("wrapped: %s", huge), "s", huge,
		"any", []string{huge}, "stringer", bytes.NewBufferString(huge), slog.Group("inner", "v", huge))
	if n := buf.Len(); n > 10*MaxLogValueBytes {
		t.Errorf("a log line of seven 1 MB values took %d bytes", n)
	}
	if BoundedLogger(logger) != logger {
		t.Error("a bounded logger was wrapped again")
	}
}

// A refused probe of a 512 KB target logs a few hundred bytes of it.
func TestProbeRefusalLogIsBounded(t *testing.T) {
	var buf bytes.Buffer
	store, err := NewConfigStore(writeConfig(t, "modules:\n  m:\n    source: fake\n    targets: [http://127.0.0.1:1/]\n"), map[string]Source{"fake": fetchSource{}})
	if err != nil {
		t.Fatal(err)
	}
	h := NewProbeHandler(store, slog.New(slog.NewTextHandler(&buf, nil)))
	target := "http://127.0.0.1:1/" + strings.Repeat("a", 512<<10)
	for range 10 {
		req, _ := http.NewRequest("GET", probeURL("", "m", target), nil)
		w := &discardWriter{header: http.Header{}}
		h.ServeHTTP(w, req)
		if w.code != http.StatusForbidden {
			t.Fatalf("status %d", w.code)
		}
	}
	if n := buf.Len(); n > 10*2*MaxLogValueBytes {
		t.Errorf("10 refused probes of a 512 KB target wrote %d bytes of log", n)
	}
}

type discardWriter struct {
	header http.Header
	code   int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
