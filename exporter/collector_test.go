package exporter

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// fakeSource returns fixed pools or an error, and records the deadline it was given.
type fakeSource struct {
	pools    []Pool
	err      error
	deadline time.Duration
}

func (f *fakeSource) Name() string { return "fake" }

func (f *fakeSource) Read(ctx context.Context, _ Reader, _ string, _ *slog.Logger) ([]Pool, error) {
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
	return f.pools, f.err
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func gather(t *testing.T, src Source, names ...string) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(context.Background(), Target{Source: src, URL: "http://x", Timeout: time.Second}, discard()))
	var b strings.Builder
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			if mf.GetName() == "poolwatch_scrape_duration_seconds" {
				continue
			}
			b.WriteString(mf.GetName())
			for _, l := range m.Label {
				b.WriteString(" " + l.GetName() + "=" + l.GetValue())
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func TestCollectorExposesContractSeries(t *testing.T) {
	src := &fakeSource{pools: []Pool{validPool()}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(context.Background(), Target{Source: src, URL: "http://x", Timeout: time.Second}, discard()))
	want := `
# HELP poolwatch_up 1 if the last read of the target succeeded, else 0.
# TYPE poolwatch_up gauge
poolwatch_up{source="fake"} 1
# HELP workerpool_busy_seconds_total Integral of busy workers over time; rate() of it is the mean number of busy workers.
# TYPE workerpool_busy_seconds_total counter
workerpool_busy_seconds_total{pool="127.0.0.1:8080"} 1.5
# HELP workerpool_busy_workers Workers running a task at this instant.
# TYPE workerpool_busy_workers gauge
workerpool_busy_workers{pool="127.0.0.1:8080"} 2
# HELP workerpool_max_workers Capacity of the pool: the most tasks that can run at once.
# TYPE workerpool_max_workers gauge
workerpool_max_workers{pool="127.0.0.1:8080"} 4
# HELP workerpool_oldest_running_task_age_seconds How long the longest-running task has run so far; 0 when no task runs.
# TYPE workerpool_oldest_running_task_age_seconds gauge
workerpool_oldest_running_task_age_seconds{pool="127.0.0.1:8080"} 0.2
# HELP workerpool_queued_tasks Tasks waiting for a worker: in the queue, or held by a caller blocked in a submit that waits for room.
# TYPE workerpool_queued_tasks gauge
workerpool_queued_tasks{pool="127.0.0.1:8080"} 1
# HELP workerpool_tasks_completed_total Tasks that finished running, by outcome.
# TYPE workerpool_tasks_completed_total counter
workerpool_tasks_completed_total{outcome="success",pool="127.0.0.1:8080"} 3
# HELP workerpool_workers Workers alive now (started goroutines or threads, busy or idle).
# TYPE workerpool_workers gauge
workerpool_workers{pool="127.0.0.1:8080"} 4
`
	// Every contract series is named, so the ones this pool lacks must be absent.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), allSeries...); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(NewCollector(context.Background(), Target{Source: src, Timeout: time.Second}, discard()),
		"poolwatch_scrape_duration_seconds"); n != 1 {
		t.Errorf("%d poolwatch_scrape_duration_seconds series, want 1", n)
	}
}

func TestCollectorReadErrorGivesUpZeroAndNoPools(t *testing.T) {
	src := &fakeSource{pools: []Pool{validPool()}, err: errors.New("connection refused")}
	if got, want := gather(t, src), "poolwatch_up source=fake\n"; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(context.Background(), Target{Source: src, Timeout: time.Second}, discard()))
	want := "# HELP poolwatch_up 1 if the last read of the target succeeded, else 0.\n# TYPE poolwatch_up gauge\npoolwatch_up{source=\"fake\"} 0\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "poolwatch_up"); err != nil {
		t.Error(err)
	}
}

var allSeries = []string{"poolwatch_up",
	contract.MaxWorkers, contract.Workers, contract.BusyWorkers, contract.QueuedTasks,
	contract.MaxQueuedTasks, contract.TasksSubmittedTotal, contract.TasksCompletedTotal,
	contract.TasksRejectedTotal, contract.TaskWaitSeconds, contract.TaskDurationSeconds,
	contract.BusySecondsTotal, contract.SaturatedSecondsTotal, contract.OldestQueuedAgeSeconds,
	contract.OldestRunningAgeSecs}

func TestCollectorSkipsInvalidAndDuplicatePools(t *testing.T) {
	bad := validPool()
	bad.Name = "bad:1"
	bad.BusyWorkers = 9
	other := validPool()
	other.Name = "other:2"
	src := &fakeSource{pools: []Pool{validPool(), bad, validPool(), other}}
	got := gather(t, src)
	if strings.Contains(got, "bad:1") {
		t.Errorf("invalid pool exposed:\n%s", got)
	}
	if n := strings.Count(got, "workerpool_workers pool=127.0.0.1:8080"); n != 1 {
		t.Errorf("duplicate pool exposed %d times:\n%s", n, got)
	}
	if !strings.Contains(got, "workerpool_workers pool=other:2") {
		t.Errorf("a valid pool after bad ones is missing:\n%s", got)
	}
	if !strings.Contains(got, "poolwatch_up source=fake") {
		t.Error("no poolwatch_up")
	}
}

func TestCollectorBoundsTheRead(t *testing.T) {
	src := &fakeSource{}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(context.Background(), Target{Source: src, Timeout: 1500 * time.Millisecond}, discard()))
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if src.deadline <= time.Second || src.deadline > 1500*time.Millisecond {
		t.Errorf("read got %v to run, want the 1.5s timeout", src.deadline)
	}
}

// A source that cannot see its queue leaves both queue series out, whatever the fields hold,
// and its pool is not skipped for a queue it does not measure.
func TestCollectorLeavesOutAQueueNotMeasured(t *testing.T) {
	p := validPool()
	p.QueueNotMeasured = true
	p.QueuedTasks = 5
	p.MaxQueuedTasks = Float(1)
	out := gather(t, &fakeSource{pools: []Pool{p}})
	if strings.Contains(out, "queued_tasks") {
		t.Errorf("queue series exposed for a queue not measured:\n%s", out)
	}
	if !strings.Contains(out, "workerpool_busy_workers pool=127.0.0.1:8080") {
		t.Errorf("pool missing:\n%s", out)
	}
}
