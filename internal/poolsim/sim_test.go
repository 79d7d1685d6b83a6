package poolsim

import (
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/poolwatch/poolwatch/internal/contract"
)

func mustParse(t *testing.T, js string) *Scenario {
	t.Helper()
	sc, err := Parse([]byte(js))
	if err != nil {
		t.Fatalf("parse %s: %v", js, err)
	}
	return sc
}

// checkInvariants holds every sample to what a scrape of a real pool must satisfy (the
// contract's invariants), and every counter to monotonicity.
func checkInvariants(t *testing.T, sc *Scenario, res *Result) {
	t.Helper()
	step := sc.Scrape.Seconds()
	most := sc.Workers // the most workers the pool ever has
	for _, st := range sc.Resize {
		most = max(most, st.Workers)
	}
	if want := int(math.Floor(sc.Horizon.Seconds()/step+1e-9)) + 1; len(res.Samples) != want {
		t.Fatalf("%d samples, want %d (0 to the horizon, every %v)", len(res.Samples), want, *sc.Scrape)
	}
	var prev Sample
	for i, s := range res.Samples {
		if math.Abs(s.T-float64(i)*step) > 1e-6 {
			t.Fatalf("sample %d at %v, want %v", i, s.T, float64(i)*step)
		}
		if got := s.Succeeded + s.Failed + s.Rejected + int64(s.Busy) + int64(s.Queued); got != s.Submitted {
			t.Fatalf("t=%v: completed+rejected+busy+queued = %d, submitted %d", s.T, got, s.Submitted)
		}
		if s.Workers != sc.WorkersAt(s.T) {
			t.Fatalf("t=%v: capacity %d, the scenario says %d", s.T, s.Workers, sc.WorkersAt(s.T))
		}
		// Busy is within the capacity, or after a shrink within what ran before it: the
		// capacities since the previous scrape, and what was running then.
		limit := s.Workers
		if i > 0 {
			limit = max(limit, prev.Workers, prev.Busy)
			for _, st := range sc.Resize {
				if st.At.Seconds() > prev.T && st.At.Seconds() <= s.T {
					limit = max(limit, st.Workers)
				}
			}
		}
		if s.Busy < 0 || s.Busy > limit {
			t.Fatalf("t=%v: busy %d of %d (at most %d since the last scrape)", s.T, s.Busy, s.Workers, limit)
		}
		if sc.Queue != nil && s.Queued > *sc.Queue {
			t.Fatalf("t=%v: queued %d over the capacity %d", s.T, s.Queued, *sc.Queue)
		}
		if s.Queued > 0 && s.Busy < s.Workers {
			t.Fatalf("t=%v: %d queued while %d of %d workers are busy", s.T, s.Queued, s.Busy, s.Workers)
		}
		if s.Wait.Count()+int64(s.Queued)+s.Rejected != s.Submitted {
			t.Fatalf("t=%v: %d waits observed, want every started task", s.T, s.Wait.Count())
		}
		if s.Duration.Count() != s.Succeeded+s.Failed {
			t.Fatalf("t=%v: %d durations observed, %d completed", s.T, s.Duration.Count(), s.Succeeded+s.Failed)
		}
		if s.BusySeconds > float64(most)*s.T+1e-6 || s.SaturatedSeconds > s.T+1e-6 {
			t.Fatalf("t=%v: busy %vs, saturated %vs: more than time allows", s.T, s.BusySeconds, s.SaturatedSeconds)
		}
		// uWSGI's count shows each running task from its start in whole seconds less one:
		// short of the whole by at most a second a running task (and by its age, at most).
		if short := s.BusySeconds - s.BusySecondsWholeStarts; short < -1e-6 || short > float64(s.Busy)*min(1, s.OldestRunning)+1e-6 {
			t.Fatalf("t=%v: busy seconds from whole starts %v of %v with %d running", s.T, s.BusySecondsWholeStarts, s.BusySeconds, s.Busy)
		}
		if (s.Busy == 0 && s.OldestRunning != 0) || s.OldestRunning < 0 || s.OldestRunning > s.T {
			t.Fatalf("t=%v: oldest running %v with %d busy", s.T, s.OldestRunning, s.Busy)
		}
		if (s.Queued == 0 && s.OldestQueued != 0) || s.OldestQueued < 0 || s.OldestQueued > s.T {
			t.Fatalf("t=%v: oldest queued %v with %d queued", s.T, s.OldestQueued, s.Queued)
		}
		if i > 0 {
			for _, c := range [][2]float64{
				{float64(prev.Submitted), float64(s.Submitted)}, {float64(prev.Succeeded), float64(s.Succeeded)},
				{float64(prev.Failed), float64(s.Failed)}, {float64(prev.Rejected), float64(s.Rejected)},
				{prev.BusySeconds, s.BusySeconds}, {prev.SaturatedSeconds, s.SaturatedSeconds},
				{prev.BusySecondsWholeStarts, s.BusySecondsWholeStarts},
				{prev.Wait.Sum, s.Wait.Sum}, {prev.Duration.Sum, s.Duration.Sum},
			} {
				if c[1] < c[0] {
					t.Fatalf("t=%v: a counter went down from %v to %v", s.T, c[0], c[1])
				}
			}
		}
		prev = s
	}
}

// Every scenario the project ships parses strictly, and its run keeps the invariants.
func TestScenarioFilesRunWithinInvariants(t *testing.T) {
	files, _ := filepath.Glob("../../mixin/scenarios/*.json")
	public, _ := filepath.Glob("../../mixin/scenarios/public/*.json")
	files = append(files, public...)
	if len(public) == 0 || len(files) == len(public) {
		t.Fatalf("scenario files not found: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sc, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			// Under -short or -race, a run of millions of tasks is cut to its first part
			// (the scenario suite runs it whole).
			h := sc.Horizon.Seconds()
			var tasks float64
			for s := 0.0; s < h; s += 60 {
				tasks += 60 * sc.Arrival.At(s)
			}
			whole := true
			if tasks > 3e5 && (testing.Short() || raceEnabled) {
				step := sc.Scrape.Seconds()
				sc.Horizon = Duration(max(60, step*math.Floor(h*3e5/tasks/step)))
				whole = false
				t.Logf("%.0f tasks: the first %v only", tasks, sc.Horizon)
			}
			res := Simulate(sc)
			checkInvariants(t, sc, res)
			if whole && sc.Kind != Healthy && math.IsNaN(res.Stall) {
				t.Errorf("a %s scenario whose pool never stalls", sc.Kind)
			}
		})
	}
}

// Little's law (mean queue length = throughput × mean wait) and the utilisation law (mean
// busy workers = throughput × mean service time) hold for any work-conserving queue; the
// simulator's integrals and histograms must satisfy both.
func TestLittlesLawAndUtilisation(t *testing.T) {
	sc := mustParse(t, `{"name": "little", "kind": "healthy", "instance": "i", "horizon": "4h",
		"workers": 4, "queue": null, "arrival": 15, "service": 0.2, "seed": 7}`)
	res := Simulate(sc)
	checkInvariants(t, sc, res)
	T := sc.Horizon.Seconds()
	last := res.Samples[len(res.Samples)-1]

	lambda := float64(res.Started) / T
	meanWait := res.Waited / float64(res.Started)
	L := res.QueuedSeconds / T
	if rel := math.Abs(L-lambda*meanWait) / L; rel > 0.01 {
		t.Errorf("Little's law: mean queue %.4f, throughput × mean wait %.4f (%.1f%% apart)", L, lambda*meanWait, 100*rel)
	}
	meanService := last.Duration.Sum / float64(last.Duration.Count())
	busy := last.BusySeconds / T
	if rel := math.Abs(busy-lambda*meanService) / busy; rel > 0.01 {
		t.Errorf("utilisation law: mean busy %.4f, throughput × mean service %.4f", busy, lambda*meanService)
	}
	// The offered load: 15/s × 0.2 s = 3 of 4 workers.
	if math.Abs(busy-3) > 0.05 || math.Abs(meanService-0.2) > 0.005 || math.Abs(lambda-15) > 0.15 {
		t.Errorf("mean busy %.3f (want 3), mean service %.4f (want 0.2), rate %.3f (want 15)", busy, meanService, lambda)
	}
	if got, want := last.Wait.Sum, res.Waited; math.Abs(got-want) > 1e-6*want {
		t.Errorf("wait histogram sum %v, sum of waits %v", got, want)
	}
}

// With one worker and constant service times (sigma 0), the pool is an M/D/1 queue, whose
// mean wait has a closed form: Wq = ρ / (2 μ (1 − ρ)). This checks the queueing itself, not
// only the bookkeeping.
func TestMD1MeanWait(t *testing.T) {
	sc := mustParse(t, `{"name": "md1", "kind": "healthy", "instance": "i", "horizon": "6h",
		"workers": 1, "arrival": 6, "service": 0.1, "sigma": 0, "seed": 3}`)
	res := Simulate(sc)
	rho, mu := 0.6, 10.0
	want := rho / (2 * mu * (1 - rho)) // 0.075 s
	got := res.Waited / float64(res.Started)
	if math.Abs(got-want)/want > 0.05 {
		t.Errorf("M/D/1 mean wait %.4fs, want %.4fs ± 5%%", got, want)
	}
	// Saturated (one worker busy) exactly as often as busy.
	last := res.Samples[len(res.Samples)-1]
	if math.Abs(last.SaturatedSeconds-last.BusySeconds) > 1e-6 {
		t.Errorf("one worker: saturated %vs, busy %vs", last.SaturatedSeconds, last.BusySeconds)
	}
}

func TestDeterministic(t *testing.T) {
	js := `{"name": "d", "kind": "healthy", "instance": "i", "horizon": "30m", "workers": 8, "queue": 20,
		"arrival": [[0, 10], [30, 45]], "service": 0.2, "hang_every": "7m", "seed": 5}`
	a, b := Simulate(mustParse(t, js)), Simulate(mustParse(t, js))
	if !reflect.DeepEqual(a, b) && !(math.IsNaN(a.Stall) && math.IsNaN(b.Stall)) {
		t.Fatal("two runs of the same scenario and seed differ")
	}
	c := Simulate(mustParse(t, strings.Replace(js, `"seed": 5`, `"seed": 6`, 1)))
	if reflect.DeepEqual(a.Samples, c.Samples) {
		t.Fatal("another seed gave the same run")
	}
}

// The offered load does not depend on the pool: the same seed with another queue size or
// worker count sees the same arrivals, so that comparing two pool shapes compares like
// with like.
func TestSameLoadWhateverThePool(t *testing.T) {
	base := `{"name": "s", "kind": "healthy", "instance": "i", "horizon": "20m", "workers": 8, "queue": 10,
		"arrival": [[0, 10], [20, 60]], "service": 0.2, "seed": 9}`
	a := Simulate(mustParse(t, base))
	b := Simulate(mustParse(t, strings.NewReplacer(`"workers": 8`, `"workers": 16`, `"queue": 10`, `"queue": null`).Replace(base)))
	if a.Tasks != b.Tasks {
		t.Fatalf("%d tasks with one pool, %d with another", a.Tasks, b.Tasks)
	}
	for i := range a.Samples {
		if a.Samples[i].Submitted != b.Samples[i].Submitted {
			t.Fatalf("t=%v: %d submitted against %d", a.Samples[i].T, a.Samples[i].Submitted, b.Samples[i].Submitted)
		}
	}
	if a.Samples[len(a.Samples)-1].Rejected == 0 {
		t.Fatal("the small pool was meant to reject tasks")
	}
}

// A hung task holds its worker for ever: with one worker the next task waits from its
// arrival, and the stall is that arrival plus the timeout; with no queue it is rejected at
// once, and that is the stall.
func TestHungTaskStall(t *testing.T) {
	for _, tc := range []struct {
		queue    string
		min, max float64
	}{
		{"null", 70, 72}, // the next arrival after the hang (at ≥ 60 s) + 10 s
		{"0", 60, 62},    // rejected on arrival
	} {
		sc := mustParse(t, `{"name": "h", "kind": "healthy", "instance": "i", "horizon": "3m", "workers": 1,
			"queue": `+tc.queue+`, "arrival": 2, "service": 0.000001, "sigma": 0, "hang_every": "1m", "seed": 2}`)
		res := Simulate(sc)
		checkInvariants(t, sc, res)
		if res.Hung < 1 {
			t.Fatalf("queue %s: no hung task", tc.queue)
		}
		if !(res.Stall > tc.min && res.Stall < tc.max) {
			t.Errorf("queue %s: stall at %.2fs, want within (%v, %v)", tc.queue, res.Stall, tc.min, tc.max)
		}
		last := res.Samples[len(res.Samples)-1]
		if last.OldestRunning < 180-62 {
			t.Errorf("queue %s: oldest running %.1fs at the end, want the hung task's age", tc.queue, last.OldestRunning)
		}
	}
}

func TestHistogramBucketsAreInclusive(t *testing.T) {
	var h Histogram
	h.observe(0.001) // on a bound: counted in that bucket (le)
	h.observe(0.0011)
	h.observe(1e9)
	if h.Counts[0] != 1 || h.Counts[1] != 1 || h.Counts[len(contract.Buckets)] != 1 || h.Count() != 3 {
		t.Fatalf("counts %v", h.Counts)
	}
}
