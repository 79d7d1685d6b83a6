package exporter

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// Pool is one worker pool as a source read it at scrape time. The four gauges every source
// can report are plain fields; a series a source cannot provide is left nil (or empty), and
// is then absent from the output rather than faked.
type Pool struct {
	// Name is the value of the pool label (for a cheroot server, its bind address).
	Name string

	MaxWorkers  float64
	Workers     float64
	BusyWorkers float64
	QueuedTasks float64
	// QueueNotMeasured marks a source that cannot see the tasks waiting for a worker (Tomcat's
	// executor queue, a uWSGI unix socket's backlog): workerpool_queued_tasks and
	// workerpool_max_queued_tasks are then absent rather than a 0 that would claim an empty
	// queue, and QueuedTasks and MaxQueuedTasks are ignored.
	QueueNotMeasured bool

	MaxQueuedTasks      *float64
	TasksSubmittedTotal *float64
	TasksCompletedTotal map[string]float64 // by outcome (contract.Outcome*)
	TasksRejectedTotal  map[string]float64 // by reason (contract.Reason*)
	BusySecondsTotal    *float64
	// BusySecondsKeptTotal is the correction counted in BusySecondsTotal by a source that
	// counts it across reads (uWSGI), exposed as poolwatch_busy_seconds_kept_total.
	BusySecondsKeptTotal        *float64
	SaturatedSecondsTotal       *float64
	OldestQueuedTaskAgeSeconds  *float64
	OldestRunningTaskAgeSeconds *float64

	// Running lists the requests running now, for the route series (see [Routes]); nil when
	// the source cannot tell which requests its workers run.
	Running []Request
}

// Float returns a pointer to v, for the optional fields of [Pool].
func Float(v float64) *float64 { return &v }

// IsCount reports whether v, as a status page's JSON number, is a count: a finite whole number
// not below 0.
func IsCount(v float64) bool { return v >= 0 && v == math.Trunc(v) && !math.IsInf(v, 0) }

// ErrInvalidPool is wrapped by every error of [Pool.Validate], so that callers can tell a
// bad pool (skipped) from a failed read (poolwatch_up 0).
var ErrInvalidPool = errors.New("invalid pool")

// Validate reports whether p can be exposed without breaking the contract's invariants:
// a usable name, finite non-negative values, busy <= workers <= max, queued <= max queued,
// and only the contract's outcome and reason label values.
func (p *Pool) Validate() error {
	if p.Name == "" || !utf8.ValidString(p.Name) {
		return fmt.Errorf("%w: pool name %q is empty or not UTF-8", ErrInvalidPool, p.Name)
	}
	check := func(name string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("%w %q: %s is %v", ErrInvalidPool, p.Name, name, v)
		}
		return nil
	}
	values := []struct {
		name string
		v    *float64
	}{
		{contract.MaxWorkers, &p.MaxWorkers},
		{contract.Workers, &p.Workers},
		{contract.BusyWorkers, &p.BusyWorkers},
		{contract.QueuedTasks, &p.QueuedTasks},
		{contract.MaxQueuedTasks, p.MaxQueuedTasks},
		{contract.TasksSubmittedTotal, p.TasksSubmittedTotal},
		{contract.BusySecondsTotal, p.BusySecondsTotal},
		{contract.BusySecondsKeptTotal, p.BusySecondsKeptTotal},
		{contract.SaturatedSecondsTotal, p.SaturatedSecondsTotal},
		{contract.OldestQueuedAgeSeconds, p.OldestQueuedTaskAgeSeconds},
		{contract.OldestRunningAgeSecs, p.OldestRunningTaskAgeSeconds},
	}
	for _, f := range values {
		if f.v == nil {
			continue
		}
		if err := check(f.name, *f.v); err != nil {
			return err
		}
	}
	if err := checkLabelled(p, contract.TasksCompletedTotal, p.TasksCompletedTotal, contract.Outcomes[:], check); err != nil {
		return err
	}
	if err := checkLabelled(p, contract.TasksRejectedTotal, p.TasksRejectedTotal, contract.Reasons[:], check); err != nil {
		return err
	}
	if p.BusyWorkers > p.Workers || p.Workers > p.MaxWorkers {
		return fmt.Errorf("%w %q: need busy (%v) <= workers (%v) <= max (%v)",
			ErrInvalidPool, p.Name, p.BusyWorkers, p.Workers, p.MaxWorkers)
	}
	if !p.QueueNotMeasured && p.MaxQueuedTasks != nil && p.QueuedTasks > *p.MaxQueuedTasks {
		return fmt.Errorf("%w %q: queued (%v) > queue capacity (%v)",
			ErrInvalidPool, p.Name, p.QueuedTasks, *p.MaxQueuedTasks)
	}
	return nil
}

func checkLabelled(p *Pool, name string, values map[string]float64, allowed []string, check func(string, float64) error) error {
	for label, v := range values {
		known := false
		for _, a := range allowed {
			known = known || a == label
		}
		if !known {
			return fmt.Errorf("%w %q: %s has unknown label value %q", ErrInvalidPool, p.Name, name, label)
		}
		if err := check(name+"{"+label+"}", v); err != nil {
			return err
		}
	}
	return nil
}
