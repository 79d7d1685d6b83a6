package panelquery

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// countExprs counts, independently of Parse, every object anywhere in a dashboard that has an
// "expr" field: every Prometheus query, wherever Grafana's JSON puts its panel.
func countExprs(v any) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["expr"]; ok {
			n++
		}
		for k, c := range x {
			if k != "templating" { // variable queries are counted apart
				n += countExprs(c)
			}
		}
	case []any:
		for _, c := range x {
			n += countExprs(c)
		}
	}
	return n
}

// nested is a dashboard with the places a panel can hide: a collapsed row holding panels, an
// expanded row followed by panels, a panel in the old schema's rows, and a variable whose
// query is the old plain string.
const nested = `{
  "title": "nested",
  "panels": [
    {"type": "timeseries", "title": "top", "targets": [{"refId": "A", "expr": "up"}, {"refId": "B", "expr": "up * 2"}]},
    {"type": "row", "title": "collapsed", "collapsed": true, "panels": [
      {"type": "table", "title": "inside", "targets": [{"refId": "A", "expr": "vector(1)", "instant": true, "format": "table"}]},
      {"type": "heatmap", "title": "inside too", "targets": [{"refId": "A", "expr": "rate(x_bucket[$__rate_interval])"}]}
    ]},
    {"type": "row", "title": "expanded", "collapsed": false, "panels": []},
    {"type": "stat", "title": "after the row", "targets": [{"refId": "A", "expr": "count(up)"}]}
  ],
  "rows": [{"title": "old", "panels": [{"type": "graph", "title": "old graph", "targets": [{"refId": "A", "expr": "sum(up)"}]}]}],
  "templating": {"list": [
    {"name": "datasource", "type": "datasource", "query": "prometheus"},
    {"name": "job", "type": "query", "query": "label_values(up, job)", "allValue": ".*"},
    {"name": "instance", "type": "query", "query": {"query": "label_values(up{job=~\"$job\"}, instance)", "refId": "X"}},
    {"name": "any", "type": "query", "definition": "label_values(pool)", "query": ""}
  ]}
}`

func TestParseFindsNestedTargets(t *testing.T) {
	d, err := Parse("nested.json", []byte(nested))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range d.Targets {
		got = append(got, tg.Panel+"/"+tg.RefID)
	}
	want := "top/A top/B inside/A inside too/A after the row/A old graph/A"
	if strings.Join(got, " ") != want {
		t.Errorf("targets %q, want %q", strings.Join(got, " "), want)
	}
	if !d.Targets[2].Instant || d.Targets[2].Format != "table" {
		t.Errorf("the table's target lost instant/format: %+v", d.Targets[2])
	}
	wantVars := []Variable{
		{Name: "job", Match: "up", Label: "job", AllValue: ".*"},
		{Name: "instance", Match: `up{job=~"$job"}`, Label: "instance"},
		{Name: "any", Label: "pool"},
	}
	if len(d.Variables) != len(wantVars) {
		t.Fatalf("variables %+v, want %+v", d.Variables, wantVars)
	}
	for i, v := range wantVars {
		if d.Variables[i] != v {
			t.Errorf("variable %d: %+v, want %+v", i, d.Variables[i], v)
		}
	}
}

func TestParseRejectsWhatCannotBeRun(t *testing.T) {
	for name, js := range map[string]string{
		"no expr":          `{"panels": [{"title": "p", "targets": [{"refId": "A"}]}]}`,
		"no refId":         `{"panels": [{"title": "p", "targets": [{"expr": "up"}]}]}`,
		"no title":         `{"panels": [{"type": "row", "panels": [{"targets": [{"refId": "A", "expr": "up"}]}]}]}`,
		"not label_values": `{"templating": {"list": [{"name": "v", "type": "query", "query": "query_result(up)"}]}}`,
		"variable regex":   `{"templating": {"list": [{"name": "v", "type": "query", "query": "label_values(up, job)", "regex": "/^api-.*/"}]}}`,
		"library panel":    `{"panels": [{"title": "p", "libraryPanel": {"uid": "u", "name": "p"}}]}`,
		"repeated panel":   `{"panels": [{"title": "p", "repeat": "pool", "targets": [{"refId": "A", "expr": "up"}]}]}`,
		"repeated row":     `{"panels": [{"type": "row", "title": "r", "repeat": "pool", "collapsed": true, "panels": [{"title": "p", "targets": [{"refId": "A", "expr": "up"}]}]}]}`,
	} {
		if _, err := Parse(name, []byte(js)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

// TestEveryShippedTargetFound: in the dashboards as generated, Parse finds as many targets as
// there are query objects anywhere in the JSON, and each dashboard has the job, instance and
// pool variables.
func TestEveryShippedTargetFound(t *testing.T) {
	ds, err := Load(filepath.Join("..", "..", "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		b, err := os.ReadFile(filepath.Join("..", "..", "dashboards", d.File))
		if err != nil {
			t.Fatal(err)
		}
		var raw any
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		if want := countExprs(raw); len(d.Targets) != want || want == 0 {
			t.Errorf("%s: Parse found %d targets, the JSON has %d queries", d.File, len(d.Targets), want)
		}
		var names []string
		for _, v := range d.Variables {
			names = append(names, v.Name)
		}
		if strings.Join(names, " ") != "job instance pool" {
			t.Errorf("%s: query variables %v, want job instance pool", d.File, names)
		}
		t.Logf("%s: %d targets, %d query variables", d.File, len(d.Targets), len(d.Variables))
	}
}

func TestExpand(t *testing.T) {
	v := Vars{
		Values: map[string][]string{
			"job":      {"poolwatch-demo", "poolwatch-native"},
			"instance": {"127.0.0.1:9090"},
			"pool":     {`a"b\c`},
		},
		Interval:     time.Second,
		RateInterval: 4 * time.Second,
		Range:        5 * time.Minute,
	}
	for expr, want := range map[string]string{
		`x{job=~"$job", instance=~"${instance}"}`:        `x{job=~"(poolwatch-demo|poolwatch-native)", instance=~"127\\.0\\.0\\.1:9090"}`,
		`rate(x{pool=~"[[pool]]"}[$__rate_interval])`:    `rate(x{pool=~"a\"b\\\\c"}[4s])`,
		`max_over_time(x[$__range]) / $__interval_ms`:    `max_over_time(x[300s]) / 1000`,
		`avg_over_time(x[$__interval]) > $__range_s`:     `avg_over_time(x[1s]) > 300`,
		`sum(x) by (job) # no variable in this query`:    `sum(x) by (job) # no variable in this query`,
		`x{instance=~"$instance"} unless y{job=~"$job"}`: `x{instance=~"127\\.0\\.0\\.1:9090"} unless y{job=~"(poolwatch-demo|poolwatch-native)"}`,
	} {
		got, err := Expand(expr, v)
		if err != nil || got != want {
			t.Errorf("Expand(%s) = %s, %v; want %s", expr, got, err, want)
		}
	}
	if got, err := Expand(`x{route=~"$route"}`, v); err == nil {
		t.Errorf("an unknown variable expanded to %s", got)
	}
}

// TestExpandFormats: the ${name:format} and [[name:format]] forms are substituted as Grafana's
// formats do, and a form this package does not implement is an error rather than text left
// for Prometheus to read.
func TestExpandFormats(t *testing.T) {
	v := Vars{
		Values: map[string][]string{
			"job":  {"a.b", "c"},
			"pool": {"p.1"},
		},
		Interval: time.Second, RateInterval: 4 * time.Second, Range: time.Minute,
	}
	for expr, want := range map[string]string{
		`x{job=~"${job:pipe}"}`:                      `x{job=~"a.b|c"}`,
		`x{job=~"${job:regex}"}`:                     `x{job=~"(a\.b|c)"}`,
		`x{pool=~"[[pool:regex]]"}`:                  `x{pool=~"p\.1"}`,
		`x{pool=~"[[pool:pipe]]"}`:                   `x{pool=~"p.1"}`,
		`rate(x{pool=~"$pool"}[${__rate_interval}])`: `rate(x{pool=~"p\\.1"}[4s])`,
	} {
		got, err := Expand(expr, v)
		if err != nil || got != want {
			t.Errorf("Expand(%s) = %s, %v; want %s", expr, got, err, want)
		}
	}
	for _, expr := range []string{
		`x{job=~"${job:csv}"}`,      // a format not implemented
		`x{job=~"${job.text}"}`,     // a field path
		`x{job=~"[[job:glob]]"}`,    // the same in the old form
		`x[${__rate_interval:raw}]`, // a format on a built-in variable
		`x{job=~"${route:pipe}"}`,   // unknown, with a format
	} {
		if got, err := Expand(expr, v); err == nil {
			t.Errorf("Expand(%s) = %s without error", expr, got)
		}
	}
}

func TestGrafanaIntervals(t *testing.T) {
	for _, c := range []struct {
		timeRange, scrape, interval, rate time.Duration
	}{
		{5 * time.Minute, time.Second, time.Second, 4 * time.Second}, // the scrape interval bounds both
		{time.Hour, 15 * time.Second, 15 * time.Second, time.Minute}, // production: 4 × 15 s
		// A day: 86.4 s is rounded down to Grafana's nice 1m before the scrape interval is added.
		{24 * time.Hour, 15 * time.Second, time.Minute, 75 * time.Second},
		{6 * time.Hour, 15 * time.Second, 20 * time.Second, time.Minute},      // 21.6 s is drawn every 20 s
		{7 * 24 * time.Hour, time.Minute, 10 * time.Minute, 11 * time.Minute}, // 604.8 s: 10m
		{20 * time.Minute, 0, time.Second, time.Second},                       // 1.2 s: 1s, no scrape interval
	} {
		i, r := GrafanaIntervals(c.timeRange, c.scrape, 1000)
		if i != c.interval || r != c.rate {
			t.Errorf("GrafanaIntervals(%v, %v) = %v, %v; want %v, %v", c.timeRange, c.scrape, i, r, c.interval, c.rate)
		}
	}
}

// TestAbsentListNamesShippedTargets: every row of the table in mixin/README.md names a query
// that exists in the dashboards as generated, and no query is listed twice for the same pools
// and Prometheus. The end-to-end test checks the other way, that each listed query is empty.
func TestAbsentListNamesShippedTargets(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "mixin", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	absent, err := ParseAbsent(readme)
	if err != nil {
		t.Fatal(err)
	}
	if len(absent) == 0 {
		t.Fatal("mixin/README.md lists no panel absent by design")
	}
	ds, err := Load(filepath.Join("..", "..", "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	exists := map[string]bool{}
	for _, d := range ds {
		for _, tg := range d.Targets {
			exists[tg.Dashboard+"/"+tg.Panel+"/"+tg.RefID] = true
		}
	}
	seen := map[string]bool{}
	for _, a := range absent {
		if !exists[a.Dashboard+"/"+a.Panel+"/"+a.RefID] {
			t.Errorf("mixin/README.md lists %s, which no dashboard has", a)
		}
		if seen[a.String()] {
			t.Errorf("mixin/README.md lists %s twice", a)
		}
		seen[a.String()] = true
	}
}

func TestParseAbsentRejectsMalformedRows(t *testing.T) {
	table := func(row string) []byte {
		return []byte(absentBegin + "\n| Dashboard | Panel | Query | Pools | Prometheus | Why |\n|---|---|---|---|---|---|\n" + row + "\n" + absentEnd)
	}
	good := "| `d.json` | P | `A` | CherryPy | any | no histogram |"
	a, err := ParseAbsent(table(good))
	if err != nil || len(a) != 1 || a[0] != (Absent{Dashboard: "d.json", Panel: "P", RefID: "A", Pools: "CherryPy", Prometheus: "any", Why: "no histogram"}) {
		t.Fatalf("ParseAbsent(%s) = %+v, %v", good, a, err)
	}
	for _, row := range []string{
		"| `d.json` | P | `A` | Python | any | no histogram |",
		"| `d.json` | P | `A` | Go | sometimes | no histogram |",
		"| `d.json` | P | `A` | Go | any |  |",
		"| `d.json` | P | `A` | Go | any |",
		"not a row",
	} {
		if _, err := ParseAbsent(table(row)); err == nil {
			t.Errorf("ParseAbsent accepted %q", row)
		}
	}
	if _, err := ParseAbsent([]byte("no markers")); err == nil {
		t.Error("ParseAbsent accepted a README without the table")
	}
}

func TestAbsentMatches(t *testing.T) {
	tg := Target{Dashboard: "d.json", Panel: "P", RefID: "B"}
	classic := Absent{Dashboard: "d.json", Panel: "P", RefID: "B", Pools: PoolsGo, Prometheus: PrometheusClassic}
	if !classic.Matches(tg, PoolsGo, false) || classic.Matches(tg, PoolsGo, true) || classic.Matches(tg, PoolsCherryPy, false) {
		t.Error("a classic-only row matches where it should not, or not where it should")
	}
	anyProm := classic
	anyProm.Prometheus = PrometheusAny
	other := tg
	other.RefID = "A"
	if !anyProm.Matches(tg, PoolsGo, true) || anyProm.Matches(other, PoolsGo, true) {
		t.Error("an any-Prometheus row matches where it should not, or not where it should")
	}
}
