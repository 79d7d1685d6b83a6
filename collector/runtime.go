package collector

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// RegisterRuntimeMetrics registers, on reg, client_golang's Go collector with the runtime's
// scheduler metrics (go_sched_goroutines_*, go_sched_latencies_seconds, besides go_goroutines
// and go_threads) and the process collector (process_*). Scheduler latency rising while a
// pool is saturated tells CPU starvation apart from workers blocked on I/O.
//
// It works on prometheus.DefaultRegisterer as on a fresh registry: client_golang's default Go
// collector, if registered (the default registry has it), is replaced by the one with
// scheduler metrics, and a process collector already there is kept. Calling it twice is not
// an error. It registers all or nothing: on error, reg is left as it was.
func RegisterRuntimeMetrics(reg prometheus.Registerer) error {
	goCollector := collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler))
	err := reg.Register(goCollector)
	switch {
	case err == nil:
		return registerProcess(reg, func() { reg.Unregister(goCollector) })
	case isAlreadyRegistered(err): // a second call
		return registerProcess(reg, func() {})
	}
	// Most likely client_golang's default Go collector, whose series (go_goroutines, ...)
	// overlap with this one's: take it out, and put it back if anything fails after.
	defaultGo := collectors.NewGoCollector()
	if !reg.Unregister(defaultGo) {
		return fmt.Errorf("collector: registering the Go collector with scheduler metrics: %w", err)
	}
	restore := func() { reg.MustRegister(defaultGo) } // it was there a moment ago: it fits again
	if err := reg.Register(goCollector); err != nil {
		restore()
		return fmt.Errorf("collector: registering the Go collector with scheduler metrics: %w", err)
	}
	return registerProcess(reg, func() {
		reg.Unregister(goCollector)
		restore()
	})
}

// registerProcess registers the process collector, keeping one already registered; on any
// other error it calls undo, to take back what RegisterRuntimeMetrics did before.
func registerProcess(reg prometheus.Registerer, undo func()) error {
	err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err == nil || isAlreadyRegistered(err) {
		return nil
	}
	undo()
	return fmt.Errorf("collector: registering the process collector: %w", err)
}

func isAlreadyRegistered(err error) bool {
	var are prometheus.AlreadyRegisteredError
	return errors.As(err, &are)
}
