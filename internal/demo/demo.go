// Package demo is poolwatch-demo: a small service that runs a collector.Pool ("jobs") and an
// HTTP handler behind a collector.Limiter ("http"), drives both with a built-in, bounded load
// generator that ramps towards exhaustion and recovers in cycles, serves /metrics, and prints
// a status line every few seconds. cmd/poolwatch-demo only parses flags and calls Run.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/poolwatch/poolwatch/collector"
	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/exporter-toolkit/web"
)

// Name is the program's name, for its version and build-info metric.
const Name = "poolwatch_demo"

// Config is everything the demo's flags set.
type Config struct {
	// MetricsPath is where /metrics is served (--web.telemetry-path).
	MetricsPath string
	// Cycle is the length of one load cycle: calm, ramp past capacity, overload, recovery.
	Cycle time.Duration
	// StatusInterval is how often the status line is printed to Status; 0 disables it.
	StatusInterval time.Duration
	// Status receives the status lines (os.Stdout in the command).
	Status io.Writer
	// JobWorkers, JobQueue: the "jobs" pool's size and queue capacity.
	JobWorkers, JobQueue int
	// HTTPWorkers, HTTPQueue, HTTPMaxWait: the "http" limiter's slots, queue and max wait.
	HTTPWorkers, HTTPQueue int
	HTTPMaxWait            time.Duration
	// MeanTask is the mean duration of a task or request (a sleep: a blocking call).
	MeanTask time.Duration
	// Listener, when set, is used instead of the addresses in the web flags (tests).
	Listener net.Listener
}

// DefaultConfig returns the settings behind the command's flag defaults.
func DefaultConfig() Config {
	return Config{
		MetricsPath: "/metrics",
		// Short enough that a newcomer sees a whole ramp, the overload and the recovery
		// within two minutes of `go run`.
		Cycle:          2 * time.Minute,
		StatusInterval: 5 * time.Second,
		JobWorkers:     8,
		JobQueue:       32,
		HTTPWorkers:    4,
		HTTPQueue:      16,
		HTTPMaxWait:    500 * time.Millisecond,
		MeanTask:       100 * time.Millisecond,
	}
}

func (c Config) validate() error {
	switch {
	case c.Cycle < time.Second:
		return fmt.Errorf("cycle %v: must be at least 1s", c.Cycle)
	case c.JobWorkers < 1 || c.HTTPWorkers < 1:
		return errors.New("jobs and http need at least 1 worker each")
	case c.JobQueue < 0 || c.HTTPQueue < 0:
		return errors.New("queue sizes cannot be negative")
	case c.MeanTask < time.Millisecond || c.MeanTask > 10*time.Second:
		return fmt.Errorf("mean task %v: must be within 1ms and 10s", c.MeanTask)
	}
	return nil
}

// Run serves the demo until ctx ends, then stops the load, the server and the pool, and
// returns. It fails early if the configuration or a listener is wrong.
func Run(ctx context.Context, cfg Config, flags *web.FlagConfig, logger *slog.Logger) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	jobs := collector.NewPool("jobs", cfg.JobWorkers, collector.WithQueueSize(cfg.JobQueue),
		collector.WithPanicHandler(func(v any) { logger.Debug("job panicked", "value", v) }))
	// Requests are named by their normalised path, for the route series ("GET /work").
	limiter := collector.NewLimiter("http", cfg.HTTPWorkers, collector.WithQueueSize(cfg.HTTPQueue),
		collector.WithMaxWait(cfg.HTTPMaxWait), collector.WithRoute(collector.PathRoute))
	reg.MustRegister(jobs, limiter, versioncollector.NewCollector(Name))
	if err := collector.RegisterRuntimeMetrics(reg); err != nil {
		return err
	}

	work := limiter.Wrap(workHandler(ctx))
	handler, err := newMux(cfg.MetricsPath, reg, work)
	if err != nil {
		return err
	}

	// The load goes to a listener of its own on loopback, whatever --web.listen-address says.
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("load target listener: %w", err)
	}
	targetSrv := &http.Server{Handler: work, ReadHeaderTimeout: 5 * time.Second}
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}

	var wg sync.WaitGroup
	serveErr := make(chan error, 2)
	wg.Go(func() {
		if err := targetSrv.Serve(target); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- fmt.Errorf("load target: %w", err)
		}
	})
	wg.Go(func() {
		var err error
		if cfg.Listener != nil {
			err = web.Serve(cfg.Listener, server, flags, logger)
		} else {
			err = web.ListenAndServe(server, flags, logger)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	})

	loadCtx, stopLoad := context.WithCancel(ctx)
	gen := &generator{
		cfg: cfg, jobs: jobs, logger: logger,
		url:    "http://" + target.Addr().String() + "/work",
		client: &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: httpClients}},
		start:  time.Now(),
	}
	wg.Go(func() { gen.run(loadCtx) })
	if cfg.StatusInterval > 0 && cfg.Status != nil {
		st := &status{reg: reg, out: cfg.Status, gen: gen}
		wg.Go(func() { st.run(loadCtx, cfg.StatusInterval) })
	}
	logger.Info("demo running", "cycle", cfg.Cycle, "jobs_workers", cfg.JobWorkers, "http_workers", cfg.HTTPWorkers,
		"load_target", target.Addr().String())

	select {
	case <-ctx.Done():
		err = nil
	case err = <-serveErr:
	}
	stopLoad()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = errors.Join(err,
		server.Shutdown(shutdownCtx),
		targetSrv.Shutdown(shutdownCtx),
		jobs.Shutdown(shutdownCtx))
	wg.Wait()
	gen.client.CloseIdleConnections()
	return err
}
