package poolsim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// at returns the sample scraped at t seconds.
func at(t *testing.T, res *Result, sec float64) Sample {
	t.Helper()
	for _, s := range res.Samples {
		if math.Abs(s.T-sec) < 1e-6 {
			return s
		}
	}
	t.Fatalf("no sample at %vs", sec)
	return Sample{}
}

// values returns the values of the series whose selector starts with name{, one per sample.
func values(t *testing.T, series []InputSeries, name string) []float64 {
	t.Helper()
	for _, s := range series {
		if strings.HasPrefix(s.Series, name+"{") {
			var vs []float64
			for _, f := range strings.Fields(s.Values) {
				v, err := strconv.ParseFloat(f, 64)
				if err != nil {
					v = math.NaN() // "_" or "stale": no sample
				}
				vs = append(vs, v)
			}
			return vs
		}
	}
	t.Fatalf("no series %s", name)
	return nil
}

// Growing a saturated pool: the new workers take queued tasks at once (the scrape at the
// resize's minute sees them busy), and the backlog drains.
func TestResizeGrowDrainsQueue(t *testing.T) {
	// 2 workers of 0.5 s tasks at 6/s: 3 workers' worth, the queue grows by 2/s, about 1200
	// tasks by minute 10. 8 workers drain it at 10/s, in about 2 minutes.
	sc := mustParse(t, `{"name": "grow", "kind": "healthy", "instance": "i", "horizon": "20m", "workers": 2,
		"resize": [[10, 8]], "arrival": 6, "service": 0.5, "seed": 3}`)
	res := Simulate(sc)
	checkInvariants(t, sc, res)
	before, after := at(t, res, 600-15), at(t, res, 600)
	if before.Workers != 2 || before.Busy != 2 || before.Queued < 1000 {
		t.Fatalf("before the resize: %d of %d busy, %d queued: want a saturated pool with a long queue", before.Busy, before.Workers, before.Queued)
	}
	if math.IsNaN(res.Stall) || res.Stall > 600 {
		t.Fatalf("stall at %v s: the pool was meant to stall before it grew", res.Stall)
	}
	if after.Workers != 8 || after.Busy != 8 || after.Wait.Count()-before.Wait.Count() < 6 {
		t.Fatalf("at the resize: %d of %d busy, %d tasks started since the last scrape: want the 6 new workers busy at once",
			after.Busy, after.Workers, after.Wait.Count()-before.Wait.Count())
	}
	for _, s := range res.Samples {
		if s.T >= 15*60 && (s.OldestQueued > 5 || s.Queued > 20) {
			t.Fatalf("t=%v: %d queued, the oldest for %.1f s: the backlog was meant to be drained", s.T, s.Queued, s.OldestQueued)
		}
	}
}

// Shrinking a saturated pool kills nothing: the running tasks finish, and none starts while
// as many run as the new capacity, so busy stays above it for a while, and goes down only.
func TestResizeShrinkFinishesRunningTasks(t *testing.T) {
	// 8 workers of exactly 60 s tasks at 0.2/s (12 workers' worth) or 0.5/s (30): saturated
	// with a queue, the 8 running tasks end at staggered times in the minute after the shrink
	// to 2. With a bounded queue, it stays full meanwhile: what finds no room is refused.
	for _, tc := range []struct{ queue, arrival string }{{"null", "0.2"}, {"3", "0.5"}} {
		queue := tc.queue
		sc := mustParse(t, `{"name": "shrink", "kind": "healthy", "instance": "i", "horizon": "15m", "workers": 8,
			"queue": `+queue+`, "resize": [[10, 2]], "arrival": `+tc.arrival+`, "service": 60, "sigma": 0, "seed": 5}`)
		res := Simulate(sc)
		checkInvariants(t, sc, res)
		shrink := at(t, res, 600)
		if shrink.Workers != 2 || shrink.Busy != 8 || shrink.Queued == 0 {
			t.Fatalf("queue %s: at the shrink: %d of %d busy, %d queued: want the 8 tasks still running, work waiting", queue, shrink.Busy, shrink.Workers, shrink.Queued)
		}
		over, prev := 0, shrink
		for _, s := range res.Samples {
			if s.T <= 600 {
				continue
			}
			if s.Queued == 0 {
				t.Fatalf("queue %s: t=%v: the queue emptied: the test needs work waiting throughout", queue, s.T)
			}
			if s.Busy > s.Workers {
				over++
				if s.Wait.Count() != shrink.Wait.Count() || s.Busy > prev.Busy {
					t.Fatalf("queue %s: t=%v: %d busy of %d, %d tasks started since the shrink: none may start while more run than the capacity",
						queue, s.T, s.Busy, s.Workers, s.Wait.Count()-shrink.Wait.Count())
				}
			} else if s.Busy != 2 {
				t.Fatalf("queue %s: t=%v: %d busy of 2 with work waiting", queue, s.T, s.Busy)
			}
			prev = s
		}
		if over == 0 || at(t, res, 660).Busy != 2 {
			t.Fatalf("queue %s: %d scrapes above the capacity after the shrink, %d busy a minute later: want some, then 2", queue, over, at(t, res, 660).Busy)
		}
		if sc.Queue != nil && at(t, res, 660).Rejected == shrink.Rejected {
			t.Fatalf("queue %s: nothing refused in the minute after the shrink, with the queue full", queue)
		}
	}
}

// max_workers and workers follow the capacity at every scrape, never below busy (the
// contract's busy <= workers <= max_workers: a worker finishing its task after a shrink is
// still alive); the stats page on the pool goes silent when the current capacity is busy.
func TestResizeSeriesFollowCapacity(t *testing.T) {
	sc := mustParse(t, `{"name": "steps", "kind": "healthy", "instance": "i", "horizon": "30m", "workers": 2,
		"resize": [[10, 8], [20, 3]], "arrival": 6, "service": 0.5, "seed": 3}`)
	res := Simulate(sc)
	checkInvariants(t, sc, res)
	series := Series(sc, res.Samples)
	maxW, workers, busy := values(t, series, contract.MaxWorkers), values(t, series, contract.Workers), values(t, series, contract.BusyWorkers)
	seen := map[float64]bool{}
	for i, s := range res.Samples {
		want := float64(max(sc.WorkersAt(s.T), s.Busy))
		if maxW[i] != want || workers[i] != want || busy[i] > workers[i] {
			t.Fatalf("t=%v: max_workers %v workers %v busy %v, want capacity %v", s.T, maxW[i], workers[i], busy[i], want)
		}
		if busy[i] <= float64(sc.WorkersAt(s.T)) {
			seen[maxW[i]] = true
		}
	}
	if !seen[2] || !seen[8] || !seen[3] || maxW[0] != 2 || maxW[len(maxW)-1] != 3 {
		t.Fatalf("max_workers took %v, want each of the steps 2, 8, 3", seen)
	}

	// The same pool with its stats page on it: silent exactly where the capacity of the
	// moment (not the scenario's first one) is busy and work waits.
	cp := mustParse(t, `{"name": "steps-cp", "kind": "healthy", "source": "cherrypy", "stats_on_main_pool": true,
		"instance": "i", "horizon": "30m", "workers": 2, "resize": [[10, 8], [20, 3]], "arrival": 6, "service": 0.5, "seed": 3}`)
	cres := Simulate(cp)
	up := strings.Fields(Series(cp, cres.Samples)[len(Series(cp, cres.Samples))-1].Values)
	silent := map[bool]int{}
	for i, s := range cres.Samples {
		exhausted := s.Busy >= s.Workers && s.Queued > 0
		if exhausted != (up[i] == "0") {
			t.Fatalf("t=%v: %d of %d busy, %d queued: poolwatch_up %s", s.T, s.Busy, s.Workers, s.Queued, up[i])
		}
		if exhausted {
			silent[s.Workers != cp.Workers]++
		}
	}
	if silent[false] == 0 || silent[true] == 0 {
		t.Fatalf("silent scrapes at the first capacity %d, at a later one %d: want both", silent[false], silent[true])
	}
}

// Saturated seconds count the time the capacity of the moment is busy: before the shrink the
// 8-worker pool at 2 busy is almost never saturated; from it on, a single worker (then 2)
// with work always waiting is saturated every second, the shrink's aftermath included, when
// more than one task still runs.
func TestResizeSaturatedAtCurrentCapacity(t *testing.T) {
	sc := mustParse(t, `{"name": "sat", "kind": "healthy", "instance": "i", "horizon": "20m", "workers": 8,
		"resize": [[10, 1], [15, 2]], "arrival": 2, "service": 1, "seed": 2}`)
	res := Simulate(sc)
	checkInvariants(t, sc, res)
	for _, s := range res.Samples {
		if s.T > 600 && s.Queued == 0 {
			t.Fatalf("t=%v: the queue emptied: the test needs work waiting from the shrink on", s.T)
		}
	}
	shrink, end := at(t, res, 600), res.Samples[len(res.Samples)-1]
	if shrink.Busy < 2 || shrink.SaturatedSeconds > 30 {
		t.Fatalf("at the shrink: %d busy, saturated %.1f s: want a lightly loaded pool with more than one task running", shrink.Busy, shrink.SaturatedSeconds)
	}
	if got := end.SaturatedSeconds - shrink.SaturatedSeconds; math.Abs(got-600) > 1e-6 {
		t.Fatalf("saturated %.3f s of the 600 s after the shrink, want all", got)
	}
}

// The offered load does not depend on the resizes: the same arrivals, task by task.
func TestResizeKeepsTheLoad(t *testing.T) {
	js := `{"name": "load", "kind": "healthy", "instance": "i", "horizon": "20m", "workers": 4, "queue": 10,
		"arrival": [[0, 8], [20, 20]], "service": 0.5, "hang_every": "6m", "seed": 9}`
	a := Simulate(mustParse(t, js))
	// The shrink to 1 comes while the queue is full: more tasks run than the capacity, and the
	// queue must still refuse what it has no room for.
	rsc := mustParse(t, strings.Replace(js, `"queue": 10,`, `"queue": 10, "resize": [[5, 1], [12, 9]],`, 1))
	b := Simulate(rsc)
	checkInvariants(t, rsc, b)
	if s := at(t, b, 300); s.Busy <= 1 || s.Queued != 10 {
		t.Fatalf("at the shrink: %d busy, %d queued: want a full pool and queue", s.Busy, s.Queued)
	}
	if a.Tasks != b.Tasks || a.Hung != b.Hung {
		t.Fatalf("%d tasks (%d hung) without resizes, %d (%d) with", a.Tasks, a.Hung, b.Tasks, b.Hung)
	}
	differ := false
	for i := range a.Samples {
		if a.Samples[i].Submitted != b.Samples[i].Submitted {
			t.Fatalf("t=%v: %d submitted against %d", a.Samples[i].T, a.Samples[i].Submitted, b.Samples[i].Submitted)
		}
		differ = differ || a.Samples[i].Busy != b.Samples[i].Busy
	}
	if !differ || a.Samples[len(a.Samples)-1].Rejected == b.Samples[len(b.Samples)-1].Rejected {
		t.Fatal("the resizes were meant to change the pool's course")
	}
}

// unresized are scenarios without resizes, covering every path of the series: the Go source
// with a bounded queue, rejections and hung tasks; an unbounded stall; a stats page on its
// pool; a source without a queue.
var unresized = []struct{ js, digest string }{
	{`{"name": "go-bounded", "kind": "healthy", "instance": "i", "horizon": "20m", "workers": 4, "queue": 5,
		"arrival": [[0, 4], [20, 12]], "service": 0.5, "hang_every": "7m", "seed": 3}`,
		"c4b4913f5ac5dfeeff82f483a1bfcb2ce3917c1d56a54bf7d3a5cf14e01dcc1c"},
	{`{"name": "go-unbounded", "kind": "exhaustion", "instance": "i", "horizon": "30m", "workers": 8,
		"arrival": [[0, 10], [30, 20]], "service": 0.6, "sigma": 1, "seed": 8}`,
		"b9d7827ca6b8ebe955242441b21526f71400e2a5219b94bd3ab5fa74b3491049"},
	{`{"name": "cherrypy-main-pool", "kind": "healthy", "source": "cherrypy", "stats_on_main_pool": true, "job": "cp",
		"instance": "shop:8080", "pool": "0.0.0.0:8080", "horizon": "10m", "workers": 2,
		"arrival": [[0, 1], [5, 1], [5.01, 30]], "service": 0.25, "seed": 4}`,
		"b41b7725f636a31f065f6713feecaae2fe0c2398a085bbac80828448112a4337"},
	{`{"name": "phpfpm-no-queue", "kind": "healthy", "source": "phpfpm", "instance": "i", "horizon": "15m", "workers": 3, "queue": 0,
		"arrival": {"sine": {"period": "10m", "lo": 2, "hi": 9}}, "service": 0.4, "seed": 2}`,
		"e3f9cf4b8bc12d8f065b7b5c691607a8d12bc4ab2d8606d372f56fcaf5600cba"},
}

// digest is the SHA-256 of what a run writes for promtool, and of its stall.
func digest(sc *Scenario) string {
	res := Simulate(sc)
	h := sha256.New()
	for _, s := range Series(sc, res.Samples) {
		fmt.Fprintf(h, "%s %s\n", s.Series, s.Values)
	}
	fmt.Fprintf(h, "stall %v tasks %d hung %d\n", res.Stall, res.Tasks, res.Hung)
	return hex.EncodeToString(h.Sum(nil))
}

// A scenario without resizes gives the series it gave before they existed, byte for byte
// (the digests were computed by the simulator before resizes, on amd64: floating point
// elsewhere may differ in the last bit; a deliberate change of the series updates them, and
// its commit says why). Resize steps that keep the capacity change nothing either, on any
// platform: at minute 0, or in mid-run.
func TestWithoutResizeSeriesUnchanged(t *testing.T) {
	for _, u := range unresized {
		sc := mustParse(t, u.js)
		t.Run(sc.Name, func(t *testing.T) {
			got := digest(sc)
			if pinnedFloats && got != u.digest {
				t.Errorf("series digest %s, before resizes %s", got, u.digest)
			}
			w := strconv.Itoa(sc.Workers)
			for _, steps := range []string{`[[0, ` + w + `]]`, `[[0, ` + w + `], [4.5, ` + w + `], [7, ` + w + `]]`} {
				same := mustParse(t, strings.Replace(u.js, `"workers": `+w+`,`, `"workers": `+w+`, "resize": `+steps+`,`, 1))
				if len(same.Resize) == 0 {
					t.Fatal("the resize steps were not added")
				}
				if d := digest(same); d != got {
					t.Errorf("resize %s to the same capacity: series digest %s, without %s", steps, d, got)
				}
			}
		})
	}
}

func TestResizeValidation(t *testing.T) {
	ok := `{"name": "x", "kind": "healthy", "instance": "i", "horizon": "1h", "workers": 2, "arrival": 1, "service": 0.1}`
	sc := mustParse(t, strings.Replace(ok, `"workers": 2`, `"workers": 2, "resize": [[0, 3], [10, 1], [60, 6]]`, 1))
	for sec, want := range map[float64]int{0: 3, 599: 3, 600: 1, 3599: 1, 3600: 6} {
		if got := sc.WorkersAt(sec); got != want {
			t.Errorf("workers at %vs: %d, want %d", sec, got, want)
		}
	}
	for resize, want := range map[string]string{
		`[[10, 4], [5, 2]]`:  "resize: step 1 at minute 5: the minutes must increase",
		`[[10, 4], [10, 2]]`: "resize: step 1 at minute 10: the minutes must increase",
		`[[61, 4]]`:          "resize: step 0 at minute 61: must be within 0 and the horizon (1h)",
		`[[-1, 4]]`:          "resize: step 0 at minute -1: must be within 0 and the horizon",
		`[[10, 0]]`:          "resize: step 0: workers 0: at least 1",
		`[[10, 2.5]]`:        "resize: step 0: workers 2.5: want a whole number",
		`[[10, 2, 3]]`:       "resize: step 0: want [minute, workers]",
		`[10, 2]`:            "resize: want [[minute, workers], ...]",
		`{"at": 10}`:         "resize: want [[minute, workers], ...]",
	} {
		_, err := Parse([]byte(strings.Replace(ok, `"workers": 2`, `"workers": 2, "resize": `+resize, 1)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("resize %s: error %v, want %q", resize, err, want)
		}
	}
}

// A stats page served by its pool cannot answer while more tasks run than a shrink left
// workers and work waits: every worker is busy. TestResizeSeriesFollowCapacity never meets
// busy above the capacity at a scrape with work waiting, so a rule of busy == capacity
// passed it too.
func TestResizeStatsPageSilentWhileShrinking(t *testing.T) {
	sc := mustParse(t, `{"name": "shrink-cp", "kind": "healthy", "source": "cherrypy", "stats_on_main_pool": true,
		"instance": "i", "horizon": "15m", "workers": 8, "resize": [[10, 2]], "arrival": 0.2, "service": 60, "sigma": 0, "seed": 5}`)
	res := Simulate(sc)
	checkInvariants(t, sc, res)
	up := values(t, Series(sc, res.Samples), contract.Up)
	above := 0
	for i, s := range res.Samples {
		if s.Busy > s.Workers && s.Queued > 0 {
			above++
			if up[i] != 0 {
				t.Errorf("t=%v: %d of %d busy, %d queued: poolwatch_up %v, want 0", s.T, s.Busy, s.Workers, s.Queued, up[i])
			}
		}
	}
	if above == 0 {
		t.Fatal("no scrape with more tasks running than the capacity and work waiting: the test needs some")
	}
}

// A resize whose minute lands on a scrape comes before it, also where minute x 60 is not a
// whole number of seconds in floating point (4.15 x 60 = 249.00000000000003): the scrape at
// 249 s must see the new capacity, as it does for a resize at minute 4.25 and a 15 s scrape.
func TestResizeMinuteOnAScrape(t *testing.T) {
	for _, tc := range []struct {
		minute, scrape string
		sec            float64
	}{{"4.15", "3s", 249}, {"8.2", "4s", 492}, {"4.25", "15s", 255}} {
		sc := mustParse(t, `{"name": "on-scrape", "kind": "healthy", "instance": "i", "horizon": "`+tc.minute+`m", "scrape": "`+tc.scrape+`",
			"workers": 2, "resize": [[`+tc.minute+`, 5]], "arrival": 1, "service": 0.5, "seed": 1}`)
		res := Simulate(sc)
		checkInvariants(t, sc, res)
		if s := at(t, res, tc.sec); s.Workers != 5 || sc.WorkersAt(tc.sec) != 5 {
			t.Errorf("resize at minute %s: the scrape at %v s sees %d workers (WorkersAt %d), want 5", tc.minute, tc.sec, s.Workers, sc.WorkersAt(tc.sec))
		}
	}
}
