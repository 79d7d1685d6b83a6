package exporter_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolwatch/poolwatch/exporter"
)

// staticSource stands in for a real source such as cherrypy.Source: a source only has to
// turn one read of its target into pools.
type staticSource struct{}

func (staticSource) Name() string { return "static" }

func (staticSource) Read(context.Context, exporter.Reader, string, *slog.Logger) ([]exporter.Pool, error) {
	return []exporter.Pool{{
		Name:       "127.0.0.1:8080",
		MaxWorkers: 10, Workers: 10, BusyWorkers: 10, QueuedTasks: 4,
		BusySecondsTotal: exporter.Float(1234.5),
	}}, nil
}

// A collector reads its target once per scrape and exposes the contract's series; a value
// the source cannot report (here, all but five) is absent rather than zero.
func ExampleNewCollector() {
	reg := prometheus.NewRegistry()
	reg.MustRegister(exporter.NewCollector(context.Background(),
		exporter.Target{Source: staticSource{}, URL: "http://127.0.0.1:8081/status", Timeout: time.Second},
		slog.New(slog.DiscardHandler)))
	families, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range families {
		if mf.GetName() == "poolwatch_scrape_duration_seconds" {
			continue // varies from run to run
		}
		m := mf.GetMetric()[0]
		fmt.Println(mf.GetName(), m.GetLabel()[0].GetValue(), m.GetGauge().GetValue()+m.GetCounter().GetValue())
	}
	// Output:
	// poolwatch_up static 1
	// workerpool_busy_seconds_total 127.0.0.1:8080 1234.5
	// workerpool_busy_workers 127.0.0.1:8080 10
	// workerpool_max_workers 127.0.0.1:8080 10
	// workerpool_queued_tasks 127.0.0.1:8080 4
	// workerpool_workers 127.0.0.1:8080 10
}
