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
// drawn with maxDataPoints points from a data source whose scrape interval is scrape.
func GrafanaIntervals(timeRange, scrape time.Duration, maxDataPoints int) (interval, rateInterval time.Duration) {
	interval = (timeRange / time.Duration(maxDataPoints)).Round(time.Second)
	if interval < scrape {
		interval = scrape
	}
	rateInterval = interval + scrape
	if r := 4 * scrape; r > rateInterval {
		rateInterval = r
	}
	return interval, rateInterval
}

// variableRE matches $name, ${name} and [[name]].
var variableRE = regexp.MustCompile(`\$\{([a-zA-Z0-9_]+)\}|\$([a-zA-Z0-9_]+)|\[\[([a-zA-Z0-9_]+)\]\]`)

// Expand substitutes vars into expr as Grafana's Prometheus data source does for regex
// matchers (every variable of these dashboards is used with =~): each value is regex-escaped,
// several values are joined as (a|b). A variable it does not know is an error, so that a query
// cannot reach Prometheus with a literal $name in it.
func Expand(expr string, v Vars) (string, error) {
	var unknown []string
	out := variableRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := variableRE.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		switch name {
		case "__interval":
			return promDuration(v.Interval)
		case "__interval_ms":
			return strconv.FormatInt(v.Interval.Milliseconds(), 10)
		case "__rate_interval":
			return promDuration(v.RateInterval)
		case "__range":
			return promDuration(v.Range)
		case "__range_s":
			return strconv.FormatInt(int64(v.Range.Seconds()), 10)
		case "__range_ms":
			return strconv.FormatInt(v.Range.Milliseconds(), 10)
		}
		vals, ok := v.Values[name]
		if !ok || len(vals) == 0 {
			unknown = append(unknown, m)
			return m
		}
		return regexValue(vals)
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("query %q: no value for %s", expr, strings.Join(unknown, ", "))
	}
	return out, nil
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

// promDuration writes d as a Prometheus duration in whole seconds (at least 1s).
func promDuration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10) + "s"
}
