package demo

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/exporter-toolkit/web"
	"go.uber.org/goleak"
)

// The demo starts servers, clients, workers and tickers: all must be gone when Run returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// lockedBuffer collects the status lines written by the demo's goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRunServesMetricsUnderLoad runs the whole demo on a free loopback port with a short cycle
// for a bounded time, scrapes it, and checks that both pools were loaded to exhaustion and that
// it stops cleanly.
func TestRunServesMetricsUnderLoad(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listener = l
	cfg.Cycle = 2 * time.Second
	cfg.MeanTask = 20 * time.Millisecond
	cfg.StatusInterval = 250 * time.Millisecond
	status := &lockedBuffer{}
	cfg.Status = status
	empty, no := "", false
	flags := &web.FlagConfig{WebListenAddresses: &[]string{}, WebSystemdSocket: &no, WebConfigFile: &empty}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, flags, logger) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return within 15 s of its context ending")
		}
	}
	t.Cleanup(stop)
	client := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	base := "http://" + l.Addr().String()

	// Ready, with a deadline.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// One cycle and a half: the ramp reaches capacity at ~1 s, overload lasts until 1.5 s.
	time.Sleep(1600 * time.Millisecond)
	families := scrapeMetrics(t, client, base+"/metrics")
	for _, name := range []string{
		contract.MaxWorkers, contract.Workers, contract.BusyWorkers, contract.QueuedTasks,
		contract.MaxQueuedTasks, contract.TasksSubmittedTotal, contract.TasksCompletedTotal,
		contract.TasksRejectedTotal, contract.TaskWaitSeconds, contract.TaskDurationSeconds,
		contract.BusySecondsTotal, contract.SaturatedSecondsTotal, contract.OldestQueuedAgeSeconds,
		contract.OldestRunningAgeSecs,
	} {
		for _, pool := range []string{"jobs", "http"} {
			if poolValue(families, name, pool) == nil {
				t.Errorf("%s{pool=%q} missing", name, pool)
			}
		}
	}
	for _, name := range []string{"go_sched_latencies_seconds", "go_goroutines", "poolwatch_demo_build_info"} {
		if families[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	for _, pool := range []string{"jobs", "http"} {
		if v := value(poolValue(families, contract.SaturatedSecondsTotal, pool)); v <= 0 {
			t.Errorf("pool %s never saturated during the overload (saturated seconds %v)", pool, v)
		}
		if v := value(poolValue(families, contract.TasksCompletedTotal, pool)); v <= 0 {
			t.Errorf("pool %s completed nothing", pool)
		}
	}

	// The limiter answers through the public server too.
	resp, err := client.Get(base + "/work?ms=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("/work answered %d", resp.StatusCode)
	}

	stop()
	lines := strings.Split(strings.TrimSpace(status.String()), "\n")
	if len(lines) < 3 || !strings.Contains(lines[len(lines)-1], "jobs: util") || !strings.Contains(lines[len(lines)-1], "wait p99") {
		t.Errorf("status lines: %q", lines)
	}
}

func scrapeMetrics(t *testing.T, client *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

func poolValue(families map[string]*dto.MetricFamily, name, pool string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range families[name].GetMetric() {
		if poolLabel(m) == pool {
			out = append(out, m)
		}
	}
	return out
}

func value(ms []*dto.Metric) float64 {
	var sum float64
	for _, m := range ms {
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return sum
}

func TestLoadFactorCycle(t *testing.T) {
	cycle := 100 * time.Second
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{
		{0, calmLoad}, {5 * time.Second, calmLoad}, {35 * time.Second, calmLoad + (peakLoad-calmLoad)/2},
		{65 * time.Second, peakLoad}, {80 * time.Second, calmLoad}, {165 * time.Second, peakLoad},
	} {
		if got := loadFactor(c.at, cycle); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("loadFactor(%v) = %v, want %v", c.at, got, c.want)
		}
	}
}

func bucket(le float64, n uint64) *dto.Bucket {
	return &dto.Bucket{UpperBound: &le, CumulativeCount: &n}
}

// quantile must agree with PromQL's histogram_quantile on the increase between two readings.
func TestQuantileOfIncrease(t *testing.T) {
	prev := []*dto.Bucket{bucket(0.1, 10), bucket(0.5, 10), bucket(1, 10)}
	cur := []*dto.Bucket{bucket(0.1, 10), bucket(0.5, 60), bucket(1, 110)}
	// 100 new observations: 50 in (0.1, 0.5], 50 in (0.5, 1]. p50 = 0.5, p99 = 0.5+0.5*49/50.
	if got := quantile(0.5, prev, cur, 100); math.Abs(got-0.5) > 1e-9 {
		t.Errorf("p50 = %v, want 0.5", got)
	}
	if got := quantile(0.99, prev, cur, 100); math.Abs(got-0.99) > 1e-9 {
		t.Errorf("p99 = %v, want 0.99", got)
	}
	if got := quantile(0.99, nil, cur, 0); !math.IsNaN(got) {
		t.Errorf("no observations: %v, want NaN", got)
	}
	if got := quantile(0.99, nil, []*dto.Bucket{bucket(1, 0)}, 3); !math.IsInf(got, 1) {
		t.Errorf("all in +Inf: %v, want +Inf", got)
	}
}

// A newcomer running the demo with its defaults sees, within two minutes, the load climb
// past capacity, hold there, and fall back while the pools recover.
func TestDefaultCycleShowsRampAndRecoveryInTwoMinutes(t *testing.T) {
	cycle := DefaultConfig().Cycle
	var overloadAt, recoveredAt time.Duration
	for at := time.Duration(0); at < 2*time.Minute; at += time.Second {
		f := loadFactor(at, cycle)
		if overloadAt == 0 && f >= peakLoad {
			overloadAt = at
		}
		if overloadAt != 0 && recoveredAt == 0 && f <= calmLoad {
			recoveredAt = at
		}
	}
	if overloadAt == 0 || recoveredAt == 0 || recoveredAt > 100*time.Second {
		t.Errorf("cycle %v: overload from %v, calm again from %v; want both, with 20 s of recovery left, within 2m",
			cycle, overloadAt, recoveredAt)
	}
}
