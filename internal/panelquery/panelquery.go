// Package panelquery reads the queries out of Grafana dashboard JSON as generated into
// dashboards/ (every target of every panel, rows' and collapsed rows' panels included, and
// the label_values queries of the template variables), substitutes the dashboard's variables
// and Grafana's built-in interval variables the way Grafana would, and reads the list of
// panels that are empty by design for a kind of pool from mixin/README.md. The end-to-end test
// runs the queries against a real Prometheus with it; its unit tests check that nothing is
// missed.
package panelquery

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Target is one query of one panel.
type Target struct {
	Dashboard string // the file name, e.g. poolwatch-pool.json
	Panel     string // the panel's title
	RefID     string
	Expr      string
	// Instant is set for a query Grafana evaluates at the end of the time range only (tables).
	Instant bool
	Format  string
}

// Variable is a template variable whose values come from a label_values query.
type Variable struct {
	Name  string
	Match string // the series selector, e.g. workerpool_max_workers{job=~"$job"}; "" for all series
	Label string // the label whose values are the variable's
	// AllValue is what the variable stands for when "All" is picked ("" means every value
	// joined, as Grafana does without an allValue).
	AllValue string
}

// Dashboard is the queries of one dashboard.
type Dashboard struct {
	File      string
	Title     string
	Targets   []Target
	Variables []Variable
}

// Load reads every *.json dashboard in dir, sorted by file name.
func Load(dir string) ([]Dashboard, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no dashboards (*.json) in %s", dir)
	}
	sort.Strings(paths)
	var out []Dashboard
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		d, err := Parse(filepath.Base(p), b)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// panel is the part of a Grafana panel that holds queries. Rows hold their panels in
// "panels" (collapsed rows) or are followed by them at the top level (expanded rows); both
// are walked.
type panel struct {
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Targets []query `json:"targets"`
	Panels  []panel `json:"panels"`
	// A library panel's queries are not in the dashboard, and a repeated panel (or row) runs
	// its queries once per value of its variable: Parse refuses both rather than let the test
	// miss a query or run it with values no copy of the panel has.
	LibraryPanel json.RawMessage `json:"libraryPanel"`
	Repeat       string          `json:"repeat"`
}

type query struct {
	RefID   string `json:"refId"`
	Expr    string `json:"expr"`
	Instant bool   `json:"instant"`
	Format  string `json:"format"`
}

type dashboardJSON struct {
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
	// Rows is the layout of dashboards older than schema 16, still imported by Grafana.
	Rows       []panel `json:"rows"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			AllValue   string          `json:"allValue"`
			// Regex filters (or rewrites) the values the query offers; Parse refuses it, as
			// the test would pick values Grafana does not offer.
			Regex string `json:"regex"`
		} `json:"list"`
	} `json:"templating"`
}

// Parse reads the queries of one dashboard. A query target without an expression, a panel
// without a title, or a query variable that is not label_values is an error: the test could
// not run it, and a panel nobody can name cannot be listed as absent by design.
func Parse(file string, b []byte) (Dashboard, error) {
	var dj dashboardJSON
	if err := json.Unmarshal(b, &dj); err != nil {
		return Dashboard{}, fmt.Errorf("%s: %w", file, err)
	}
	d := Dashboard{File: file, Title: dj.Title}
	var walk func(ps []panel) error
	walk = func(ps []panel) error {
		for _, p := range ps {
			if len(p.LibraryPanel) > 0 && string(p.LibraryPanel) != "null" {
				return fmt.Errorf("%s: panel %q is a library panel, whose queries are not in the dashboard", file, p.Title)
			}
			if p.Repeat != "" {
				return fmt.Errorf("%s: panel %q repeats for each value of $%s, which the test does not run one by one", file, p.Title, p.Repeat)
			}
			for _, q := range p.Targets {
				if p.Title == "" {
					return fmt.Errorf("%s: a %s panel without a title has queries", file, p.Type)
				}
				if strings.TrimSpace(q.Expr) == "" || q.RefID == "" {
					return fmt.Errorf("%s: panel %q: target %q has no expr or refId", file, p.Title, q.RefID)
				}
				d.Targets = append(d.Targets, Target{Dashboard: file, Panel: p.Title, RefID: q.RefID, Expr: q.Expr, Instant: q.Instant, Format: q.Format})
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(dj.Panels); err != nil {
		return Dashboard{}, err
	}
	if err := walk(dj.Rows); err != nil {
		return Dashboard{}, err
	}
	for _, v := range dj.Templating.List {
		if v.Type != "query" {
			continue // datasource, custom, interval, ...: no query to run
		}
		q := v.Definition
		// The query is a string in old dashboards, {query, refId} in current ones.
		var s string
		var obj struct {
			Query string `json:"query"`
		}
		switch {
		case json.Unmarshal(v.Query, &s) == nil && s != "":
			q = s
		case json.Unmarshal(v.Query, &obj) == nil && obj.Query != "":
			q = obj.Query
		}
		if v.Regex != "" {
			return Dashboard{}, fmt.Errorf("%s: variable %s: its regex %q filters the values its query offers, which the test does not", file, v.Name, v.Regex)
		}
		match, label, err := parseLabelValues(q)
		if err != nil {
			return Dashboard{}, fmt.Errorf("%s: variable %s: %w", file, v.Name, err)
		}
		d.Variables = append(d.Variables, Variable{Name: v.Name, Match: match, Label: label, AllValue: v.AllValue})
	}
	return d, nil
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*(?:(.*\S)\s*,\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// parseLabelValues splits label_values(selector, label) or label_values(label).
func parseLabelValues(q string) (match, label string, err error) {
	m := labelValuesRE.FindStringSubmatch(q)
	if m == nil {
		return "", "", fmt.Errorf("query %q is not label_values(selector, label)", q)
	}
	return m[1], m[2], nil
}

// Vars are the values substituted into a query: the dashboard's variables (each one or more
// values, as picked in Grafana) and Grafana's built-in time variables.
type Vars struct {
	Values map[string][]string
	// Interval is $__interval: the step of a range query (time range / max data points,
	// never below the data source's scrape interval).
	Interval time.Duration
	// RateInterval is $__rate_interval: max($__interval + scrape interval, 4 × scrape
	// interval), as Grafana computes it.
	RateInterval time.Duration
	// Range is $__range: the dashboard's time range.
	Range time.Duration
}

// GrafanaIntervals returns the built-in interval variables Grafana would use for a time range
// drawn with maxDataPoints points from a data source whose scrape interval is scrape: the
// range divided by the points, never below the scrape interval, rounded down to one of
// Grafana's round steps (roundInterval), and $__rate_interval = max($__interval + scrape,
// 4 × scrape).
func GrafanaIntervals(timeRange, scrape time.Duration, maxDataPoints int) (interval, rateInterval time.Duration) {
	interval = timeRange / time.Duration(maxDataPoints)
	if interval < scrape {
		interval = scrape
	}
	interval = roundInterval(interval)
	rateInterval = max(interval+scrape, 4*scrape)
	return interval, rateInterval
}

// roundSteps are Grafana's round intervals (its gtime.RoundInterval): an interval up to
// upTo is drawn every step.
var roundSteps = []struct{ upTo, step time.Duration }{
	{10 * time.Millisecond, time.Millisecond},
	{15 * time.Millisecond, 10 * time.Millisecond},
	{35 * time.Millisecond, 20 * time.Millisecond},
	{75 * time.Millisecond, 50 * time.Millisecond},
	{150 * time.Millisecond, 100 * time.Millisecond},
	{350 * time.Millisecond, 200 * time.Millisecond},
	{750 * time.Millisecond, 500 * time.Millisecond},
	{1500 * time.Millisecond, time.Second},
	{3500 * time.Millisecond, 2 * time.Second},
	{7500 * time.Millisecond, 5 * time.Second},
	{12500 * time.Millisecond, 10 * time.Second},
	{17500 * time.Millisecond, 15 * time.Second},
	{25 * time.Second, 20 * time.Second},
	{45 * time.Second, 30 * time.Second},
	{90 * time.Second, time.Minute},
	{210 * time.Second, 2 * time.Minute},
	{450 * time.Second, 5 * time.Minute},
	{750 * time.Second, 10 * time.Minute},
	{1050 * time.Second, 15 * time.Minute},
	{1500 * time.Second, 20 * time.Minute},
	{2700 * time.Second, 30 * time.Minute},
	{5400 * time.Second, time.Hour},
	{9000 * time.Second, 2 * time.Hour},
	{16200 * time.Second, 3 * time.Hour},
	{32400 * time.Second, 6 * time.Hour},
	{86400 * time.Second, 12 * time.Hour},
	{172800 * time.Second, 24 * time.Hour},
	{604800 * time.Second, 24 * time.Hour},
	{1814400 * time.Second, 7 * 24 * time.Hour},
	{3628800*time.Second - 1, 30 * 24 * time.Hour},
}

func roundInterval(d time.Duration) time.Duration {
	for _, r := range roundSteps {
		if d <= r.upTo {
			return r.step
		}
	}
	return 365 * 24 * time.Hour
}

// variableRE matches Grafana's forms of a variable: $name, ${name}, ${name:format},
// ${name.fieldPath} and [[name]], [[name:format]].
var variableRE = regexp.MustCompile(`\$\{(\w+)(?:\.([^:}]+))?(?::([^}]+))?\}|\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]`)

// Expand substitutes vars into expr as Grafana's Prometheus data source does for regex
// matchers (every variable of these dashboards is used with =~, and is multi-value with an
// All option): each value is regex-escaped, several values are joined as (a|b). The formats
// :regex and :pipe are applied as Grafana applies them. A variable it does not know, a format
// it does not implement, or a field path is an error, so that a query cannot reach Prometheus
// with a literal $name in it.
func Expand(expr string, v Vars) (string, error) {
	var errs []string
	out := variableRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := variableRE.FindStringSubmatch(m)
		name := sub[1] + sub[4] + sub[5]
		field, format := sub[2], sub[3]+sub[6]
		if field != "" {
			errs = append(errs, m+" (a field path)")
			return m
		}
		builtin, isBuiltin := map[string]func() string{
			"__interval":      func() string { return promDuration(v.Interval) },
			"__interval_ms":   func() string { return strconv.FormatInt(v.Interval.Milliseconds(), 10) },
			"__rate_interval": func() string { return promDuration(v.RateInterval) },
			"__range":         func() string { return promDuration(v.Range) },
			"__range_s":       func() string { return strconv.FormatInt(int64(v.Range.Round(time.Second)/time.Second), 10) },
			"__range_ms":      func() string { return strconv.FormatInt(v.Range.Milliseconds(), 10) },
		}[name]
		if isBuiltin {
			if format != "" {
				errs = append(errs, m+" (a format on a built-in variable)")
				return m
			}
			return builtin()
		}
		vals, ok := v.Values[name]
		if !ok || len(vals) == 0 {
			errs = append(errs, m)
			return m
		}
		switch format {
		case "":
			return regexValue(vals)
		case "regex":
			return grafanaRegexFormat(vals)
		case "pipe":
			return strings.Join(vals, "|")
		default:
			errs = append(errs, m+" (format "+format+" not implemented)")
			return m
		}
	})
	if len(errs) > 0 {
		return "", fmt.Errorf("query %q: no value for %s", expr, strings.Join(errs, ", "))
	}
	return out, nil
}

// grafanaRegexFormat is Grafana's :regex format: each value regex-escaped (one backslash, not
// escaped again for the PromQL string, so that a "." in a double-quoted matcher is an error
// in Prometheus as it is from Grafana), several joined as (a|b).
func grafanaRegexFormat(vals []string) string {
	esc := make([]string, len(vals))
	for i, s := range vals {
		var b strings.Builder
		for _, r := range s {
			if strings.ContainsRune(`\^$*+?.()|[]{}/`, r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		esc[i] = b.String()
	}
	if len(esc) == 1 {
		return esc[0]
	}
	return "(" + strings.Join(esc, "|") + ")"
}

// regexValue is vals as Grafana writes them into a regex matcher inside a PromQL string:
// regex-escaped, then escaped for the double-quoted string (Grafana leaves a double quote
// as it is and breaks the query; here it is escaped, so that such a value still selects its
// pool).
func regexValue(vals []string) string {
	esc := make([]string, len(vals))
	for i, s := range vals {
		esc[i] = strings.ReplaceAll(strings.ReplaceAll(regexp.QuoteMeta(s), `\`, `\\`), `"`, `\"`)
	}
	if len(esc) == 1 {
		return esc[0]
	}
	return "(" + strings.Join(esc, "|") + ")"
}

// promDuration writes d as a Prometheus duration: whole seconds, or milliseconds for a
// round interval under a second (at least 1ms).
func promDuration(d time.Duration) string {
	if d%time.Second != 0 && d < time.Second {
		return strconv.FormatInt(max(d.Milliseconds(), 1), 10) + "ms"
	}
	s := int64(d.Round(time.Second) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10) + "s"
}
