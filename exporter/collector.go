package exporter

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// Target is one status page to read: which source understands it, where it is, through which
// reader (the module's TLS, auth and redirect policy) and how long a read may take at most.
type Target struct {
	Source  Source
	Reader  Reader
	URL     string
	Timeout time.Duration
}

// NewCollector returns a collector that reads t once per Collect, synchronously and bounded
// by t.Timeout and ctx (the scrape's request context, so that a scrape Prometheus gave up on
// stops reading), and exposes poolwatch_up, poolwatch_scrape_duration_seconds and the
// workerpool_* series of every valid pool. It keeps no state between scrapes: a pool the
// target stops reporting has no series at the next scrape.
//
// It is an unchecked collector (Describe sends nothing) because the pools are only known once
// the target has been read.
func NewCollector(ctx context.Context, t Target, logger *slog.Logger) prometheus.Collector {
	return &targetCollector{ctx: ctx, target: t, logger: logger}
}

type targetCollector struct {
	// ctx is the scrape's context: a collector lives for exactly one request.
	ctx    context.Context
	target Target
	logger *slog.Logger
}

func (c *targetCollector) Describe(chan<- *prometheus.Desc) {}

func (c *targetCollector) Collect(ch chan<- prometheus.Metric) {
	source := c.target.Source.Name()
	// Targets may carry a secret (a password, Puma's token): never log them as they are.
	logger := c.logger.With("source_type", source, "target", RedactTarget(c.target.URL))

	ctx, cancel := context.WithTimeout(c.ctx, c.target.Timeout)
	defer cancel()
	start := time.Now()
	pools, err := c.target.Source.Read(ctx, c.target.Reader, c.target.URL, logger)
	duration := time.Since(start).Seconds()

	up := 1.0
	if err != nil {
		up = 0
		pools = nil
		logger.Error("reading target failed", "err", RedactError(err), "duration_seconds", duration)
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up, source)
	ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, duration, source)

	seen := make(map[string]bool, len(pools))
	for i := range pools {
		p := &pools[i]
		if err := p.Validate(); err != nil {
			logger.Warn("skipping pool", "pool", p.Name, "err", err)
			continue
		}
		if seen[p.Name] {
			// Two series with the same labels would fail the whole gather.
			logger.Warn("skipping pool reported twice", "pool", p.Name)
			continue
		}
		seen[p.Name] = true
		collectPool(ch, p)
	}
}

var (
	upDesc       = newDesc(contract.Up, contract.LabelSource)
	durationDesc = newDesc(contract.ScrapeDurationSeconds, contract.LabelSource)

	maxWorkersDesc       = newDesc(contract.MaxWorkers, contract.LabelPool)
	workersDesc          = newDesc(contract.Workers, contract.LabelPool)
	busyWorkersDesc      = newDesc(contract.BusyWorkers, contract.LabelPool)
	queuedDesc           = newDesc(contract.QueuedTasks, contract.LabelPool)
	maxQueuedDesc        = newDesc(contract.MaxQueuedTasks, contract.LabelPool)
	submittedDesc        = newDesc(contract.TasksSubmittedTotal, contract.LabelPool)
	completedDesc        = newDesc(contract.TasksCompletedTotal, contract.LabelPool, contract.LabelOutcome)
	rejectedDesc         = newDesc(contract.TasksRejectedTotal, contract.LabelPool, contract.LabelReason)
	busySecondsDesc      = newDesc(contract.BusySecondsTotal, contract.LabelPool)
	saturatedSecondsDesc = newDesc(contract.SaturatedSecondsTotal, contract.LabelPool)
	oldestQueuedDesc     = newDesc(contract.OldestQueuedAgeSeconds, contract.LabelPool)
	oldestRunningDesc    = newDesc(contract.OldestRunningAgeSecs, contract.LabelPool)
)

func newDesc(name string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, contract.Help[name], labels, nil)
}

// collectPool sends the series of a validated pool. MustNewConstMetric cannot panic here:
// the descriptors are fixed, the label count matches and Validate checked the name is UTF-8.
func collectPool(ch chan<- prometheus.Metric, p *Pool) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{p.Name}, labels...)...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append([]string{p.Name}, labels...)...)
	}
	gauge(maxWorkersDesc, p.MaxWorkers)
	gauge(workersDesc, p.Workers)
	gauge(busyWorkersDesc, p.BusyWorkers)
	if !p.QueueNotMeasured {
		gauge(queuedDesc, p.QueuedTasks)
		if p.MaxQueuedTasks != nil {
			gauge(maxQueuedDesc, *p.MaxQueuedTasks)
		}
	}
	if p.TasksSubmittedTotal != nil {
		counter(submittedDesc, *p.TasksSubmittedTotal)
	}
	// Contract order, so that the output is stable from scrape to scrape.
	for _, outcome := range contract.Outcomes {
		if v, ok := p.TasksCompletedTotal[outcome]; ok {
			counter(completedDesc, v, outcome)
		}
	}
	for _, reason := range contract.Reasons {
		if v, ok := p.TasksRejectedTotal[reason]; ok {
			counter(rejectedDesc, v, reason)
		}
	}
	if p.BusySecondsTotal != nil {
		counter(busySecondsDesc, *p.BusySecondsTotal)
	}
	if p.SaturatedSecondsTotal != nil {
		counter(saturatedSecondsDesc, *p.SaturatedSecondsTotal)
	}
	if p.OldestQueuedTaskAgeSeconds != nil {
		gauge(oldestQueuedDesc, *p.OldestQueuedTaskAgeSeconds)
	}
	if p.OldestRunningTaskAgeSeconds != nil {
		gauge(oldestRunningDesc, *p.OldestRunningTaskAgeSeconds)
	}
}
