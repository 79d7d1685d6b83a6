// Command poolwatch-demo runs a worker pool and an HTTP handler behind a limiter, drives them
// in cycles towards exhaustion and back with a built-in loopback load generator, and serves
// their metrics: everything the poolwatch alerts and dashboards need, from `go run` alone.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/poolwatch/poolwatch/internal/buildinfo"
	"github.com/poolwatch/poolwatch/internal/demo"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
)

func main() {
	buildinfo.Fill()
	cfg := demo.DefaultConfig()
	app := kingpin.New("poolwatch-demo", "A worker pool and an HTTP handler driven towards exhaustion and back, with their poolwatch metrics.")
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default(cfg.MetricsPath).StringVar(&cfg.MetricsPath)
	app.Flag("load.cycle", "Length of one load cycle: calm, ramp past capacity, overload, recovery.").Default(cfg.Cycle.String()).DurationVar(&cfg.Cycle)
	app.Flag("load.mean-task", "Mean duration of a job or request (a sleep standing for a blocking call).").Default(cfg.MeanTask.String()).DurationVar(&cfg.MeanTask)
	app.Flag("jobs.workers", "Workers of the jobs pool.").Default(fmt.Sprint(cfg.JobWorkers)).IntVar(&cfg.JobWorkers)
	app.Flag("jobs.queue", "Queue capacity of the jobs pool.").Default(fmt.Sprint(cfg.JobQueue)).IntVar(&cfg.JobQueue)
	app.Flag("http.workers", "Requests the http limiter runs at once.").Default(fmt.Sprint(cfg.HTTPWorkers)).IntVar(&cfg.HTTPWorkers)
	app.Flag("http.queue", "Queue capacity of the http limiter.").Default(fmt.Sprint(cfg.HTTPQueue)).IntVar(&cfg.HTTPQueue)
	app.Flag("http.max-wait", "Longest a request waits for a slot before a 503.").Default(cfg.HTTPMaxWait.String()).DurationVar(&cfg.HTTPMaxWait)
	app.Flag("status.interval", "How often to print the status line (0 to never).").Default(cfg.StatusInterval.String()).DurationVar(&cfg.StatusInterval)
	webFlags := kingpinflag.AddFlags(app, "127.0.0.1:9864")
	logConfig := &promslog.Config{}
	flag.AddFlags(app, logConfig)
	app.Version(version.Print(demo.Name))
	app.HelpFlag.Short('h')
	kingpin.MustParse(app.Parse(os.Args[1:]))

	logger := promslog.New(logConfig)
	logger.Info("starting "+demo.Name, "version", version.Info(), "build_context", version.BuildContext())
	cfg.Status = os.Stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, cfg, webFlags, logger); err != nil {
		logger.Error("demo failed", "err", err)
		os.Exit(1)
	}
	logger.Info("stopped")
}
