package route

import (
	"cmp"
	"slices"
)

// Other is the route into which the routes beyond the top N are summed. A route that is
// itself called "other" is summed into it too, so that a pool never exposes two series with
// that label.
const Other = "other"

// DefaultMax is how many routes a pool exposes by default, besides Other.
const DefaultMax = 20

// Stat is what one route holds at a scrape.
type Stat struct {
	Route string
	// Busy is the number of workers running a task of the route.
	Busy int
	// Oldest is how long the route's longest-running task has run, in seconds.
	Oldest float64
}

// Tally counts running tasks by route during one scrape. The zero value is ready to use; a
// Tally is not safe for concurrent use (a scrape builds its own).
type Tally struct {
	index map[string]int // route -> position in stats
	stats []Stat
}

// Add counts one running task of route, running for age seconds.
func (t *Tally) Add(route string, age float64) { t.AddN(route, 1, age) }

// AddN counts busy running tasks of route, the oldest running for oldest seconds (already
// summed elsewhere, e.g. per shard). busy <= 0 adds nothing.
func (t *Tally) AddN(route string, busy int, oldest float64) {
	if busy <= 0 {
		return
	}
	if i, ok := t.index[route]; ok {
		s := &t.stats[i]
		s.Busy += busy
		s.Oldest = max(s.Oldest, oldest)
		return
	}
	if t.index == nil {
		t.index = make(map[string]int)
	}
	t.index[route] = len(t.stats)
	t.stats = append(t.stats, Stat{Route: route, Busy: busy, Oldest: oldest})
}

// Reset empties the Tally and keeps its storage, so that a collector can reuse one Tally
// from scrape to scrape without allocating.
func (t *Tally) Reset() {
	clear(t.index)
	t.stats = t.stats[:0]
}

// Busy is the number of tasks counted so far, over every route.
func (t *Tally) Busy() int {
	n := 0
	for _, s := range t.stats {
		n += s.Busy
	}
	return n
}

// Len is the number of distinct routes counted so far.
func (t *Tally) Len() int { return len(t.stats) }

// Top returns at most n+1 stats: the n routes holding the most workers, then, if any route is
// left, Other with their busy workers summed and the largest of their oldest ages. Ties are
// broken by the older oldest task, then by route name, so that the same state always gives
// the same series. n < 0 counts as 0 (everything in Other).
//
// Top reorders the Tally's own storage and returns a slice of it, allocating nothing: use
// the result before the next Add or Reset, and call Top once per Reset.
func (t *Tally) Top(n int) []Stat {
	n = max(n, 0)
	s := t.stats
	slices.SortFunc(s, byWeight)
	// A route called Other sorts last (see byWeight), so the routes kept are exactly those
	// before the first folded one.
	keep := min(n, len(s))
	if keep > 0 && s[keep-1].Route == Other {
		keep--
	}
	if keep == len(s) {
		return s
	}
	fold := Stat{Route: Other}
	for _, r := range s[keep:] {
		fold.Busy += r.Busy
		fold.Oldest = max(fold.Oldest, r.Oldest)
	}
	s[keep] = fold
	return s[:keep+1]
}

// byWeight orders routes by busy workers (most first), then oldest task (oldest first), then
// name; Other is always last.
func byWeight(a, b Stat) int {
	if (a.Route == Other) != (b.Route == Other) {
		if a.Route == Other {
			return 1
		}
		return -1
	}
	if c := cmp.Compare(b.Busy, a.Busy); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Oldest, a.Oldest); c != 0 {
		return c
	}
	return cmp.Compare(a.Route, b.Route)
}
