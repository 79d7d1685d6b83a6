package collector

import (
	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/prometheus/client_golang/prometheus"
)

// descs are one pool's descriptors. The pool's name is a const label, so that any number of
// pools can be registered side by side in one registry: each has its own, distinct set.
type descs struct {
	maxWorkers, workers, busy, queued, maxQueued *prometheus.Desc
	submitted, completed, rejected               *prometheus.Desc
	wait, duration                               *prometheus.Desc
	busySeconds, saturatedSeconds                *prometheus.Desc
	oldestQueued, oldestRunning                  *prometheus.Desc
	routeBusy, routeOldest                       *prometheus.Desc
}

func newDescs(pool string) descs {
	labels := prometheus.Labels{contract.LabelPool: pool}
	d := func(name string, variable ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, contract.Help[name], variable, labels)
	}
	return descs{
		maxWorkers:       d(contract.MaxWorkers),
		workers:          d(contract.Workers),
		busy:             d(contract.BusyWorkers),
		queued:           d(contract.QueuedTasks),
		maxQueued:        d(contract.MaxQueuedTasks),
		submitted:        d(contract.TasksSubmittedTotal),
		completed:        d(contract.TasksCompletedTotal, contract.LabelOutcome),
		rejected:         d(contract.TasksRejectedTotal, contract.LabelReason),
		wait:             d(contract.TaskWaitSeconds),
		duration:         d(contract.TaskDurationSeconds),
		busySeconds:      d(contract.BusySecondsTotal),
		saturatedSeconds: d(contract.SaturatedSecondsTotal),
		oldestQueued:     d(contract.OldestQueuedAgeSeconds),
		oldestRunning:    d(contract.OldestRunningAgeSecs),
		routeBusy:        d(contract.RouteBusyWorkers, contract.LabelRoute),
		routeOldest:      d(contract.RouteOldestRunning, contract.LabelRoute),
	}
}

func (d *descs) describe(ch chan<- *prometheus.Desc, bounded bool) {
	for _, desc := range []*prometheus.Desc{
		d.maxWorkers, d.workers, d.busy, d.queued, d.submitted, d.completed, d.rejected,
		d.wait, d.duration, d.busySeconds, d.saturatedSeconds, d.oldestQueued, d.oldestRunning,
		d.routeBusy, d.routeOldest,
	} {
		ch <- desc
	}
	if bounded {
		ch <- d.maxQueued
	}
}

func (d *descs) collect(ch chan<- prometheus.Metric, s *snapshot) {
	gauge := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v)
	}
	counter := func(desc *prometheus.Desc, v float64, label ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, label...)
	}
	gauge(d.maxWorkers, float64(s.max))
	gauge(d.workers, float64(s.workers))
	gauge(d.busy, float64(s.busy))
	gauge(d.queued, float64(s.queued))
	if s.maxQueued >= 0 {
		gauge(d.maxQueued, float64(s.maxQueued))
	}
	counter(d.submitted, float64(s.submitted))
	for i, n := range s.completed {
		counter(d.completed, float64(n), contract.Outcomes[i])
	}
	for i, n := range s.rejected {
		counter(d.rejected, float64(n), contract.Reasons[i])
	}
	if s.nativeWait != nil && s.nativeDuration != nil {
		ch <- frozenMetric{d.wait, s.nativeWait}
		ch <- frozenMetric{d.duration, s.nativeDuration}
	} else {
		ch <- prometheus.MustNewConstHistogram(d.wait, s.wait.count, s.wait.sum(), s.wait.cumulative())
		ch <- prometheus.MustNewConstHistogram(d.duration, s.duration.count, s.duration.sum(), s.duration.cumulative())
	}
	counter(d.busySeconds, s.busySeconds)
	counter(d.saturatedSeconds, s.saturatedSeconds)
	gauge(d.oldestQueued, s.oldestQueued)
	gauge(d.oldestRunning, s.oldestRunning)
	// Only the routes running something: a route series disappears when its last task ends.
	for _, r := range s.routes {
		ch <- prometheus.MustNewConstMetric(d.routeBusy, prometheus.GaugeValue, float64(r.Busy), r.Route)
		ch <- prometheus.MustNewConstMetric(d.routeOldest, prometheus.GaugeValue, r.Oldest, r.Route)
	}
}
