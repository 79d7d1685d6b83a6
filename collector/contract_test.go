package collector

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// want is the contract's table: every pool series, its type and its extra label.
var want = []struct {
	name  string
	typ   dto.MetricType
	label string
}{
	{contract.MaxWorkers, dto.MetricType_GAUGE, ""},
	{contract.Workers, dto.MetricType_GAUGE, ""},
	{contract.BusyWorkers, dto.MetricType_GAUGE, ""},
	{contract.QueuedTasks, dto.MetricType_GAUGE, ""},
	{contract.MaxQueuedTasks, dto.MetricType_GAUGE, ""},
	{contract.TasksSubmittedTotal, dto.MetricType_COUNTER, ""},
	{contract.TasksCompletedTotal, dto.MetricType_COUNTER, contract.LabelOutcome},
	{contract.TasksRejectedTotal, dto.MetricType_COUNTER, contract.LabelReason},
	{contract.TaskWaitSeconds, dto.MetricType_HISTOGRAM, ""},
	{contract.TaskDurationSeconds, dto.MetricType_HISTOGRAM, ""},
	{contract.BusySecondsTotal, dto.MetricType_COUNTER, ""},
	{contract.SaturatedSecondsTotal, dto.MetricType_COUNTER, ""},
	{contract.OldestQueuedAgeSeconds, dto.MetricType_GAUGE, ""},
	{contract.OldestRunningAgeSecs, dto.MetricType_GAUGE, ""},
}

func TestContractSeries(t *testing.T) {
	pool := NewPool("jobs", 3, WithQueueSize(7))
	t.Cleanup(func() { shutdown(t, pool) })
	limiter := NewLimiter("http", 2, WithQueueSize(5))
	tracker := NewTracker("pond", 4, WithQueueSize(100))
	for _, c := range []struct {
		name      string
		collector prometheus.Collector
		max       float64
		maxQueued float64
	}{
		{"jobs", pool, 3, 7},
		{"http", limiter, 2, 5},
		{"pond", tracker, 4, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := gather(t, c.collector)
			checkContract(t, s, c.name, true)
			if got := s.value(t, contract.MaxWorkers); got != c.max {
				t.Errorf("max_workers = %v, want %v", got, c.max)
			}
			if got := s.value(t, contract.Workers); got != c.max {
				t.Errorf("workers = %v, want %v (all started)", got, c.max)
			}
			if got := s.value(t, contract.MaxQueuedTasks); got != c.maxQueued {
				t.Errorf("max_queued_tasks = %v, want %v", got, c.maxQueued)
			}
			checkInvariants(t, s, nil, true)
		})
	}
}

func TestContractUnboundedQueueHasNoCapacitySeries(t *testing.T) {
	pool := NewPool("unbounded", 1)
	t.Cleanup(func() { shutdown(t, pool) })
	s := gather(t, pool)
	checkContract(t, s, "unbounded", false)
	if _, ok := s[contract.MaxQueuedTasks]; ok {
		t.Errorf("%s exposed for an unbounded queue", contract.MaxQueuedTasks)
	}
}

// checkContract checks names, types, help, label sets and buckets of one pool's scrape.
func checkContract(t *testing.T, s scrape, pool string, bounded bool) {
	t.Helper()
	for _, w := range want {
		mf, ok := s[w.name]
		if w.name == contract.MaxQueuedTasks && !bounded {
			continue
		}
		if !ok {
			t.Errorf("series %s missing", w.name)
			continue
		}
		if mf.GetType() != w.typ {
			t.Errorf("%s: type %v, want %v", w.name, mf.GetType(), w.typ)
		}
		if mf.GetHelp() != contract.Help[w.name] {
			t.Errorf("%s: help %q, want the contract's", w.name, mf.GetHelp())
		}
		if strings.HasSuffix(w.name, "_total") != (w.typ == dto.MetricType_COUNTER) {
			t.Errorf("%s: _total must be on counters and only there", w.name)
		}
		var values []string
		for _, m := range mf.GetMetric() {
			if m.TimestampMs != nil {
				t.Errorf("%s carries a timestamp", w.name)
			}
			var names []string
			for _, lp := range m.GetLabel() {
				names = append(names, lp.GetName())
				switch lp.GetName() {
				case contract.LabelPool:
					if lp.GetValue() != pool {
						t.Errorf("%s: pool=%q, want %q", w.name, lp.GetValue(), pool)
					}
				case w.label:
					values = append(values, lp.GetValue())
				}
			}
			wantNames := []string{contract.LabelPool}
			if w.label != "" {
				wantNames = append(wantNames, w.label)
			}
			slices.Sort(wantNames)
			if !slices.Equal(names, wantNames) {
				t.Errorf("%s: labels %v, want %v", w.name, names, wantNames)
			}
		}
		// Every outcome and reason is there from the start, at 0.
		switch w.label {
		case contract.LabelOutcome:
			checkSameSet(t, w.name, values, contract.Outcomes[:])
		case contract.LabelReason:
			checkSameSet(t, w.name, values, contract.Reasons[:])
		}
		if w.typ == dto.MetricType_HISTOGRAM {
			var bounds []float64
			for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
				bounds = append(bounds, b.GetUpperBound())
			}
			for _, req := range contract.RequiredBuckets {
				if !slices.Contains(bounds, req) {
					t.Errorf("%s: bucket le=%v missing (have %v)", w.name, req, bounds)
				}
			}
		}
	}
	for name := range s {
		if !slices.ContainsFunc(want, func(w struct {
			name  string
			typ   dto.MetricType
			label string
		}) bool {
			return w.name == name
		}) {
			t.Errorf("series %s is not in the contract", name)
		}
	}
}

func checkSameSet(t *testing.T, name string, got, want []string) {
	t.Helper()
	got = slices.Clone(got)
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: label values %v, want %v", name, got, want)
	}
}

// TestManyPoolsInOneRegistry registers pools, limiters and trackers side by side, and lints
// the result with client_golang's own linter.
func TestManyPoolsInOneRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, name := range []string{"a", "b", "c"} {
		p := NewPool(name, 1, WithQueueSize(1))
		t.Cleanup(func() { shutdown(t, p) })
		reg.MustRegister(p)
	}
	reg.MustRegister(NewLimiter("d", 1), NewTracker("e", 1))
	if err := reg.Register(NewTracker("a", 2)); err == nil {
		t.Error("a second pool named a registered without error")
	}
	n, err := testutil.GatherAndCount(reg, contract.BusyWorkers)
	if err != nil || n != 5 {
		t.Errorf("busy_workers series = %d (%v), want 5", n, err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// seriesNames gathers reg and returns the names of its series.
func seriesNames(t *testing.T, reg prometheus.Gatherer) map[string]bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}

// TestRegisterRuntimeMetrics: on a fresh registry, and on one set up as
// prometheus.DefaultRegisterer is (the default Go and process collectors registered), where it
// used to fail with "descriptor go_sched_gomaxprocs_threads already exists" and leave the
// registry half-registered. Calling it again is harmless.
func TestRegisterRuntimeMetrics(t *testing.T) {
	for _, c := range []struct {
		name string
		reg  func() *prometheus.Registry
	}{
		{"fresh", prometheus.NewRegistry},
		{"like the default registry", func() *prometheus.Registry {
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			return reg
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg := c.reg()
			for range 2 {
				if err := RegisterRuntimeMetrics(reg); err != nil {
					t.Fatal(err)
				}
			}
			names := seriesNames(t, reg)
			for _, name := range []string{
				"go_goroutines", "go_threads", "go_sched_goroutines_goroutines",
				"go_sched_goroutines_runnable_goroutines", "go_sched_latencies_seconds",
				"process_cpu_seconds_total",
			} {
				if !names[name] {
					t.Errorf("%s missing", name)
				}
			}
		})
	}
}

// conflicting exposes a series named like one of the process collector's, with other help.
type conflicting struct{ desc *prometheus.Desc }

func (c conflicting) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c conflicting) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1)
}

// TestRegisterRuntimeMetricsAllOrNothing: when the process collector cannot be registered, the
// registry is left exactly as it was, default Go collector included.
func TestRegisterRuntimeMetricsAllOrNothing(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(),
		conflicting{prometheus.NewDesc("process_cpu_seconds_total", "Not the process collector's.", nil, nil)})
	before := seriesNames(t, reg)
	if err := RegisterRuntimeMetrics(reg); err == nil {
		t.Fatal("registered despite a conflicting process_cpu_seconds_total")
	}
	after := seriesNames(t, reg)
	if !maps.Equal(before, after) {
		t.Errorf("a failed registration changed the registry: before %v, after %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
	}
	if after["go_sched_latencies_seconds"] {
		t.Error("the scheduler series stayed registered after the failure")
	}
}

// With native histograms on, the classic buckets stay, the native schema is there, and the
// counts still agree with the counters of the same scrape.
func TestNativeHistogramsKeepClassicBuckets(t *testing.T) {
	p := NewPool("native", 2, WithQueueSize(10), WithNativeHistograms(1.1))
	for i := range 50 {
		_ = p.Submit(context.Background(), func(context.Context) error {
			time.Sleep(time.Duration(i%5) * time.Millisecond)
			return nil
		})
	}
	mid := gather(t, p)
	checkInvariants(t, mid, nil, false)
	shutdown(t, p)
	s := gather(t, p)
	checkContract(t, s, "native", true)
	checkInvariants(t, s, mid, true)
	for _, name := range []string{contract.TaskWaitSeconds, contract.TaskDurationSeconds} {
		h := s.histogram(t, name)
		if h.Schema == nil || h.GetSampleCount() != 50 {
			t.Errorf("%s: schema %v, count %d; want a native histogram of 50 tasks", name, h.Schema, h.GetSampleCount())
		}
	}
}
