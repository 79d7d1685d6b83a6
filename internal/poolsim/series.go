package poolsim

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// source is what exposes a pool: which contract series it has, and whether they are read
// from a stats page by the exporter (which then adds poolwatch_up{source}, and which an
// exhausted pool cannot serve when the page runs on that pool). A new source (PHP-FPM,
// uWSGI, ...) is one entry in the sources table.
type source struct {
	// statsPage: read by poolwatch_exporter from a page the server serves.
	statsPage bool
	// series lists the series the source exposes, in exposition order.
	series func(sc *Scenario) []seriesDef
}

// seriesDef is one series: its name, extra labels beside job, instance and pool, and its
// value at a sample. page marks the series read from the stats page: absent when a read
// fails.
type seriesDef struct {
	name   string
	labels string
	value  func(s *Sample) float64
}

var sources = map[string]source{
	"go":       {series: goSeries},
	"cherrypy": {statsPage: true, series: cherrypySeries},
	// The other servers the exporter reads, each with the series its README section lists.
	// A queue is the listen backlog where the server measures it (PHP-FPM on TCP, uWSGI on
	// IPv4, Puma's own backlog); every finished request counts as success.
	"phpfpm": {statsPage: true, series: subset(seriesMaxWorkers, seriesWorkers, seriesBusy, seriesQueued, seriesMaxQueued, seriesCompletedAll, seriesOldestRunning)},
	"apache": {statsPage: true, series: subset(seriesMaxWorkers, seriesWorkers, seriesBusy, seriesCompletedAll)},
	"uwsgi":  {statsPage: true, series: subset(seriesMaxWorkers, seriesWorkers, seriesBusy, seriesQueued, seriesMaxQueued, seriesCompletedAll, seriesOldestRunning, seriesBusySecondsWholeStarts)},
	"puma":   {statsPage: true, series: subset(seriesMaxWorkers, seriesWorkers, seriesBusy, seriesQueued, seriesCompletedAll)},
	"tomcat": {statsPage: true, series: subset(seriesMaxWorkers, seriesWorkers, seriesBusy, seriesCompletedAll, seriesOldestRunning)},
}

// The series a status page can give, for sources built from a subset of them.
type pageSeries int

const (
	seriesMaxWorkers pageSeries = iota
	seriesWorkers
	seriesBusy
	seriesQueued
	seriesMaxQueued // only when the scenario's queue is bounded
	seriesCompletedAll
	seriesOldestRunning
	seriesBusySeconds
	// seriesBusySecondsWholeStarts is busy seconds counted as uWSGI can: running tasks from
	// their start in whole seconds, less one (Sample.BusySecondsWholeStarts).
	seriesBusySecondsWholeStarts
)

// subset is a source exposing the given series, in this order.
func subset(want ...pageSeries) func(sc *Scenario) []seriesDef {
	return func(sc *Scenario) []seriesDef {
		var defs []seriesDef
		for _, w := range want {
			switch w {
			case seriesMaxWorkers:
				defs = append(defs, gauge(contract.MaxWorkers, capacity))
			case seriesWorkers:
				defs = append(defs, gauge(contract.Workers, capacity))
			case seriesBusy:
				defs = append(defs, gauge(contract.BusyWorkers, func(s *Sample) float64 { return float64(s.Busy) }))
			case seriesQueued:
				defs = append(defs, gauge(contract.QueuedTasks, func(s *Sample) float64 { return float64(s.Queued) }))
			case seriesMaxQueued:
				if sc.Queue != nil {
					q := float64(*sc.Queue)
					defs = append(defs, gauge(contract.MaxQueuedTasks, func(*Sample) float64 { return q }))
				}
			case seriesCompletedAll:
				defs = append(defs, seriesDef{contract.TasksCompletedTotal, `outcome="success"`, func(s *Sample) float64 { return float64(s.Succeeded + s.Failed) }})
			case seriesOldestRunning:
				defs = append(defs, gauge(contract.OldestRunningAgeSecs, func(s *Sample) float64 { return s.OldestRunning }))
			case seriesBusySeconds:
				defs = append(defs, gauge(contract.BusySecondsTotal, func(s *Sample) float64 { return s.BusySeconds }))
			case seriesBusySecondsWholeStarts:
				defs = append(defs, gauge(contract.BusySecondsTotal, func(s *Sample) float64 { return s.BusySecondsWholeStarts }))
			}
		}
		return defs
	}
}

// capacity is max_workers and workers at a sample: the pool's capacity then, or the busy
// count while it is above it after a shrink. The contract holds busy <= workers <=
// max_workers on every scrape: a pool's status page counts the workers still alive (a
// worker finishing its task after a shrink is alive), and the collector reports
// max_workers equal to busy while more tasks run than its capacity.
func capacity(s *Sample) float64 { return float64(max(s.Workers, s.Busy)) }

func sourceNames() string {
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func gauge(name string, v func(s *Sample) float64) seriesDef {
	return seriesDef{name: name, value: v}
}

// goSeries is every series of the contract, as the collector library exposes them: every
// outcome and reason from the start, the queue's capacity only when it is bounded.
func goSeries(sc *Scenario) []seriesDef {
	defs := []seriesDef{
		gauge(contract.MaxWorkers, capacity),
		gauge(contract.Workers, capacity),
		gauge(contract.BusyWorkers, func(s *Sample) float64 { return float64(s.Busy) }),
		gauge(contract.QueuedTasks, func(s *Sample) float64 { return float64(s.Queued) }),
	}
	if sc.Queue != nil {
		q := float64(*sc.Queue)
		defs = append(defs, gauge(contract.MaxQueuedTasks, func(*Sample) float64 { return q }))
	}
	defs = append(defs,
		gauge(contract.TasksSubmittedTotal, func(s *Sample) float64 { return float64(s.Submitted) }),
		seriesDef{contract.TasksCompletedTotal, `outcome="success"`, func(s *Sample) float64 { return float64(s.Succeeded) }},
		seriesDef{contract.TasksCompletedTotal, `outcome="error"`, func(s *Sample) float64 { return float64(s.Failed) }},
		seriesDef{contract.TasksCompletedTotal, `outcome="panic"`, func(*Sample) float64 { return 0 }},
		seriesDef{contract.TasksRejectedTotal, `reason="queue_full"`, func(s *Sample) float64 { return float64(s.Rejected) }},
	)
	for _, r := range contract.Reasons[1:] {
		defs = append(defs, seriesDef{contract.TasksRejectedTotal, `reason="` + r + `"`, func(*Sample) float64 { return 0 }})
	}
	defs = append(defs, histogram(contract.TaskWaitSeconds, func(s *Sample) *Histogram { return &s.Wait })...)
	defs = append(defs, histogram(contract.TaskDurationSeconds, func(s *Sample) *Histogram { return &s.Duration })...)
	return append(defs,
		gauge(contract.BusySecondsTotal, func(s *Sample) float64 { return s.BusySeconds }),
		gauge(contract.SaturatedSecondsTotal, func(s *Sample) float64 { return s.SaturatedSeconds }),
		gauge(contract.OldestQueuedAgeSeconds, func(s *Sample) float64 { return s.OldestQueued }),
		gauge(contract.OldestRunningAgeSecs, func(s *Sample) float64 { return s.OldestRunning }),
	)
}

// cherrypySeries is what the exporter reads from cpstats (docs/contract.md): capacity,
// busy and queued threads, Work Time, and from the request statistics every finished request
// (cpstats does not tell errors apart) and the oldest running one.
var cherrypySeries = subset(seriesMaxWorkers, seriesWorkers, seriesBusy, seriesQueued,
	seriesOldestRunning, seriesCompletedAll, seriesBusySeconds)

// histogram is the _bucket (cumulative), _sum and _count series of one histogram.
func histogram(name string, h func(s *Sample) *Histogram) []seriesDef {
	var defs []seriesDef
	for i := range len(contract.Buckets) + 1 {
		le := "+Inf"
		if i < len(contract.Buckets) {
			le = strconv.FormatFloat(contract.Buckets[i], 'g', -1, 64)
		}
		defs = append(defs, seriesDef{name + "_bucket", `le="` + le + `"`, func(s *Sample) float64 {
			var n int64
			for _, c := range h(s).Counts[:i+1] {
				n += c
			}
			return float64(n)
		}})
	}
	return append(defs,
		seriesDef{name + "_sum", "", func(s *Sample) float64 { return h(s).Sum }},
		seriesDef{name + "_count", "", func(s *Sample) float64 { return float64(h(s).Count()) }},
	)
}

// InputSeries is one series of a promtool test: its selector and its values, one per
// scrape, in promtool's notation ("_" for a missing sample).
type InputSeries struct {
	Series string `json:"series"`
	Values string `json:"values"`
}

// Series turns the samples into the input series of a promtool test, as the scenario's
// source would have exposed them at every scrape.
func Series(sc *Scenario, samples []Sample) []InputSeries {
	src := sources[sc.Source]
	base := fmt.Sprintf(`job=%q,instance=%q,pool=%q`, sc.Job, sc.Instance, sc.Pool)
	// The stats page shares the pool it measures: it cannot be served while every worker
	// is busy (as many as the capacity of the moment, or more after a shrink) and requests
	// wait, so that scrape reads nothing.
	readable := func(s *Sample) bool {
		return !(sc.StatsOnMainPool && s.Busy >= s.Workers && s.Queued > 0)
	}
	var out []InputSeries
	for _, d := range src.series(sc) {
		sel := d.name + "{" + base
		if d.labels != "" {
			sel += "," + d.labels
		}
		var b strings.Builder
		for i := range samples {
			if i > 0 {
				b.WriteByte(' ')
			}
			switch {
			case !src.statsPage || readable(&samples[i]):
				b.WriteString(formatValue(d.value(&samples[i])))
			case i > 0 && readable(&samples[i-1]):
				// The scrape that finds the series gone: Prometheus marks it stale at once,
				// so an instant query no longer returns its last value (as "_" alone
				// would for 5 minutes).
				b.WriteString("stale")
			default:
				b.WriteByte('_')
			}
		}
		out = append(out, InputSeries{Series: sel + "}", Values: b.String()})
	}
	if src.statsPage {
		var b strings.Builder
		for i := range samples {
			if i > 0 {
				b.WriteByte(' ')
			}
			if readable(&samples[i]) {
				b.WriteByte('1')
			} else {
				b.WriteByte('0')
			}
		}
		out = append(out, InputSeries{
			Series: fmt.Sprintf(`%s{job=%q,instance=%q,source=%q}`, contract.Up, sc.Job, sc.Instance, sc.Source),
			Values: b.String(),
		})
	}
	return out
}

// formatValue writes a value to the millisecond (seconds) or exactly (counts), as short as
// it can be: a long run's values are many, and promtool reads them all.
func formatValue(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}
