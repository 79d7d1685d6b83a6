package collector_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/poolwatch/poolwatch/collector"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// A pool of 2 workers with a queue of 3: run tasks, shut down, read the counters that a
// scrape would show.
func ExamplePool() {
	reg := prometheus.NewRegistry()
	pool := collector.NewPool("reports", 2, collector.WithQueueSize(3))
	reg.MustRegister(pool)

	for i := range 5 {
		_ = pool.Submit(context.Background(), func(ctx context.Context) error {
			if i == 4 {
				return errors.New("report failed")
			}
			return nil
		})
	}
	_ = pool.Shutdown(context.Background()) // waits until every accepted task has run

	out, _ := testutil.CollectAndFormat(pool, expfmt.TypeTextPlain,
		"workerpool_tasks_submitted_total", "workerpool_tasks_completed_total", "workerpool_busy_workers")
	fmt.Print(string(out))
	// Output:
	// # HELP workerpool_busy_workers Workers running a task at this instant.
	// # TYPE workerpool_busy_workers gauge
	// workerpool_busy_workers{pool="reports"} 0
	// # HELP workerpool_tasks_completed_total Tasks that finished running, by outcome.
	// # TYPE workerpool_tasks_completed_total counter
	// workerpool_tasks_completed_total{outcome="error",pool="reports"} 1
	// workerpool_tasks_completed_total{outcome="panic",pool="reports"} 0
	// workerpool_tasks_completed_total{outcome="success",pool="reports"} 4
	// # HELP workerpool_tasks_submitted_total Tasks offered to the pool, accepted or not.
	// # TYPE workerpool_tasks_submitted_total counter
	// workerpool_tasks_submitted_total{pool="reports"} 5
}

// TrySubmit never blocks: with its single worker busy and its queue of 1 taken, the pool
// refuses a third task.
func ExamplePool_TrySubmit() {
	pool := collector.NewPool("thumbnails", 1, collector.WithQueueSize(1))
	release := make(chan struct{})
	started := make(chan struct{})
	_ = pool.TrySubmit(func(context.Context) error { close(started); <-release; return nil })
	<-started
	_ = pool.TrySubmit(func(context.Context) error { return nil })
	err := pool.TrySubmit(func(context.Context) error { return nil })
	fmt.Println(errors.Is(err, collector.ErrQueueFull))
	close(release)
	_ = pool.Shutdown(context.Background())
	// Output: true
}

// A Tracker around a pool you already have, here pond v2: Submit when the task is offered,
// Run inside it, Reject if pond refuses it.
func ExampleTracker() {
	pool := pond.NewPool(4, pond.WithQueueSize(100), pond.WithNonBlocking(true))
	tracker := collector.NewTracker("pond", 4, collector.WithQueueSize(100))
	prometheus.NewRegistry().MustRegister(tracker)

	for range 10 {
		k := tracker.Submit()
		if _, ok := pool.TrySubmit(func() {
			k := k                                 // held by value: no allocation for the ticket
			_ = k.Run(func() error { return nil }) // Start, call, Finish with its outcome
		}); !ok {
			k.Reject(collector.RejectedQueueFull)
		}
	}
	pool.StopAndWait()
	fmt.Print(metricText(tracker))
	// Output:
	// # HELP workerpool_tasks_completed_total Tasks that finished running, by outcome.
	// # TYPE workerpool_tasks_completed_total counter
	// workerpool_tasks_completed_total{outcome="error",pool="pond"} 0
	// workerpool_tasks_completed_total{outcome="panic",pool="pond"} 0
	// workerpool_tasks_completed_total{outcome="success",pool="pond"} 10
}

// A Limiter in front of a handler: at most 8 requests run, 32 wait at most 2 s, the rest get
// 503 with Retry-After.
func ExampleLimiter() {
	limiter := collector.NewLimiter("api", 8, collector.WithQueueSize(32), collector.WithMaxWait(2*time.Second))
	prometheus.NewRegistry().MustRegister(limiter)
	handler := limiter.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Println(rec.Code, rec.Body.String())
	fmt.Println(strings.Contains(metricText(limiter), `workerpool_tasks_completed_total{outcome="success",pool="api"} 1`))
	// Output:
	// 200 hello
	// true
}

func metricText(c prometheus.Collector) string {
	out, _ := testutil.CollectAndFormat(c, expfmt.TypeTextPlain, "workerpool_tasks_completed_total")
	return string(out)
}

// One call adds the Go scheduler and process series next to the pools'.
func ExampleRegisterRuntimeMetrics() {
	reg := prometheus.NewRegistry()
	if err := collector.RegisterRuntimeMetrics(reg); err != nil {
		panic(err)
	}
	n, _ := testutil.GatherAndCount(reg, "go_sched_latencies_seconds")
	fmt.Println(n)
	// Output: 1
}
