package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/panelquery"
)

// grafanaMaxDataPoints is the number of points Grafana asks of a panel about 1000 pixels wide:
// with the time range, it sets $__interval.
const grafanaMaxDataPoints = 1000

// poolSelection is what a user picks in the dashboards' variables to look at one kind of pool.
type poolSelection struct {
	kind string // panelquery.PoolsGo or PoolsCherryPy
	// pick are the values picked for some variables (job at least); each must be among those
	// the variable's query offers. A variable not in pick takes every value offered.
	pick map[string][]string
}

// checkPanels is issue 9, point 6: every query of every panel of the dashboards (rendered with
// the test's _config, so that they name its recording rules) runs against this Prometheus over
// the run's time range, first with the Go pools picked in the variables, then with the CherryPy
// pool. Each must evaluate without error and return data for each kind of pool, unless
// mixin/README.md lists it as absent by design for that kind (and that Prometheus, for the
// native-histogram queries). A listed query that does
// return data fails too, so that the list cannot rot. The variables' own label_values queries
// are run as Grafana runs them, and their answers are the values picked.
func checkPanels(t *testing.T, api promAPI, root, dashDir string, from, to time.Time, scrape time.Duration, native bool, selections []poolSelection) {
	t.Helper()
	ctx := context.Background()
	began := time.Now()
	dashboards, err := panelquery.Load(dashDir)
	if err != nil {
		t.Errorf("dashboards: %v", err)
		return
	}
	shipped, err := panelquery.Load(filepath.Join(root, "dashboards"))
	if err != nil {
		t.Errorf("dashboards: %v", err)
		return
	}
	// The rendering with the shrunk windows has the same panels and queries as dashboards/.
	if got, want := targetKeys(dashboards), targetKeys(shipped); !slices.Equal(got, want) {
		t.Errorf("the dashboards rendered with the test's _config have targets %v, dashboards/ has %v", got, want)
	}
	readme, err := os.ReadFile(filepath.Join(root, "mixin", "README.md"))
	if err != nil {
		t.Errorf("the list of panels absent by design: %v", err)
		return
	}
	absent, err := panelquery.ParseAbsent(readme)
	if err != nil {
		t.Errorf("mixin/README.md, panels absent by design: %v", err)
		return
	}

	timeRange := to.Sub(from)
	interval, rateInterval := panelquery.GrafanaIntervals(timeRange, scrape, grafanaMaxDataPoints)
	t.Logf("dashboards: time range %v, $__interval %v, $__rate_interval %v (scrape interval %v)", timeRange.Round(time.Second), interval, rateInterval, scrape)
	used := map[int]bool{}
	var summary []string
	variableQueries := 0
	for _, sel := range selections {
		targets, withData, absentN := 0, 0, 0
		for _, d := range dashboards {
			variableQueries += len(d.Variables)
			vars, err := pickVariables(ctx, api, d, sel, from, to)
			if err != nil {
				t.Errorf("%s, %s pools: %v", d.File, sel.kind, err)
				continue
			}
			vars.Interval, vars.RateInterval, vars.Range = interval, rateInterval, timeRange
			for _, tg := range d.Targets {
				targets++
				name := fmt.Sprintf("%s / %q / %s", tg.Dashboard, tg.Panel, tg.RefID)
				expr, err := panelquery.Expand(tg.Expr, vars)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if tg.Instant {
					// A table evaluates at the end of the range; whether it had data is judged
					// over the range below, since what is firing or running at the very end
					// depends on the moment.
					if _, err := api.instantQuery(ctx, expr, to); err != nil {
						t.Errorf("%s, %s pools: instant query %s: %v", name, sel.kind, expr, err)
						continue
					}
				}
				series, err := api.queryRange(ctx, expr, from, to, interval)
				if err != nil {
					t.Errorf("%s, %s pools: %s: %v", name, sel.kind, expr, err)
					continue
				}
				listed := -1
				for i, a := range absent {
					if a.Matches(tg, sel.kind, native) {
						listed, used[i] = i, true
					}
				}
				switch {
				case listed >= 0 && series > 0:
					t.Errorf("%s is listed in mixin/README.md as absent by design for %s pools (%s), but returns %d series: remove the row\n  %s",
						name, sel.kind, absent[listed].Why, series, expr)
				case listed < 0 && series == 0:
					t.Errorf("%s returns no data for the %s pools (%v) and mixin/README.md does not list it as absent by design\n  %s",
						name, sel.kind, vars.Values, expr)
				case listed >= 0:
					absentN++
				default:
					withData++
				}
			}
		}
		summary = append(summary, fmt.Sprintf("%s pools: %d targets, %d with data, %d absent by design", sel.kind, targets, withData, absentN))
	}
	// A row about a target that no longer exists, or for a Prometheus this run is, must go.
	for i, a := range absent {
		if !used[i] && (a.Prometheus == panelquery.PrometheusAny || !native) && hasSelection(selections, a.Pools) {
			t.Errorf("mixin/README.md lists %s as absent by design, but no such query was run: remove or fix the row", a)
		}
	}
	panels := 0
	for _, d := range dashboards {
		seen := map[string]bool{}
		for _, tg := range d.Targets {
			seen[tg.Panel] = true
		}
		panels += len(seen)
	}
	t.Logf("dashboards: %d dashboards, %d panels with queries, %d targets each run for %d pool selections (%d variable queries) in %.1fs; %s",
		len(dashboards), panels, len(targetKeys(dashboards)), len(selections), variableQueries, time.Since(began).Seconds(), strings.Join(summary, "; "))
}

// pickVariables runs the dashboard's variable queries in order, each with the values picked
// before it substituted, as Grafana does: a variable in sel.pick takes those values, which its
// query must offer; any other takes every value its query offers, which must be some.
func pickVariables(ctx context.Context, api promAPI, d panelquery.Dashboard, sel poolSelection, from, to time.Time) (panelquery.Vars, error) {
	vars := panelquery.Vars{Values: map[string][]string{}}
	for _, v := range d.Variables {
		match, err := panelquery.Expand(v.Match, vars)
		if err != nil {
			return vars, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		offered, err := api.labelValues(ctx, v.Label, match, from, to)
		if err != nil {
			return vars, fmt.Errorf("variable %s: label_values(%s, %s): %w", v.Name, match, v.Label, err)
		}
		sort.Strings(offered)
		if len(offered) == 0 {
			return vars, fmt.Errorf("variable %s: label_values(%s, %s) offers nothing", v.Name, match, v.Label)
		}
		picked, ok := sel.pick[v.Name]
		if !ok {
			picked = offered
		}
		for _, p := range picked {
			if !slices.Contains(offered, p) {
				return vars, fmt.Errorf("variable %s: label_values(%s, %s) offers %v, not %s", v.Name, match, v.Label, offered, p)
			}
		}
		vars.Values[v.Name] = picked
	}
	return vars, nil
}

// targetKeys lists every target as dashboard/panel/refId, sorted.
func targetKeys(ds []panelquery.Dashboard) []string {
	var keys []string
	for _, d := range ds {
		for _, tg := range d.Targets {
			keys = append(keys, tg.Dashboard+"/"+tg.Panel+"/"+tg.RefID)
		}
	}
	sort.Strings(keys)
	return keys
}

func hasSelection(sels []poolSelection, kind string) bool {
	for _, s := range sels {
		if s.kind == kind {
			return true
		}
	}
	return false
}
