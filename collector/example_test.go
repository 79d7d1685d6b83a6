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

// The worked example of the package documentation: an HTTP handler queues reports and answers
// at once. The request's context bounds only the wait for room in the queue; the reports run
// after the request has ended, under the pool's context.
func ExamplePool_Submit() {
	reports := collector.NewPool("reports", 4, collector.WithQueueSize(100))
	reg := prometheus.NewRegistry()
	reg.MustRegister(reports)
	render := func(ctx context.Context, id int) error { return ctx.Err() }

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for id := range 5 {
			err := reports.Submit(r.Context(), func(ctx context.Context) error {
				return render(ctx, id)
			})
			if err != nil { // ErrPoolClosed, or the request ended while the queue was full
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
	})
	ctx, cancel := context.WithCancel(context.Background())
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodPost, "/reports", nil))
	cancel() // the request is over

	_ = reports.Shutdown(context.Background()) // runs what was accepted, then stops
	fmt.Println(rec.Code)
	fmt.Print(metricText(reports))
	// Output:
	// 202
	// # HELP workerpool_tasks_completed_total Tasks that finished running, by outcome.
	// # TYPE workerpool_tasks_completed_total counter
	// workerpool_tasks_completed_total{outcome="error",pool="reports"} 0
	// workerpool_tasks_completed_total{outcome="panic",pool="reports"} 0
	// workerpool_tasks_completed_total{outcome="success",pool="reports"} 5
}

// A task with a context of its own, chosen explicitly: it gets that context, and is dropped
// (counted rejected "timeout") if the deadline passes before a worker takes it.
func ExamplePool_SubmitWithContext() {
	pool := collector.NewPool("jobs", 1)
	release := make(chan struct{})
	_ = pool.TrySubmit(func(context.Context) error { <-release; return nil }) // the only worker is busy

	deadline, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_ = pool.SubmitWithContext(deadline, deadline, func(ctx context.Context) error { return nil })
	<-deadline.Done()
	close(release)
	_ = pool.Shutdown(context.Background())
	out, _ := testutil.CollectAndFormat(pool, expfmt.TypeTextPlain, "workerpool_tasks_rejected_total")
	fmt.Println(strings.Contains(string(out), `workerpool_tasks_rejected_total{pool="jobs",reason="timeout"} 1`))
	// Output: true
}

// A Tracker around a pool you already have, here pond v2: Submit when the task is offered,
// Run inside it, Reject if pond refuses it. The task's closure captures the Ticket as it is:
// a Ticket only names the task, whose state the Tracker keeps.
func ExampleTracker() {
	pool := pond.NewPool(4, pond.WithQueueSize(100), pond.WithNonBlocking(true))
	tracker := collector.NewTracker("pond", 4, collector.WithQueueSize(100))
	prometheus.NewRegistry().MustRegister(tracker)

	for range 10 {
		k := tracker.Submit()
		if _, ok := pool.TrySubmit(func() {
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

// One call adds the Go scheduler and process series next to the pools', here on the default
// registry, where it replaces client_golang's default Go collector.
func ExampleRegisterRuntimeMetrics() {
	if err := collector.RegisterRuntimeMetrics(prometheus.DefaultRegisterer); err != nil {
		panic(err)
	}
	for _, name := range []string{"go_sched_latencies_seconds", "go_sched_goroutines_runnable_goroutines", "go_goroutines"} {
		n, err := testutil.GatherAndCount(prometheus.DefaultGatherer, name)
		fmt.Println(name, n, err)
	}
	// Output:
	// go_sched_latencies_seconds 1 <nil>
	// go_sched_goroutines_runnable_goroutines 1 <nil>
	// go_goroutines 1 <nil>
}

// A pond pool resized while it runs: tell the Tracker each new size, and it reports the new
// capacity and counts saturation (busy >= capacity) against it from the resize on. pond's
// size 0 means unbounded, which a Tracker cannot be: never pass it 0 for that.
func ExampleTracker_SetMaxWorkers() {
	pool := pond.NewPool(2)
	tracker := collector.NewTracker("pond", 2)
	prometheus.NewRegistry().MustRegister(tracker)

	resize := func(n int) {
		pool.Resize(n)
		tracker.SetMaxWorkers(n)
	}
	resize(8)
	for range 10 {
		k := tracker.Submit()
		pool.Go(func() { _ = k.Run(func() error { return nil }) })
	}
	pool.StopAndWait()
	out, _ := testutil.CollectAndFormat(tracker, expfmt.TypeTextPlain, "workerpool_max_workers")
	fmt.Print(string(out))
	// Output:
	// # HELP workerpool_max_workers Capacity of the pool: the most tasks that can run at once.
	// # TYPE workerpool_max_workers gauge
	// workerpool_max_workers{pool="pond"} 8
}
