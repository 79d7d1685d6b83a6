package exporter

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/poolwatch/poolwatch/internal/route"
)

// Request is one request a pool's worker is running at scrape time, as the source reports it
// (CherryPy's cpstats, PHP-FPM's full status, Apache's scoreboard all give a method and a
// URI). The exporter, not the source, turns it into a route, so that every source gets the
// module's rewrite rules, the same normalisation and the same bound.
type Request struct {
	// Method is the request's HTTP method; empty if the source does not report it.
	Method string
	// Target is the request target as sent (path and query string). Empty means the source
	// could not read it: the request is counted in route "other".
	Target string
	// AgeSeconds is how long the request has run so far.
	AgeSeconds float64
}

// RouteOptions are a target's settings for the route series. The zero value applies no
// rewrite rule and keeps route.DefaultMax routes.
type RouteOptions struct {
	// Normalizer turns requests into routes; nil applies no rewrite rule.
	Normalizer *route.Normalizer
	// Max is how many routes a pool exposes besides route.Other; 0 means route.DefaultMax.
	Max int
}

// RoutesConfig is the "routes" section of a module.
type RoutesConfig struct {
	// Max is how many routes a pool exposes besides "other" (default 20). Every route is a
	// series, so this bounds what one pool adds to Prometheus whatever its clients request.
	Max int `yaml:"max,omitempty"`
	// Rewrite rules run, in order, on each request's path (query string removed) before the
	// built-in normalisation, e.g. {match: "^/static/.*", replacement: "/static"}.
	Rewrite []route.RuleConfig `yaml:"rewrite,omitempty"`
}

// Options checks the section and returns the options it describes.
func (c RoutesConfig) Options() (RouteOptions, error) {
	if c.Max < 0 {
		return RouteOptions{}, fmt.Errorf("routes: max is %d, want 0 (the default, %d) or more", c.Max, route.DefaultMax)
	}
	rules, err := route.Compile(c.Rewrite)
	if err != nil {
		return RouteOptions{}, fmt.Errorf("routes: %w", err)
	}
	return RouteOptions{Normalizer: route.NewNormalizer(rules...), Max: c.Max}, nil
}

// Routes returns the route series of one pool's running requests: at most o.Max routes
// holding the most workers, then route.Other for the rest. An age that is not a finite,
// non-negative number is an error, and nothing is exposed for the pool.
//
// The routes never hold more workers than the pool has busy, as the contract requires: a
// source that reports more running requests than busy workers (cpstats reads its threads
// and its requests one after the other, so a request that starts in between is in the second
// only; and its request records are process-wide) has its youngest requests left out, those
// the busy count missed, and dropped says how many.
func Routes(reqs []Request, busy float64, o RouteOptions) (stats []route.Stat, dropped int, err error) {
	for _, r := range reqs {
		if math.IsNaN(r.AgeSeconds) || math.IsInf(r.AgeSeconds, 0) || r.AgeSeconds < 0 {
			return nil, 0, fmt.Errorf("a running request has run for %v seconds", r.AgeSeconds)
		}
	}
	if n := int(max(busy, 0)); len(reqs) > n {
		dropped = len(reqs) - n
		reqs = slices.Clone(reqs)
		slices.SortStableFunc(reqs, func(a, b Request) int { return cmp.Compare(b.AgeSeconds, a.AgeSeconds) })
		reqs = reqs[:n]
	}
	var t route.Tally
	for _, r := range reqs {
		name := route.Other
		if r.Target != "" {
			name = o.Normalizer.Route(r.Method, r.Target)
		}
		t.Add(name, r.AgeSeconds)
	}
	if o.Max <= 0 {
		o.Max = route.DefaultMax
	}
	return t.Top(o.Max), dropped, nil
}
