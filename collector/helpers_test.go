package collector

import (
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// scrape is one pool's series as a registry gathers them: the real exposition path.
type scrape map[string]*dto.MetricFamily

// scrapeWhile scrapes c again and again until every goroutine of busy has returned, checks
// the contract's invariants on each scrape against the one before it, and calls each (if not
// nil) on it. It returns the last of those scrapes and how many there were; the caller checks
// the state once everything has ended against that last one.
func scrapeWhile(t testing.TB, c prometheus.Collector, busy *sync.WaitGroup, each func(scrape)) (last scrape, scrapes int) {
	t.Helper()
	done := make(chan struct{})
	go func() { busy.Wait(); close(done) }()
	for {
		select {
		case <-done:
			return last, scrapes
		default:
		}
		s := gather(t, c)
		checkInvariants(t, s, last, false)
		if each != nil {
			each(s)
		}
		last = s
		scrapes++
	}
}

func gather(t testing.TB, c prometheus.Collector) scrape {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("register: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	s := scrape{}
	for _, mf := range mfs {
		s[mf.GetName()] = mf
	}
	return s
}

// value returns the value of a gauge or counter series; for completed and rejected, the
// label value selects the series, and without one they are summed.
func (s scrape) value(t testing.TB, name string, label ...string) float64 {
	t.Helper()
	mf, ok := s[name]
	if !ok {
		t.Fatalf("series %s missing", name)
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		if len(label) > 0 && !hasLabelValue(m, label[0]) {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		default:
			t.Fatalf("series %s is neither gauge nor counter", name)
		}
	}
	return sum
}

func (s scrape) histogram(t testing.TB, name string) *dto.Histogram {
	t.Helper()
	mf, ok := s[name]
	if !ok || len(mf.GetMetric()) != 1 || mf.GetMetric()[0].GetHistogram() == nil {
		t.Fatalf("histogram %s missing", name)
	}
	return mf.GetMetric()[0].GetHistogram()
}

func hasLabelValue(m *dto.Metric, v string) bool {
	for _, lp := range m.GetLabel() {
		if lp.GetName() != contract.LabelPool && lp.GetValue() == v {
			return true
		}
	}
	return false
}

// checkInvariants asserts the contract's invariants within one scrape and, given the previous
// scrape, the monotonicity of every counter. The accounting equality holds at every scrape.
// quiescent says that no caller is inside a submit, so that the queue must be within its
// capacity (a caller waiting for room counts as queued, and may take it past).
func checkInvariants(t testing.TB, s, prev scrape, quiescent bool) {
	t.Helper()
	busy := s.value(t, contract.BusyWorkers)
	workers := s.value(t, contract.Workers)
	maxW := s.value(t, contract.MaxWorkers)
	queued := s.value(t, contract.QueuedTasks)
	if busy < 0 || busy > workers || workers > maxW {
		t.Errorf("busy %v <= workers %v <= max %v violated", busy, workers, maxW)
	}
	if _, bounded := s[contract.MaxQueuedTasks]; bounded && quiescent && queued > s.value(t, contract.MaxQueuedTasks) {
		t.Errorf("queued %v > max queued %v", queued, s.value(t, contract.MaxQueuedTasks))
	}
	submitted := s.value(t, contract.TasksSubmittedTotal)
	accounted := s.value(t, contract.TasksCompletedTotal) + s.value(t, contract.TasksRejectedTotal) + busy + queued
	if submitted != accounted {
		t.Errorf("submitted %v != completed+rejected+busy+queued %v", submitted, accounted)
	}
	for _, age := range []string{contract.OldestQueuedAgeSeconds, contract.OldestRunningAgeSecs} {
		if v := s.value(t, age); v < 0 {
			t.Errorf("%s = %v < 0", age, v)
		}
	}
	if queued == 0 && s.value(t, contract.OldestQueuedAgeSeconds) != 0 {
		t.Errorf("empty queue but oldest queued age %v", s.value(t, contract.OldestQueuedAgeSeconds))
	}
	if busy == 0 && s.value(t, contract.OldestRunningAgeSecs) != 0 {
		t.Errorf("nothing runs but oldest running age %v", s.value(t, contract.OldestRunningAgeSecs))
	}
	// The wait histogram counts every started task, the duration histogram every finished one.
	if got, want := float64(s.histogram(t, contract.TaskWaitSeconds).GetSampleCount()), s.value(t, contract.TasksCompletedTotal)+busy; got != want {
		t.Errorf("wait histogram count %v, want completed+busy %v", got, want)
	}
	if got, want := float64(s.histogram(t, contract.TaskDurationSeconds).GetSampleCount()), s.value(t, contract.TasksCompletedTotal); got != want {
		t.Errorf("duration histogram count %v, want completed %v", got, want)
	}
	if prev == nil {
		return
	}
	for _, name := range []string{contract.TasksSubmittedTotal, contract.BusySecondsTotal, contract.SaturatedSecondsTotal} {
		if now, before := s.value(t, name), prev.value(t, name); now < before {
			t.Errorf("counter %s went back from %v to %v", name, before, now)
		}
	}
	for _, o := range contract.Outcomes {
		if now, before := s.value(t, contract.TasksCompletedTotal, o), prev.value(t, contract.TasksCompletedTotal, o); now < before {
			t.Errorf("completed{%s} went back from %v to %v", o, before, now)
		}
	}
	for _, r := range contract.Reasons {
		if now, before := s.value(t, contract.TasksRejectedTotal, r), prev.value(t, contract.TasksRejectedTotal, r); now < before {
			t.Errorf("rejected{%s} went back from %v to %v", r, before, now)
		}
	}
}

// expect checks the value of each named series (as value reads it) against want, to within
// near, naming the step in every mismatch; in name order, so that the errors read the same
// on every run.
func (s scrape) expect(t testing.TB, step string, want map[string]float64) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if got := s.value(t, name); !near(got, want[name]) {
			t.Errorf("%s: %s = %v, want %v", step, name, got, want[name])
		}
	}
}
