package poolsim

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolwatch/poolwatch/internal/testproc"
)

// Output of `promtool test rules` with three failed expression tests, the second one a
// probe, as Prometheus 2.42 printed it (3 prints the same lines under another header).
const capturedFailures = `Unit Testing:  t4.yaml
  FAILED:
    expr: "clamp_max(count(max_over_time(ALERTS{alertstate=\"firing\"}[2m])), 1)", time: 2m,
        exp: {} 1E+00
        got: nil
    expr: "min by (alertname, severity) (min_over_time(timestamp(ALERTS{alertstate=\"firing\",instance=\"i\"})[25m:1m]))", time: 25m,
        exp: {} -1E+00
        got: {alertname="A", severity="warning"} 1.8E+02, {alertname="B", severity="critical"} 4.8E+02
    expr: "vector(1)", time: 25m,
        exp: {} 2E+00
        got: {} 1E+00
`

func TestParseFailures(t *testing.T) {
	fs := parseFailures(capturedFailures)
	if len(fs) != 3 {
		t.Fatalf("%d failures, want 3: %+v", len(fs), fs)
	}
	if fs[0].expr != `clamp_max(count(max_over_time(ALERTS{alertstate="firing"}[2m])), 1)` || fs[0].time != "2m" || fs[0].got != "nil" {
		t.Errorf("first failure: %+v", fs[0])
	}
	alerts, err := parseProbe(fs[1].got)
	if err != nil {
		t.Fatal(err)
	}
	want := []Firing{{"A", "warning", 180}, {"B", "critical", 480}}
	if len(alerts) != 2 || alerts[0] != want[0] || alerts[1] != want[1] {
		t.Errorf("probe: %+v, want %+v", alerts, want)
	}
	if none, err := parseProbe("nil"); err != nil || len(none) != 0 {
		t.Errorf("nil: %v, %v", none, err)
	}
	if _, err := parseProbe("something else"); err == nil {
		t.Error("an unreadable probe result was accepted")
	}
}

func FuzzParseFailures(f *testing.F) {
	f.Add(capturedFailures)
	f.Add("  FAILED:\n    expr: \"x\", time: 1h,\n        exp: {} -1E+00\n        got: nil\n")
	f.Fuzz(func(t *testing.T, out string) {
		for _, fl := range parseFailures(out) {
			_, _ = parseProbe(fl.got)
		}
	})
}

func TestSeriesBySource(t *testing.T) {
	js := `{"name": "c", "kind": "healthy", "source": "cherrypy", "stats_on_main_pool": true, "job": "cp",
		"instance": "shop:8080", "pool": "0.0.0.0:8080", "horizon": "10m", "workers": 2,
		"arrival": [[0, 1], [5, 1], [5.01, 30]], "service": 0.25, "seed": 4}`
	sc := mustParse(t, js)
	res := Simulate(sc)
	series := Series(sc, res.Samples)
	names := map[string]string{}
	for _, s := range series {
		names[s.Series] = s.Values
		if n := len(strings.Fields(s.Values)); n != len(res.Samples) {
			t.Fatalf("%s: %d values for %d samples", s.Series, n, len(res.Samples))
		}
	}
	up := names[`poolwatch_up{job="cp",instance="shop:8080",source="cherrypy"}`]
	busy := names[`workerpool_busy_workers{job="cp",instance="shop:8080",pool="0.0.0.0:8080"}`]
	if up == "" || busy == "" || len(series) != 8 {
		t.Fatalf("want CherryPy's 7 series and poolwatch_up, got %d: %v", len(series), names)
	}
	for _, n := range []string{"workerpool_tasks_submitted_total", "workerpool_task_wait_seconds_bucket", "workerpool_max_queued_tasks"} {
		for s := range names {
			if strings.HasPrefix(s, n) {
				t.Errorf("CherryPy has no %s, yet the simulation exposes %s", n, s)
			}
		}
	}
	// Where the pool is exhausted with work waiting, the page cannot answer: every pool
	// series is missing and up is 0; elsewhere up is 1 and the series are there. The first
	// scrape that finds them gone marks them stale, as Prometheus does for series a target
	// stops exposing: a query then sees nothing, not the last value for 5 minutes.
	ups, busys := strings.Fields(up), strings.Fields(busy)
	down := 0
	for i, s := range res.Samples {
		exhausted := s.Busy >= s.Workers && s.Queued > 0
		want := "_"
		if exhausted {
			down++
			if i > 0 && ups[i-1] == "1" {
				want = "stale"
			}
		}
		if exhausted != (ups[i] == "0") || exhausted != (busys[i] == want) {
			t.Fatalf("t=%v: busy %d queued %d: up %s busy %s (want %s)", s.T, s.Busy, s.Queued, ups[i], busys[i], want)
		}
	}
	if down == 0 {
		t.Fatal("the overload was meant to silence the stats page at some scrape")
	}

	goSc := mustParse(t, strings.NewReplacer(`"source": "cherrypy", "stats_on_main_pool": true,`, `"queue": 5,`).Replace(js))
	goSeries := Series(goSc, Simulate(goSc).Samples)
	// 6 gauges, submitted, 3 outcomes, 4 reasons, 2 × (17 buckets + sum + count), 2 seconds counters, 2 ages.
	if len(goSeries) != 6+1+3+4+2*19+2+2-1 {
		t.Errorf("go source: %d series", len(goSeries))
	}
}

func TestParseRejects(t *testing.T) {
	ok := `{"name": "x", "kind": "healthy", "instance": "i", "horizon": "1h", "workers": 2, "arrival": 1, "service": 0.1}`
	if _, err := Parse([]byte(ok)); err != nil {
		t.Fatalf("a valid scenario: %v", err)
	}
	for name, js := range map[string]string{
		"unknown field":        strings.Replace(ok, `"workers"`, `"wrokers": 1, "workers"`, 1),
		"unknown source":       strings.Replace(ok, `"kind"`, `"source": "php", "kind"`, 1),
		"stats page of Go":     strings.Replace(ok, `"kind"`, `"stats_on_main_pool": true, "kind"`, 1),
		"lead on healthy":      strings.Replace(ok, `"kind"`, `"lead": "5m", "kind"`, 1),
		"bad duration":         strings.Replace(ok, `"1h"`, `"1 hour"`, 1),
		"negative queue":       strings.Replace(ok, `"workers": 2`, `"workers": 2, "queue": -1`, 1),
		"decreasing minutes":   strings.Replace(ok, `"arrival": 1`, `"arrival": [[5, 1], [2, 3]]`, 1),
		"unknown curve":        strings.Replace(ok, `"arrival": 1`, `"arrival": {"cosine": {}}`, 1),
		"no workers":           strings.Replace(ok, `"workers": 2`, `"workers": 0`, 1),
		"trailing data":        ok + `{}`,
		"no instance":          strings.Replace(ok, `"instance": "i", `, ``, 1),
		"unknown kind":         strings.Replace(ok, `"healthy"`, `"sick"`, 1),
		"negative arrival":     strings.Replace(ok, `"arrival": 1`, `"arrival": [[0, 1], [5, -1]]`, 1),
		"unknown sine field":   strings.Replace(ok, `"arrival": 1`, `"arrival": {"sine": {"period": "1h", "lo": 1, "hi": 2, "amplitude": 3}}`, 1),
		"error ratio above 1":  strings.Replace(ok, `"kind"`, `"error_ratio": 2, "kind"`, 1),
		"missing arrival rate": strings.Replace(ok, `"arrival": 1, `, ``, 1),
	} {
		if _, err := Parse([]byte(js)); err == nil {
			t.Errorf("%s: accepted %s", name, js)
		}
	}
}

func TestCurves(t *testing.T) {
	sc := mustParse(t, `{"name": "x", "kind": "healthy", "instance": "i", "horizon": "1h", "workers": 2,
		"arrival": [[0, 10], [10, 20], [10, 40], [20, 40]], "service": {"sine": {"period": "1h", "lo": 1, "hi": 3}}}`)
	for _, c := range []struct{ t, want float64 }{{-5, 10}, {0, 10}, {300, 15}, {600, 20}, {601, 40}, {5000, 40}} {
		if got := sc.Arrival.At(c.t); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("arrival at %vs: %v, want %v", c.t, got, c.want)
		}
	}
	for _, c := range []struct{ t, want float64 }{{0, 1}, {900, 2}, {1800, 3}, {3600, 1}} {
		if got := sc.Service.At(c.t); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("service at %vs: %v, want %v", c.t, got, c.want)
		}
	}
	for s, want := range map[float64]string{15: "15s", 60: "1m", 5400: "1h30m", 0.25: "250ms", 86400: "24h"} {
		if got := promDuration(s); got != want {
			t.Errorf("promDuration(%v) = %q, want %q", s, got, want)
		}
	}
}

// promtools are the promtool binaries the tests run: Debian's 2.42 and Prometheus 3's from
// `make tools`, since a rule can behave differently under each.
func promtools(t *testing.T) []Promtool {
	t.Helper()
	var pts []Promtool
	for _, c := range []struct{ what, install, path string }{
		{"promtool 2.42", "apt-get install prometheus (or make deps)", "/usr/bin/promtool"},
		{"promtool 3", "make tools", "../../bin/promtool"},
	} {
		testproc.RequireTool(t, c.what, c.install, c.path, "--version")
		pt, err := NewPromtool(context.Background(), c.path)
		if err != nil {
			t.Fatal(err)
		}
		pts = append(pts, pt)
	}
	return pts
}

// A whole run through real promtools, against rules written here so that the expected
// minutes are known: a warning when every worker is busy (sampled gauge), and an info alert
// that must not count as a page.
func TestRunAgainstPromtool(t *testing.T) {
	pts := promtools(t)
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(`groups:
- name: sim
  rules:
  - alert: Full
    expr: workerpool_busy_workers >= workerpool_max_workers
    for: 2m
    labels: {severity: warning}
  - alert: Anything
    expr: workerpool_max_workers > 0
    labels: {severity: info}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// 4 workers, 0.5 s tasks: 4/s is capacity. Calm at 2/s, then 12/s from minute 20: the
	// pool fills at once and the first task waits 10 s a few seconds later.
	sc := mustParse(t, `{"name": "step", "kind": "detect", "instance": "i", "horizon": "40m", "workers": 4,
		"arrival": [[0, 2], [20, 2], [20.01, 12]], "service": 0.5, "sigma": 0.1, "seed": 1}`)
	res := Simulate(sc)
	if !(res.Stall > 20*60 && res.Stall < 21*60) {
		t.Fatalf("stall at %.1fm, want within minute 20", res.Stall/60)
	}
	for _, pt := range pts {
		v, err := Run(context.Background(), sc, res, []string{rules}, pt, dir)
		if err != nil {
			t.Fatal(err)
		}
		if !v.Pass {
			t.Errorf("%s: %s\n%s", pt.Version, v.Line(), v.Output)
		}
		// Full holds from the first evaluation after minute 20 (21m), fires 2 m later.
		if v.FirstPage != 23*60 {
			t.Errorf("%s: first page at %vs, want 23m: %+v", pt.Version, v.FirstPage, v.Alerts)
		}
		if len(v.Alerts) != 2 || v.Alerts[0].Alert != "Anything" || v.Alerts[0].At > 60 {
			t.Errorf("%s: alerts %+v, want the info alert from the start, then Full", pt.Version, v.Alerts)
		}
		if !strings.HasPrefix(v.Line(), "PASS step kind=detect stall=20.") || !strings.Contains(v.Line(), "first_alert=23m lead=-2.") {
			t.Errorf("verdict line %q", v.Line())
		}

		// The same rules against a scenario that says no page may fire: promtool's verdict
		// is a failure, with its output.
		healthy := *sc
		healthy.Kind = Healthy
		v, err = Run(context.Background(), &healthy, res, []string{rules}, pt, dir)
		if err != nil {
			t.Fatal(err)
		}
		if v.Pass || !strings.Contains(v.Output, "exp:") {
			t.Errorf("%s: a healthy verdict for a pool that paged: %s %s", pt.Version, v.Line(), v.Output)
		}
	}

	// A missing rule file is an error, not an empty (passing) run.
	if _, err := Run(context.Background(), sc, res, []string{filepath.Join(dir, "nope.yaml")}, pts[0], dir); err == nil {
		t.Error("a run without its rule file was judged")
	}
}

// Each exporter source exposes what its section of the README or docs/contract.md lists,
// and poolwatch_up; nothing a server does not measure.
func TestSourceSubsets(t *testing.T) {
	for src, want := range map[string][]string{
		"cherrypy": {"max_workers", "workers", "busy_workers", "queued_tasks", "oldest_running_task_age_seconds", "tasks_completed_total", "busy_seconds_total"},
		"phpfpm":   {"max_workers", "workers", "busy_workers", "queued_tasks", "max_queued_tasks", "tasks_completed_total", "oldest_running_task_age_seconds"},
		"apache":   {"max_workers", "workers", "busy_workers", "tasks_completed_total"},
		"uwsgi":    {"max_workers", "workers", "busy_workers", "queued_tasks", "max_queued_tasks", "tasks_completed_total", "oldest_running_task_age_seconds", "busy_seconds_total"},
		"puma":     {"max_workers", "workers", "busy_workers", "queued_tasks", "tasks_completed_total"},
		"tomcat":   {"max_workers", "workers", "busy_workers", "tasks_completed_total", "oldest_running_task_age_seconds"},
	} {
		sc := mustParse(t, `{"name": "s", "kind": "healthy", "source": "`+src+`", "instance": "i", "horizon": "2m",
			"workers": 2, "queue": 8, "arrival": 1, "service": 0.1}`)
		var got []string
		for _, s := range Series(sc, Simulate(sc).Samples) {
			name := s.Series[:strings.IndexByte(s.Series, '{')]
			got = append(got, strings.TrimPrefix(name, "workerpool_"))
		}
		if strings.Join(got, " ") != strings.Join(want, " ")+" poolwatch_up" {
			t.Errorf("%s: %v, want %v and poolwatch_up", src, got, want)
		}
	}
}

// A detect scenario whose deadline falls before the first rule evaluation is refused with
// a reason, as an exhaustion one is (it has no lead to name).
func TestChecksTooEarly(t *testing.T) {
	for _, extra := range []string{`"kind": "detect", "detect_within": "0s"`, `"kind": "exhaustion", "lead": "5m"`} {
		sc := mustParse(t, `{"name": "early", "instance": "x:1", "horizon": "10m", "workers": 1, "queue": 0,
			"arrival": 50, "service": 1, `+extra+`}`)
		res := Simulate(sc)
		if res.Stall >= 60 {
			t.Fatalf("%s: the pool was meant to stall in the first minute, stalled at %v s", extra, res.Stall)
		}
		if _, err := Checks(sc, res); err == nil || !strings.Contains(err.Error(), "too early") {
			t.Errorf("%s: got %v, want a too-early error", extra, err)
		}
	}
}
