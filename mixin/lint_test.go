// Package mixin_test checks the rendered dashboards and rules: the rules of
// grafana/dashboard-linter (which cannot be fetched here), and that every metric a panel or a
// rule queries is in the metric contract or is recorded by the mixin's own rules.
package mixin_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/poolwatch/poolwatch/internal/testproc"
)

// goRuntimeSeries are client_golang's Go collector series the contract names ("Go runtime
// series"); they keep client_golang's own names, so internal/contract does not list them.
var goRuntimeSeries = []string{
	"go_goroutines", "go_threads", "go_sched_goroutines_goroutines",
	"go_sched_goroutines_runnable_goroutines", "go_sched_latencies_seconds_bucket",
	"go_sched_latencies_seconds_count", "go_sched_latencies_seconds_sum",
}

// exporterSeries are poolwatch_exporter's own series (its config reloads, as
// blackbox_exporter's), which an alert on the exporter itself reads; they describe no pool.
var exporterSeries = []string{
	"poolwatch_exporter_config_last_reload_successful",
	"poolwatch_exporter_config_last_reload_success_timestamp_seconds",
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T) []ruleFile {
	t.Helper()
	paths, err := filepath.Glob("../alerts/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no rendered rules in ../alerts (run make generate): %v", err)
	}
	var files []ruleFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var f ruleFile
		if err := yaml.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		files = append(files, f)
	}
	return files
}

// knownMetrics is every series a query may read: the contract's (histograms as native
// series under their own name, and classic with their _bucket, _count and _sum), the Go
// runtime's, ALERTS, Prometheus's own up of a target, and what the mixin records.
func knownMetrics(t *testing.T) map[string]bool {
	known := map[string]bool{"ALERTS": true, "up": true}
	for name := range contract.Help {
		known[name] = true
	}
	for _, h := range []string{contract.TaskWaitSeconds, contract.TaskDurationSeconds} {
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			known[h+suffix] = true
		}
	}
	for _, name := range append(goRuntimeSeries, exporterSeries...) {
		known[name] = true
	}
	for _, f := range loadRules(t) {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					known[r.Record] = true
				}
			}
		}
	}
	return known
}

var (
	stringLit   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	braces      = regexp.MustCompile(`\{[^{}]*\}`)
	brackets    = regexp.MustCompile(`\[[^\]]*\]`)
	labelLists  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	offsetDur   = regexp.MustCompile(`\boffset\s+-?[0-9a-z]+`)
	identifier  = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlWords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
)

// metricNames returns the metric names an expression reads. It strips what can hold other
// identifiers (strings, label matchers, ranges, label lists, offsets); what is left and not
// called as a function, nor a keyword, nor a number, is a metric name.
func metricNames(expr string) []string {
	e := stringLit.ReplaceAllString(expr, `""`)
	e = braces.ReplaceAllString(e, "{}")
	e = brackets.ReplaceAllString(e, "")
	e = labelLists.ReplaceAllString(e, "")
	e = offsetDur.ReplaceAllString(e, "")
	var names []string
	for _, loc := range identifier.FindAllStringIndex(e, -1) {
		word := e[loc[0]:loc[1]]
		rest := strings.TrimLeft(e[loc[1]:], " \n\t")
		if strings.HasPrefix(rest, "(") || promqlWords[strings.ToLower(word)] {
			continue
		}
		if loc[0] > 0 && (e[loc[0]-1] >= '0' && e[loc[0]-1] <= '9' || e[loc[0]-1] == '.') {
			continue // the exponent or unit of a number such as 1e3
		}
		names = append(names, word)
	}
	return names
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`sum without (le) (rate(a_bucket{le=~"1(\\.0)?",x="y"}[5m])) / on (job) b:c:d > 0.5 and max_over_time(up{}[1m] offset 1h) == 0`)
	want := []string{"a_bucket", "b:c:d", "up"}
	if !slices.Equal(got, want) {
		t.Fatalf("metricNames = %q, want %q", got, want)
	}
}

func TestRulesQueryOnlyKnownMetrics(t *testing.T) {
	known := knownMetrics(t)
	for _, f := range loadRules(t) {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				for _, m := range metricNames(r.Expr) {
					if !known[m] {
						t.Errorf("rule %s%s reads %s: not in the contract nor recorded", r.Record, r.Alert, m)
					}
				}
			}
		}
	}
}

// rangeOfRule is a range or subquery in an expression with its strings blanked: [5m],
// [1m59s999ms], [30m:1m]; group 1 is its range.
var rangeOfRule = regexp.MustCompile(`\[\s*([0-9a-z]+)\s*(?::[^\]]*)?\]`)

// TestRangesSelectTheSameSamplesOnBothVersions: every range of the rules is rendered one
// millisecond short of a whole second ([5m] as [4m59s999ms], util.sameRanges), so that
// Prometheus 2 (ranges closed at their start) and 3 (open) select the same samples; a rule
// added outside prometheusRules and prometheusAlerts, or a range written past the helper,
// would read one sample more under 2 wherever samples sit on the boundary.
func TestRangesSelectTheSameSamplesOnBothVersions(t *testing.T) {
	ranges := 0
	for _, f := range loadRules(t) {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				for _, m := range rangeOfRule.FindAllStringSubmatch(stringLit.ReplaceAllString(r.Expr, `""`), -1) {
					d, err := model.ParseDuration(m[1])
					if err != nil {
						continue // a label list or an index, not a range
					}
					ranges++
					if time.Duration(d)%time.Second != time.Second-time.Millisecond {
						t.Errorf("rule %s%s: range %s is not one millisecond short of a whole second", r.Record, r.Alert, m[0])
					}
				}
			}
		}
	}
	if ranges < 100 {
		t.Errorf("only %d ranges found in the rules: the pattern no longer matches how they are rendered", ranges)
	}
}

var (
	camelCase   = regexp.MustCompile(`^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*$`)
	levelMetric = regexp.MustCompile(`^[a-z_]+:[a-z_]+:[a-z0-9_]+$`)
)

func TestAlertsFollowConventions(t *testing.T) {
	runbooks, err := os.ReadFile("../docs/runbooks.md")
	if err != nil {
		t.Fatalf("runbooks: %v", err)
	}
	alerts := 0
	for _, f := range loadRules(t) {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					if !levelMetric.MatchString(r.Record) {
						t.Errorf("recording rule %s is not named level:metric:operations", r.Record)
					}
					continue
				}
				alerts++
				name := r.Alert
				if !camelCase.MatchString(name) || len(name) > 40 {
					t.Errorf("alert %q: want CamelCase of at most 40 characters", name)
				}
				if s := r.Labels["severity"]; s != "warning" && s != "critical" && s != "info" {
					t.Errorf("alert %s: severity %q, want warning, critical or info", name, s)
				}
				for _, a := range []string{"summary", "description", "runbook_url"} {
					if r.Annotations[a] == "" {
						t.Errorf("alert %s: no %s annotation", name, a)
					}
				}
				d := r.Annotations["description"]
				want := []string{"{{ $labels.instance }}", "$value"}
				if !slices.ContainsFunc(metricNames(r.Expr), func(m string) bool { return slices.Contains(exporterSeries, m) }) {
					// Every alert but those on the exporter itself is about a pool.
					want = append(want, "{{ $labels.pool }}")
				}
				for _, v := range want {
					if !strings.Contains(d, v) {
						t.Errorf("alert %s: description lacks %s", name, v)
					}
				}
				anchor := strings.ToLower(name)
				if !strings.HasSuffix(r.Annotations["runbook_url"], "#"+anchor) {
					t.Errorf("alert %s: runbook_url %q does not point at #%s", name, r.Annotations["runbook_url"], anchor)
				}
				if !strings.Contains(string(runbooks), "\n## "+name+"\n") {
					t.Errorf("alert %s: docs/runbooks.md has no section '## %s'", name, name)
				}
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alerts found")
	}
}

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Editable   bool   `json:"editable"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasource     `json:"datasource"`
			Refresh    int             `json:"refresh"`
			Multi      bool            `json:"multi"`
			IncludeAll bool            `json:"includeAll"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title       string      `json:"title"`
		Type        string      `json:"type"`
		Description string      `json:"description"`
		Datasource  *datasource `json:"datasource"`
		FieldConfig struct {
			Defaults struct {
				Unit string `json:"unit"`
			} `json:"defaults"`
		} `json:"fieldConfig"`
		Targets []struct {
			Expr       string      `json:"expr"`
			RefID      string      `json:"refId"`
			Datasource *datasource `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	paths, err := filepath.Glob("../dashboards/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no rendered dashboards in ../dashboards (run make generate): %v", err)
	}
	out := map[string]dashboard{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[filepath.Base(p)] = d
	}
	for _, want := range []string{"poolwatch-overview.json", "poolwatch-pool.json"} {
		if _, ok := out[want]; !ok {
			t.Errorf("dashboard %s missing", want)
		}
	}
	return out
}

var (
	rangeFunc = regexp.MustCompile(`\b(rate|irate|increase)\s*\(`)
	selector  = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^{}]*)\}`)
)

// counterWrapped reports whether every selector of a counter (or histogram bucket, count,
// sum) in expr is the argument of rate(), irate() or increase() over $__rate_interval.
func counterWrapped(expr string) (string, bool) {
	for _, loc := range selector.FindAllStringSubmatchIndex(expr, -1) {
		name := expr[loc[2]:loc[3]]
		if !strings.HasSuffix(name, "_total") && !strings.HasSuffix(name, "_bucket") &&
			!strings.HasSuffix(name, "_count") && !strings.HasSuffix(name, "_sum") {
			continue
		}
		before := strings.TrimRight(expr[:loc[0]], " ")
		if !rangeFunc.MatchString(before[max(0, len(before)-10):]) || !strings.HasSuffix(before, "(") ||
			!strings.HasPrefix(expr[loc[1]:], "[$__rate_interval]") {
			return name, false
		}
	}
	return "", true
}

func TestDashboardsFollowLinterRules(t *testing.T) {
	known := knownMetrics(t)
	uids := map[string]bool{}
	for file, d := range loadDashboards(t) {
		// Stable uid: the file's name, so links and bookmarks survive every render.
		if want := strings.TrimSuffix(file, ".json"); d.UID != want {
			t.Errorf("%s: uid %q, want %q", file, d.UID, want)
		}
		if uids[d.UID] {
			t.Errorf("%s: duplicate uid %q", file, d.UID)
		}
		uids[d.UID] = true
		if d.Title == "" || d.Editable {
			t.Errorf("%s: want a title and editable=false (provisioned dashboards are edited in the mixin)", file)
		}

		vars := map[string]bool{}
		for _, v := range d.Templating.List {
			vars[v.Name] = true
			switch v.Name {
			case "datasource":
				if v.Type != "datasource" || string(v.Query) != `"prometheus"` {
					t.Errorf("%s: variable datasource must be a prometheus datasource variable", file)
				}
			case "job", "instance", "pool":
				if v.Type != "query" || v.Datasource == nil || v.Datasource.UID != "${datasource}" {
					t.Errorf("%s: variable %s must be a query on ${datasource}", file, v.Name)
				}
				if !v.Multi || !v.IncludeAll || v.Refresh != 2 {
					t.Errorf("%s: variable %s: want multi, includeAll and refresh on time range change", file, v.Name)
				}
				for _, m := range metricNames(strings.NewReplacer("label_values(", "(", ", job)", ")", ", instance)", ")", ", pool)", ")").Replace(v.Definition)) {
					if !known[m] {
						t.Errorf("%s: variable %s reads unknown metric %s", file, v.Name, m)
					}
				}
			}
		}
		for _, v := range []string{"datasource", "job", "instance", "pool"} {
			if !vars[v] {
				t.Errorf("%s: no %s variable", file, v)
			}
		}

		titles := map[string]bool{}
		for _, p := range d.Panels {
			if p.Type == "row" {
				continue
			}
			if p.Title == "" || titles[p.Title] {
				t.Errorf("%s: panel title %q empty or duplicated", file, p.Title)
			}
			titles[p.Title] = true
			if p.Description == "" {
				t.Errorf("%s: panel %q has no description", file, p.Title)
			}
			if p.FieldConfig.Defaults.Unit == "" {
				t.Errorf("%s: panel %q has no unit", file, p.Title)
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: panel %q does not use the datasource variable", file, p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no targets", file, p.Title)
			}
			for _, tg := range p.Targets {
				where := file + ": panel " + p.Title + ": " + tg.Expr
				if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
					t.Errorf("%s: target does not use the datasource variable", where)
				}
				for _, m := range []string{`job=~"$job"`, `instance=~"$instance"`, `pool=~"$pool"`} {
					if !strings.Contains(tg.Expr, m) {
						t.Errorf("%s: lacks %s", where, m)
					}
				}
				// Every selector is narrowed to the chosen jobs and instances.
				for _, s := range selector.FindAllStringSubmatch(tg.Expr, -1) {
					if !strings.Contains(s[2], `job=~"$job"`) || !strings.Contains(s[2], `instance=~"$instance"`) {
						t.Errorf("%s: selector %s lacks the job or instance variable", where, s[0])
					}
				}
				for _, loc := range rangeFunc.FindAllStringIndex(tg.Expr, -1) {
					arg := tg.Expr[loc[1]:]
					if i := strings.Index(arg, "["); i < 0 || !strings.HasPrefix(arg[i:], "[$__rate_interval]") {
						t.Errorf("%s: rate/increase without [$__rate_interval]", where)
					}
				}
				if name, ok := counterWrapped(tg.Expr); !ok {
					t.Errorf("%s: counter %s not inside rate/increase over $__rate_interval", where, name)
				}
				for _, m := range metricNames(tg.Expr) {
					if !known[m] {
						t.Errorf("%s: reads %s, not in the contract nor recorded", where, m)
					}
				}
			}
		}
	}
}

func TestCounterWrapped(t *testing.T) {
	for expr, want := range map[string]bool{
		`rate(x_total{a="b"}[$__rate_interval])`:                         true,
		`sum by (le) (increase(x_bucket{a="b"}[$__rate_interval]))`:      true,
		`rate(x_total{a="b"}[5m])`:                                       false,
		`x_total{a="b"}`:                                                 false,
		`max_over_time(x_count{a="b"}[$__rate_interval])`:                false,
		`workerpool_busy_workers{a="b"} / workerpool_max_workers{a="b"}`: true,
	} {
		if _, got := counterWrapped(expr); got != want {
			t.Errorf("counterWrapped(%s) = %v, want %v", expr, got, want)
		}
	}
}

// TestDashboardQueriesHonourConfig renders the dashboards with other selectors and label lists
// than the defaults and checks that every series a panel or variable reads carries its
// family's selector, and every join and grouping on instances carries the extra label: no
// query hard-codes what _config decides, as none of the rules does.
func TestDashboardQueriesHonourConfig(t *testing.T) {
	jsonnet := jsonnetBinary(t)
	overrides := `{ poolSelector: 'env="p"', upSelector: 'env="u"', goSelector: 'env="g"',
		instanceLabels: ['cluster', 'job', 'instance'], poolLabels: ['cluster', 'job', 'instance', 'pool'] }`
	out, err := exec.Command(jsonnet, "-J", ".", "--ext-code", "overrides="+overrides,
		"-e", "(import 'render.jsonnet').dashboards").Output()
	if err != nil {
		t.Fatalf("render the dashboards with overrides: %v", err)
	}
	var files map[string]string
	if err := json.Unmarshal(out, &files); err != nil {
		t.Fatal(err)
	}
	want := func(name string) string {
		switch {
		case name == "poolwatch_up":
			return `env="u"`
		case strings.HasPrefix(name, "go_"):
			return `env="g"`
		}
		return `env="p"`
	}
	grouping := regexp.MustCompile(`\b(on|by)\s*\(([^)]*)\)`)
	checked := 0
	for file, text := range files {
		var d dashboard
		if err := json.Unmarshal([]byte(text), &d); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var exprs []string
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
		}
		for _, v := range d.Templating.List {
			if v.Type == "query" {
				exprs = append(exprs, v.Definition)
			}
		}
		for _, e := range exprs {
			for _, m := range selector.FindAllStringSubmatch(e, -1) {
				checked++
				if !strings.Contains(m[2], want(m[1])) {
					t.Errorf("%s: %s{%s} lacks the _config selector %s in %s", file, m[1], m[2], want(m[1]), e)
				}
			}
			for _, m := range grouping.FindAllStringSubmatch(e, -1) {
				if strings.Contains(m[2], "instance") && !strings.Contains(m[2], "cluster") {
					t.Errorf("%s: %s (%s) ignores _config's label lists in %s", file, m[1], m[2], e)
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d selectors checked: the dashboards did not render as expected", checked)
	}
}

// jsonnetBinary is the jsonnet that renders the mixin: $JSONNET, else bin/jsonnet (make tools);
// the test is skipped where neither exists, as testproc.RequireTool says.
func jsonnetBinary(t *testing.T) string {
	t.Helper()
	jsonnet := os.Getenv("JSONNET")
	if jsonnet == "" {
		jsonnet = filepath.Join("..", "bin", "jsonnet")
	}
	testproc.RequireTool(t, "jsonnet", "make tools", jsonnet, "--version")
	return jsonnet
}

// TestReadmeNamesEveryConfigField checks that the README's list of _config field names holds
// every field of config.libsonnet and no other: a user overriding a knob looks it up there,
// and fourteen fields added over time were missing from it.
func TestReadmeNamesEveryConfigField(t *testing.T) {
	out, err := exec.Command(jsonnetBinary(t), "-J", ".", "-e",
		"std.objectFieldsAll((import 'config.libsonnet')._config)").Output()
	if err != nil {
		t.Fatalf("list the _config fields: %v", err)
	}
	var fields []string
	if err := json.Unmarshal(out, &fields); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The paragraph that starts "Field names" and ends at the next blank line.
	start := strings.Index(string(readme), "Field names (all in `config.libsonnet`)")
	if start < 0 {
		t.Fatal("README.md has no \"Field names\" paragraph")
	}
	para, _, _ := strings.Cut(string(readme[start:]), "\n\n")
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([A-Za-z]+)`").FindAllStringSubmatch(para, -1) {
		named[m[1]] = true
	}
	for _, f := range fields {
		if !named[f] {
			t.Errorf("README.md's field names lack %s", f)
		}
		delete(named, f)
	}
	delete(named, "for") // "`for` durations"
	for n := range named {
		t.Errorf("README.md's field names list %s, which config.libsonnet does not define", n)
	}
}
