package exporter

import (
	"fmt"
	"math"

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

// RouteOptions are a module's settings for the route series.
type RouteOptions struct {
	// Normalizer turns requests into routes; nil applies no rewrite rule.
	Normalizer *route.Normalizer
	// Max is how many routes a pool exposes besides route.Other.
	Max int
}

// Routes returns the route series of one pool's running requests: at most o.Max routes
// holding the most workers, then route.Other for the rest. It checks the ages, and that the
// requests are not more than the busy workers (a source whose request records are not the
// pool's own would otherwise name routes the pool is not running); nothing is exposed for a
// pool whose records break that.
func Routes(reqs []Request, busy float64, o RouteOptions) ([]route.Stat, error) {
	if float64(len(reqs)) > busy {
		return nil, fmt.Errorf("%d running requests reported for %v busy workers", len(reqs), busy)
	}
	var t route.Tally
	for _, r := range reqs {
		if math.IsNaN(r.AgeSeconds) || math.IsInf(r.AgeSeconds, 0) || r.AgeSeconds < 0 {
			return nil, fmt.Errorf("request %q has run for %v seconds", r.Target, r.AgeSeconds)
		}
		name := route.Other
		if r.Target != "" {
			name = o.Normalizer.Route(r.Method, r.Target)
		}
		t.Add(name, r.AgeSeconds)
	}
	return t.Top(o.Max), nil
}
