package route

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestTopKeepsAll(t *testing.T) {
	var tl Tally
	tl.Add("GET /slow", 3)
	tl.Add("GET /a", 1)
	tl.Add("GET /slow", 5)
	got := tl.Top(DefaultMax)
	want := []Stat{{"GET /slow", 2, 5}, {"GET /a", 1, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Top = %+v, want %+v", got, want)
	}
}

func TestTopFolds(t *testing.T) {
	var tl Tally
	tl.AddN("c", 1, 9)
	tl.AddN("a", 5, 1)
	tl.AddN("b", 2, 2)
	tl.AddN("d", 1, 4)
	tl.AddN("e", 1, 4)
	// c, d and e tie on busy: c has the oldest task; d and e tie on that too and go by name.
	got := tl.Top(3)
	want := []Stat{{"a", 5, 1}, {"b", 2, 2}, {"c", 1, 9}, {Other, 2, 4}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Top(3) = %+v, want %+v", got, want)
	}
}

func TestTopOtherNamed(t *testing.T) {
	// A route really called "other" is summed into the fold, never a second series.
	var tl Tally
	tl.AddN(Other, 7, 1)
	tl.AddN("x", 1, 3)
	if got, want := tl.Top(5), []Stat{{"x", 1, 3}, {Other, 7, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Top = %+v, want %+v", got, want)
	}
	tl = Tally{}
	tl.AddN(Other, 2, 1)
	tl.AddN("x", 1, 3)
	tl.AddN("y", 1, 5)
	if got, want := tl.Top(1), []Stat{{"y", 1, 5}, {Other, 3, 3}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Top(1) = %+v, want %+v", got, want)
	}
	tl = Tally{}
	tl.AddN("x", 1, 3)
	if got, want := tl.Top(0), []Stat{{Other, 1, 3}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Top(0) = %+v, want %+v", got, want)
	}
	if got := (&Tally{}).Top(3); len(got) != 0 {
		t.Fatalf("empty Top = %+v", got)
	}
}

// Whatever the input order, the same counts give the same series, at most n+1 of them, with
// every busy worker accounted for.
func TestTopProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 500 {
		n := r.IntN(6)
		routes := r.IntN(12)
		var adds []Stat
		for i := range routes {
			name := fmt.Sprintf("r%d", i)
			if i == 0 && r.IntN(4) == 0 {
				name = Other
			}
			for range 1 + r.IntN(3) {
				adds = append(adds, Stat{name, 1 + r.IntN(3), float64(r.IntN(4))})
			}
		}
		var results [][]Stat
		for range 2 {
			r.Shuffle(len(adds), func(i, j int) { adds[i], adds[j] = adds[j], adds[i] })
			var tl Tally
			total := 0
			for _, a := range adds {
				tl.AddN(a.Route, a.Busy, a.Oldest)
				total += a.Busy
			}
			top := tl.Top(n)
			if len(top) > n+1 {
				t.Fatalf("trial %d: %d series for n=%d", trial, len(top), n)
			}
			sum, seen := 0, map[string]bool{}
			for _, s := range top {
				sum += s.Busy
				if seen[s.Route] {
					t.Fatalf("trial %d: route %q twice: %+v", trial, s.Route, top)
				}
				seen[s.Route] = true
			}
			if sum != total {
				t.Fatalf("trial %d: busy %d over routes, want %d", trial, sum, total)
			}
			results = append(results, append([]Stat(nil), top...))
		}
		if !reflect.DeepEqual(results[0], results[1]) {
			t.Fatalf("trial %d: order-dependent: %+v vs %+v", trial, results[0], results[1])
		}
	}
}

func TestTallyAllocations(t *testing.T) {
	var tl Tally
	routes := []string{"GET /a", "GET /b", "GET /c", "GET /b"}
	// A Tally reused from scrape to scrape allocates nothing once it has grown.
	scrape := func() {
		tl.Reset()
		for i, r := range routes {
			tl.Add(r, float64(i))
		}
		if top := tl.Top(1); len(top) != 2 || top[0].Route != "GET /b" || top[1].Busy != 2 {
			t.Fatalf("Top(1) = %+v", top)
		}
	}
	if a := testing.AllocsPerRun(100, scrape); a != 0 {
		t.Errorf("a scrape's tally: %v allocations", a)
	}
}
