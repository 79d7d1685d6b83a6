package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// Target is one status page to read: which source understands it, where it is, through which
// reader (the module's TLS, auth and redirect policy), how long a read may take at most, and
// how its running requests become route series. [Module.Target] makes the Target of a probe,
// with the module's limits and its coalescing of concurrent reads; a Target built by hand
// reads on every Collect.
type Target struct {
	Source  Source
	Reader  Reader
	URL     string
	Timeout time.Duration
	Routes  RouteOptions
	// MaxPools and MaxSeries bound one read's output: past either, the read fails
	// (poolwatch_up 0, one log line) rather than flood Prometheus; route series past
	// MaxSeries are left out and the read kept (see appendRoutesWithin). Zero means
	// [DefaultMaxPools] and [DefaultMaxSeries].
	MaxPools  int
	MaxSeries int

	// reads, when set, coalesces concurrent reads of this target (key) made through the
	// same module; readLimit bounds such a shared read.
	reads     *readGroup
	key       string
	readLimit time.Duration
}

// DefaultMaxPools is the most pools one target may report. A server has a handful of pools;
// one reporting more is broken or hostile, and its series would swamp Prometheus.
const DefaultMaxPools = 50

// DefaultMaxSeries is the most series one read may expose: more than DefaultMaxPools pools
// with every series of the contract.
const DefaultMaxSeries = 1000

// ErrTooManyPools is wrapped by the error of a read that reported more pools than its limit.
// A source that parses as it reads may return it as soon as it sees one pool too many.
var ErrTooManyPools = errors.New("too many pools")

// NewCollector returns a collector that reads t once per Collect, synchronously and bounded
// by t.Timeout and ctx (the scrape's request context, so that a scrape Prometheus gave up on
// stops waiting), and exposes poolwatch_up, poolwatch_scrape_duration_seconds and the
// workerpool_* series of every valid pool. It keeps no state between scrapes: a pool the
// target stops reporting has no series at the next scrape.
//
// It is an unchecked collector (Describe sends nothing) because the pools are only known once
// the target has been read.
func NewCollector(ctx context.Context, t Target, logger *slog.Logger) prometheus.Collector {
	return &targetCollector{ctx: ctx, target: t, logger: BoundedLogger(logger)}
}

type targetCollector struct {
	// ctx is the scrape's context: a collector lives for exactly one request.
	ctx    context.Context
	target Target
	logger *slog.Logger
}

func (c *targetCollector) Describe(chan<- *prometheus.Desc) {}

func (c *targetCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.target
	source := t.Source.Name()
	// Targets may carry a secret (a password, Puma's token): never log them as they are.
	logger := c.logger.With("source_type", source, "target", RedactTarget(t.URL))
	maxPools, maxSeries := orDefault(t.MaxPools, DefaultMaxPools), orDefault(t.MaxSeries, DefaultMaxSeries)

	// start before the deadline: a scrape cut off by its timeout then reports at least the
	// timeout, however long the goroutine waited between the two.
	start := time.Now()
	ctx, cancel := context.WithTimeout(c.ctx, t.Timeout)
	defer cancel()
	pools, err := c.read(ctx, logger)
	if err == nil && len(pools) > maxPools {
		err = fmt.Errorf("%w: the target reports %d pools, more than max_pools %d", ErrTooManyPools, len(pools), maxPools)
	}
	var metrics []prometheus.Metric
	if err == nil {
		var routes [][]prometheus.Metric
		metrics, routes = c.poolMetrics(pools, logger)
		if len(metrics) > maxSeries {
			err = fmt.Errorf("the target's %d pools make %d series, more than max_series %d", len(pools), len(metrics), maxSeries)
			metrics = nil
		} else {
			metrics = appendRoutesWithin(metrics, routes, maxSeries, logger)
		}
	}
	duration := time.Since(start).Seconds()

	up := 1.0
	if err != nil {
		up = 0
		logger.Error("reading target failed", "err", RedactError(err), "duration_seconds", duration)
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up, source)
	ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, duration, source)
	for _, m := range metrics {
		ch <- m
	}
}

// read reads the target once, or shares the read in flight of the same module and target.
func (c *targetCollector) read(ctx context.Context, logger *slog.Logger) ([]Pool, error) {
	t := c.target
	if t.reads == nil {
		return t.Source.Read(ctx, t.Reader, t.URL, logger)
	}
	return t.reads.do(ctx, t.key, t.readLimit, func(ctx context.Context) ([]Pool, error) {
		return t.Source.Read(ctx, t.Reader, t.URL, logger)
	})
}

// poolMetrics returns the series of every valid pool, and apart from them the route series of
// each pool that has any. The pools left out (invalid, or a name reported twice) are logged in
// one line with their count and the first reason: a page with thousands of bad entries must
// not write thousands of lines.
func (c *targetCollector) poolMetrics(pools []Pool, logger *slog.Logger) (metrics []prometheus.Metric, routes [][]prometheus.Metric) {
	var (
		skipped int
		first   error
	)
	seen := make(map[string]bool, len(pools))
	for i := range pools {
		p := &pools[i]
		err := p.Validate()
		if err == nil && seen[p.Name] {
			// Two series with the same labels would fail the whole gather.
			err = fmt.Errorf("pool %s reported twice", quote(p.Name))
		}
		if err != nil {
			skipped++
			if first == nil {
				first = err
			}
			continue
		}
		seen[p.Name] = true
		metrics = appendPool(metrics, p)
		if r := c.appendRoutes(nil, p, logger); len(r) > 0 {
			routes = append(routes, r)
		}
	}
	if skipped > 0 {
		logger.Warn("skipping pools", "count", skipped, "first_err", first)
	}
	return metrics, routes
}

// appendRoutesWithin appends each pool's route series, in the pools' order, while the total
// stays within maxSeries. The route series say which requests hold the workers; the pool
// series are what the alerts read. So a target whose routes would pass max_series keeps its
// pool series and stays up, and loses the routes of the pools that do not fit, all of a
// pool's routes or none (a partial set would misstate which routes hold the pool), with one
// warning counting them.
func appendRoutesWithin(metrics []prometheus.Metric, routes [][]prometheus.Metric, maxSeries int, logger *slog.Logger) []prometheus.Metric {
	left := 0
	for _, r := range routes {
		if len(metrics)+len(r) > maxSeries {
			left++
			continue
		}
		metrics = append(metrics, r...)
	}
	if left > 0 {
		logger.Warn("leaving out the route series of pools that would pass max_series", "pools", left, "max_series", maxSeries)
	}
	return metrics
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
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
	busyKeptDesc         = newDesc(contract.BusySecondsKeptTotal, contract.LabelPool)
	saturatedSecondsDesc = newDesc(contract.SaturatedSecondsTotal, contract.LabelPool)
	oldestQueuedDesc     = newDesc(contract.OldestQueuedAgeSeconds, contract.LabelPool)
	oldestRunningDesc    = newDesc(contract.OldestRunningAgeSecs, contract.LabelPool)
	routeBusyDesc        = newDesc(contract.RouteBusyWorkers, contract.LabelPool, contract.LabelRoute)
	routeOldestDesc      = newDesc(contract.RouteOldestRunning, contract.LabelPool, contract.LabelRoute)
)

func newDesc(name string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, contract.Help[name], labels, nil)
}

// appendPool appends the series of a validated pool. MustNewConstMetric cannot panic here:
// the descriptors are fixed, the label count matches and Validate checked the name is UTF-8.
func appendPool(ms []prometheus.Metric, p *Pool) []prometheus.Metric {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ms = append(ms, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{p.Name}, labels...)...))
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ms = append(ms, prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append([]string{p.Name}, labels...)...))
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
	if p.BusySecondsKeptTotal != nil {
		counter(busyKeptDesc, *p.BusySecondsKeptTotal)
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
	return ms
}

// appendRoutes appends the route series of a valid pool whose source reports its running
// requests. Route names are valid UTF-8 (the normaliser replaces invalid bytes), so
// MustNewConstMetric cannot panic. They count towards max_series like every other series (see
// appendRoutesWithin); a pool adds at most 2 × (routes max + 1) of them.
func (c *targetCollector) appendRoutes(ms []prometheus.Metric, p *Pool, logger *slog.Logger) []prometheus.Metric {
	if p.Running == nil {
		return ms
	}
	routes, dropped, err := Routes(p.Running, p.BusyWorkers, c.target.Routes)
	if err != nil {
		logger.Warn("leaving out the route series of a pool", "pool", Truncate(p.Name, 64), "err", err)
		return ms
	}
	if dropped > 0 {
		// Frequent and harmless (see Routes): not worth more than a debug line.
		logger.Debug("more running requests than busy workers; the youngest are left out of the routes",
			"pool", Truncate(p.Name, 64), "left_out", dropped, "busy", p.BusyWorkers)
	}
	for _, r := range routes {
		ms = append(ms,
			prometheus.MustNewConstMetric(routeBusyDesc, prometheus.GaugeValue, float64(r.Busy), p.Name, r.Route),
			prometheus.MustNewConstMetric(routeOldestDesc, prometheus.GaugeValue, r.Oldest, p.Name, r.Route))
	}
	return ms
}
