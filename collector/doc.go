// Package collector makes worker-pool exhaustion visible: it exposes, for any pool of workers,
// the series of the poolwatch metric contract (busy workers, queue length, queue wait, task
// duration, busy and saturated seconds, the age of the oldest waiting and running task, and
// counts of every outcome and rejection), all labelled with the pool's name.
//
// It offers three ways to get them, all prometheus.Collectors computing their values when
// Prometheus scrapes (nothing samples in the background):
//
//   - Pool, a worker pool with a number of workers (fixed, unless Resize changes it) and an
//     optional bounded FIFO queue.
//   - Tracker, for a pool you already have (pond, ants, a semaphore, your own): three
//     allocation-free calls per task, Submit, then Start and Finish (or Reject) on the
//     Ticket it returns.
//   - Limiter, net/http middleware bounding how many handlers run at once, with a bounded
//     queue and a maximum wait, answering 503 with Retry-After beyond that.
//
// RegisterRuntimeMetrics adds the Go scheduler and process series that tell a pool starved of
// CPU apart from one whose workers block.
//
// # A worked example
//
// A service renders reports on 4 workers, with room for 100 more waiting; an HTTP handler
// queues them and answers at once (ExamplePool_Submit runs this):
//
//	reports := collector.NewPool("reports", 4, collector.WithQueueSize(100))
//	prometheus.MustRegister(reports)
//	defer reports.Shutdown(context.Background()) // runs what was accepted, then stops
//
//	// In the handler: wait for room at most as long as the request lasts. The report itself
//	// runs under the pool's context, after the request has ended.
//	err := reports.Submit(r.Context(), func(ctx context.Context) error {
//		return render(ctx, id)
//	})
//	if err != nil { ... } // ErrPoolClosed, or the request ended while the queue was full
//
// If render starts to block (a slow database), the four workers stay busy:
// workerpool_busy_workers{pool="reports"} reaches workerpool_max_workers,
// rate(workerpool_saturated_seconds_total[5m]) climbs towards 1, the queue fills and
// workerpool_task_wait_seconds moves to its upper buckets. Handlers then wait in Submit for
// room, and count as queued while they do; one whose request ends first is counted in
// workerpool_tasks_rejected_total{reason="canceled"} (or "timeout" for a deadline). TrySubmit
// on a full queue fails at once with ErrQueueFull and counts {reason="queue_full"}. A task
// that must not start after a deadline gets a context of its own with SubmitWithContext.
//
// The same pool on pond, instrumented with a Tracker (ExampleTracker runs this):
//
//	pool := pond.NewPool(4, pond.WithQueueSize(100), pond.WithNonBlocking(true))
//	tr := collector.NewTracker("reports", 4, collector.WithQueueSize(100))
//	prometheus.MustRegister(tr)
//
//	k := tr.Submit()
//	if _, ok := pool.TrySubmit(func() {
//		k.Run(func() error { return render(ctx, id) })
//	}); !ok {
//		k.Reject(collector.RejectedQueueFull)
//	}
//
// A Ticket only names the task, whose state the Tracker keeps: copies of it are the same
// ticket, and each step (Start, Finish, Reject) happens once whichever copy takes it.
//
// A pool resized while it runs reports its new capacity from the resize on: Pool.Resize and
// Limiter.Resize do it themselves; around pond, call Tracker.SetMaxWorkers with pond's Resize
// (ExampleTracker_SetMaxWorkers). Saturation is counted against the capacity of each moment,
// starting or ending at the resize when it moves the threshold across the busy count. A
// shrink never cuts a running task short: while more run than the new size, max_workers
// reports the busy count (as for any pool that runs more than its capacity), and a Pool's
// surplus workers leave as they finish their task.
//
// # Semantics
//
// A task counts as submitted and queued from the call that offers it: a caller blocked in
// Pool.Submit waiting for room, or waiting in a Limiter's queue, is submitted and queued, so a
// pool whose callers wait is never shown idle. workerpool_queued_tasks can therefore exceed
// workerpool_max_queued_tasks by the number of callers waiting for room.
//
// workerpool_busy_seconds_total is the integral of the number of busy workers over time,
// including the elapsed part of the tasks still running at the scrape, so rate() of it is the
// exact mean number of busy workers even when tasks outlast the scrape interval;
// workerpool_saturated_seconds_total is the time during which all max_workers were busy, also
// up to the scrape. Both are monotonic.
//
// A task's wait is measured from the call that submitted it to Start (for Pool.Submit,
// including time spent waiting for room); its duration from Start to Finish. The oldest ages
// are 0 when nothing waits or runs, and follow the oldest task even when tasks finish out of
// order.
//
// Each scrape is one consistent snapshot: the tracker's state is split into shards, each
// under its own short lock that only the events of its tasks take, and a scrape holds every
// shard's lock at once. So a scrape always satisfies busy <= workers <= max_workers and
// submitted = completed + rejected + busy + queued exactly, and the wait histogram's count
// is completed + busy. One figure is not exact to the nanosecond: when the pool becomes
// saturated and stops being so on two shards at once, the two times are clock readings
// taken just before each shard's lock, so saturated seconds can be off by the time between a
// clock reading and the lock (nanoseconds, unless the goroutine is preempted right there);
// the counter never goes back.
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
// Options are typed by constructor (PoolOption, TrackerOption, LimiterOption): one that does
// not apply, such as WithMaxWait given to NewPool, does not compile.
//
// # Cost
//
// A task costs three clock readings (submit, start, finish; a Pool worker reads the clock once
// to finish a task and start the next) and one short, rarely contended lock per step,
// allocation-free: Submit deals tasks to the shards in turn, skipping a shard whose lock is
// held, so the submitter and the workers seldom take the same lock and the submitter never
// waits for a worker preempted inside one. A Pool's own queue lock holds no bookkeeping.
// Allocations happen only when a Submit has to wait for room (its wake-up channel), when
// SubmitWithContext is given a context that can end (its context.AfterFunc), and when the
// number of tasks in flight exceeds its peak over the last scrapes (a scrape gives the slot
// tables' memory back after a burst). See the package's benchmarks (make bench) for the figures.
package collector
