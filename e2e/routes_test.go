package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
)

// slowRoute is the route of every request of the load: the exporter normalises
// "GET /slow?seconds=1 HTTP/1.1" to it.
const slowRoute = "GET /slow"

// culprit is how the mixin's exhaustion descriptions name the route holding the most workers.
var culprit = regexp.MustCompile(`The route holding the most workers is (.+): ([0-9]+) busy, its oldest request running for (.+)\.$`)

// checkRoutes asserts, while the slow route exhausts the pool, that the exporter reports that
// route holding the workers with the right count and age (against the pool's own series of
// the same scrape), and that the page's description names it.
func checkRoutes(t *testing.T, api promAPI, hook *webhook, pool map[string]string) {
	t.Helper()
	ctx := context.Background()
	sel := fmt.Sprintf(`job=%q,instance=%q,pool=%q`, pool["job"], pool["instance"], pool["pool"])
	route := fmt.Sprintf(`%s,route=%q`, sel, slowRoute)
	on := "on (job, instance, pool)"
	one := func(expr string) (float64, bool) {
		v, err := api.query(ctx, expr)
		if err != nil {
			t.Errorf("query %s: %v", expr, err)
			return 0, false
		}
		if len(v) != 1 {
			t.Errorf("query %s: %d series, want 1", expr, len(v))
			return 0, false
		}
		return v[0].Value, true
	}
	// Each one query, so that both sides come from the same scrape.
	if busy, ok := one(fmt.Sprintf("workerpool_route_busy_workers{%s} / %s workerpool_max_workers{%s}", route, on, sel)); ok && busy < 0.8 {
		t.Errorf("route %q holds %.0f%% of the workers while it exhausts the pool", slowRoute, 100*busy)
	}
	// A thread that has just taken a connection counts busy before its request starts.
	if d, ok := one(fmt.Sprintf("workerpool_busy_workers{%s} - %s workerpool_route_busy_workers{%s}", sel, on, route)); ok && (d < 0 || d > 1) {
		t.Errorf("busy workers minus route %q's = %v, want 0 (or 1)", slowRoute, d)
	}
	if d, ok := one(fmt.Sprintf("workerpool_oldest_running_task_age_seconds{%s} - %s workerpool_route_oldest_running_task_age_seconds{%s}", sel, on, route)); ok && d != 0 {
		t.Errorf("pool's oldest running age minus route %q's = %v, want 0: every request is on it", slowRoute, d)
	}
	if n, ok := one(fmt.Sprintf("count(workerpool_route_busy_workers{%s})", sel)); ok && n != 1 {
		t.Errorf("%v routes, want only %q", n, slowRoute)
	}

	critical, ok := hook.first(withLabel(pool, "severity", "critical"))
	if !ok {
		return // checkTimeline says so
	}
	m := culprit.FindStringSubmatch(critical.Description)
	if m == nil || m[1] != slowRoute {
		t.Errorf("the critical %s does not name route %q: %q", critical.Labels["alertname"], slowRoute, critical.Description)
		return
	}
	if n, _ := strconv.Atoi(m[2]); n < cherrypyThreads*8/10 {
		t.Errorf("the critical says route %q holds %d workers of %d", slowRoute, n, cherrypyThreads)
	}
	t.Logf("the page names the culprit: %s", m[0])
}
