// Package collector makes worker-pool exhaustion visible: it exposes, for any pool of workers,
// the series of the poolwatch metric contract (busy workers, queue length, queue wait, task
// duration, busy and saturated seconds, the age of the oldest waiting and running task, and
// counts of every outcome and rejection), all labelled with the pool's name.
//
// It offers three ways to get them, all prometheus.Collectors computing their values when
// Prometheus scrapes (nothing samples in the background):
//
//   - Pool, a worker pool with a fixed number of workers and an optional bounded FIFO queue.
//   - Tracker, for a pool you already have (pond, ants, a semaphore, your own): three
//     allocation-free calls per task, Submit, Start and Finish (or Reject).
//   - Limiter, net/http middleware bounding how many handlers run at once, with a bounded
//     queue and a maximum wait, answering 503 with Retry-After beyond that.
//
// RegisterRuntimeMetrics adds the Go scheduler and process series that tell a pool starved of
// CPU apart from one whose workers block.
//
// # A worked example
//
// A service runs reports on 4 workers, with room for 100 more waiting:
//
//	reports := collector.NewPool("reports", 4, collector.WithQueueSize(100))
//	prometheus.MustRegister(reports)
//	defer reports.Shutdown(context.Background()) // runs what was accepted, then stops
//
//	// In a handler: wait at most as long as the request does.
//	err := reports.Submit(r.Context(), func(ctx context.Context) error {
//		return render(ctx, id)
//	})
//	if errors.Is(err, collector.ErrPoolClosed) { ... }
//
// If render starts to block (a slow database), the four workers stay busy:
// workerpool_busy_workers{pool="reports"} reaches workerpool_max_workers,
// rate(workerpool_saturated_seconds_total[5m]) climbs towards 1, the queue fills and
// workerpool_task_wait_seconds moves to its upper buckets. Requests whose context ends while
// their report waits are dropped from the queue and counted in
// workerpool_tasks_rejected_total{reason="timeout"} or {reason="canceled"}; TrySubmit on a full
// queue fails at once with ErrQueueFull and counts {reason="queue_full"}.
//
// The same pool on pond, instrumented with a Tracker:
//
//	pool := pond.NewPool(4, pond.WithQueueSize(100), pond.WithNonBlocking(true))
//	tr := collector.NewTracker("reports", 4, collector.WithQueueSize(100))
//	prometheus.MustRegister(tr)
//
//	k := tr.Submit()
//	if _, ok := pool.TrySubmit(func() {
//		k := k // the closure holds the ticket by value
//		k.Run(func() error { return render(ctx, id) })
//	}); !ok {
//		k.Reject(collector.RejectedQueueFull)
//	}
//
// # Semantics
//
// workerpool_busy_seconds_total is the integral of the number of busy workers over time,
// including the elapsed part of the tasks still running at the scrape, so rate() of it is the
// exact mean number of busy workers even when tasks outlast the scrape interval;
// workerpool_saturated_seconds_total is the time during which all max_workers were busy, also
// up to the scrape. Both are monotonic.
//
// A task's wait is measured from Submit (for Pool.Submit, from the call, including time spent
// waiting for room in a full queue) to Start; its duration from Start to Finish. The oldest
// ages are 0 when nothing waits or runs, and follow the oldest task even when tasks finish
// out of order.
//
// Each scrape is one consistent snapshot, taken under the lock that every event also takes,
// so a scrape always satisfies busy <= workers <= max_workers, queued <= max_queued (when
// bounded) and submitted = completed + rejected + busy + queued.
//
// Histograms have classic buckets at 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
// 1, 2.5, 5, 10, 30, 60 and 120 seconds: every boundary of the contract, so that wait-time
// objectives at those thresholds are exact.
// workerpool_max_queued_tasks is absent when the queue is unbounded.
//
// Many pools can be registered in one registry: the pool name is a constant label of each
// pool's descriptors, and registering two pools with the same name fails. Add your own
// constant labels with prometheus.WrapRegistererWith.
//
// # Cost
//
// Submit, Start, Finish and Reject each take one short mutex and allocate nothing; so does a
// Pool task in the steady state (Submit with a context that can end allocates its
// context.AfterFunc). See the package's benchmarks for the per-task overhead.
package collector
