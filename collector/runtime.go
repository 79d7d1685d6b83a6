package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// RegisterRuntimeMetrics registers, on reg, client_golang's Go collector with the runtime's
// scheduler metrics (go_sched_goroutines_*, go_sched_latencies_seconds, besides go_goroutines
// and go_threads) and the process collector (process_*). Scheduler latency rising while a
// pool is saturated tells CPU starvation apart from workers blocked on I/O.
func RegisterRuntimeMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
