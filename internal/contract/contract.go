// Package contract holds the names, help texts, labels and histogram buckets of the poolwatch
// metric contract (docs/contract.md), so that the in-process collector and the exporter
// cannot drift apart: both build their descriptors from these values and nothing else.
package contract

// Pool series. Every one carries the LabelPool label.
const (
	MaxWorkers             = "workerpool_max_workers"
	Workers                = "workerpool_workers"
	BusyWorkers            = "workerpool_busy_workers"
	QueuedTasks            = "workerpool_queued_tasks"
	MaxQueuedTasks         = "workerpool_max_queued_tasks"
	TasksSubmittedTotal    = "workerpool_tasks_submitted_total"
	TasksCompletedTotal    = "workerpool_tasks_completed_total"
	TasksRejectedTotal     = "workerpool_tasks_rejected_total"
	TaskWaitSeconds        = "workerpool_task_wait_seconds"
	TaskDurationSeconds    = "workerpool_task_duration_seconds"
	BusySecondsTotal       = "workerpool_busy_seconds_total"
	SaturatedSecondsTotal  = "workerpool_saturated_seconds_total"
	OldestQueuedAgeSeconds = "workerpool_oldest_queued_task_age_seconds"
	OldestRunningAgeSecs   = "workerpool_oldest_running_task_age_seconds"
)

// Route series ("Which requests hold the workers"), labelled by LabelPool and LabelRoute. A
// route is exposed only while it runs something, at most a configured number of routes per
// pool, the rest summed into route "other".
const (
	RouteBusyWorkers   = "workerpool_route_busy_workers"
	RouteOldestRunning = "workerpool_route_oldest_running_task_age_seconds"
)

// Exporter series, labelled by LabelSource.
const (
	Up                    = "poolwatch_up"
	ScrapeDurationSeconds = "poolwatch_scrape_duration_seconds"
)

// BusySecondsKeptTotal counts, per pool (LabelPool), the correction of a source whose busy
// seconds the exporter counts across reads (uWSGI): the seconds of requests that ended
// without reaching the server's own count, added to workerpool_busy_seconds_total all the
// same. The contract asks that a corrected value's correction be counted.
const BusySecondsKeptTotal = "poolwatch_busy_seconds_kept_total"

// Label names and their allowed values.
const (
	LabelPool    = "pool"
	LabelOutcome = "outcome"
	LabelReason  = "reason"
	LabelSource  = "source"
	LabelRoute   = "route"

	OutcomeSuccess = "success"
	OutcomeError   = "error"
	OutcomePanic   = "panic"

	ReasonQueueFull = "queue_full"
	ReasonTimeout   = "timeout"
	ReasonCanceled  = "canceled"
	ReasonClosed    = "closed"
)

// Outcomes and Reasons list every label value, in the order they are exposed. A counter is
// exposed for each value from the start (at 0), so that rate() and increase() see the first
// event instead of a series that appears out of nowhere.
var (
	Outcomes = [...]string{OutcomeSuccess, OutcomeError, OutcomePanic}
	Reasons  = [...]string{ReasonQueueFull, ReasonTimeout, ReasonCanceled, ReasonClosed}
)

// Help texts, one per series, shared so that every source describes a series the same way.
var Help = map[string]string{
	MaxWorkers:             "Capacity of the pool: the most tasks that can run at once.",
	Workers:                "Workers alive now (started goroutines or threads, busy or idle).",
	BusyWorkers:            "Workers running a task at this instant.",
	QueuedTasks:            "Tasks waiting for a worker: in the queue, or held by a caller blocked in a submit that waits for room.",
	MaxQueuedTasks:         "Capacity of the queue; absent when the queue is unbounded.",
	TasksSubmittedTotal:    "Tasks offered to the pool, accepted or not.",
	TasksCompletedTotal:    "Tasks that finished running, by outcome.",
	TasksRejectedTotal:     "Tasks that never ran, by reason.",
	TaskWaitSeconds:        "Time from submission to start (queue wait).",
	TaskDurationSeconds:    "Time from start to finish of a task.",
	BusySecondsTotal:       "Integral of busy workers over time; rate() of it is the mean number of busy workers.",
	SaturatedSecondsTotal:  "Time during which every worker was busy; rate() of it is the fraction of time the pool was exhausted.",
	OldestQueuedAgeSeconds: "How long the task that has waited longest (in the queue or in a blocked submit) has waited so far; 0 when none waits.",
	OldestRunningAgeSecs:   "How long the longest-running task has run so far; 0 when no task runs.",
	RouteBusyWorkers:       "Workers running a task (a request) of this route now; routes beyond the top ones are summed into route \"other\".",
	RouteOldestRunning:     "How long the oldest running task (request) of this route has run so far.",
	Up:                     "1 if the last read of the target succeeded, else 0.",
	ScrapeDurationSeconds:  "How long reading the target took, in seconds.",
	BusySecondsKeptTotal:   "Seconds of requests that ended without reaching the server's own busy time (a worker killed, a static file), kept in workerpool_busy_seconds_total.",
}

// Buckets are the classic histogram boundaries (seconds) of the wait and duration histograms.
// They contain every boundary the contract requires (0.005 … 60), so that objectives at those
// thresholds are exact, plus finer ones below 5 ms for fast pools and 120 s for hung tasks.
var Buckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// RequiredBuckets are the boundaries the contract demands of every histogram.
var RequiredBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
