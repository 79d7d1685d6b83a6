// Command poolwatch_exporter reads the worker-pool statistics of servers that cannot be
// instrumented in-process (CherryPy's cpstats, PHP-FPM's and Apache httpd's status pages,
// uWSGI's stats server, Puma's control app, Tomcat's manager status) and exposes them under
// the poolwatch metric contract: one target with a
// --<source>.scrape-uri flag on /metrics, or many through
// /probe?module=M&target=T with the modules of --config.file.
package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/apache"
	"github.com/poolwatch/poolwatch/exporter/cherrypy"
	"github.com/poolwatch/poolwatch/exporter/phpfpm"
	"github.com/poolwatch/poolwatch/exporter/puma"
	"github.com/poolwatch/poolwatch/exporter/tomcat"
	"github.com/poolwatch/poolwatch/exporter/uwsgi"
	"github.com/poolwatch/poolwatch/internal/buildinfo"
)

const program = "poolwatch_exporter"

// sources is every kind of status page the exporter understands, by configuration name.
var sources = map[string]exporter.Source{
	cherrypy.Name: cherrypy.Source{},
	phpfpm.Name:   phpfpm.Source{},
	apache.Name:   apache.Source{},
	uwsgi.Name:    &uwsgi.Source{},
	puma.Name:     &puma.Source{},
	tomcat.Name:   tomcat.Source{},
}

func main() {
	buildinfo.Fill()
	var (
		metricsPath = kingpin.Flag("web.telemetry-path",
			"Path under which to expose metrics.").Default("/metrics").String()
		configFile = kingpin.Flag("config.file",
			"Modules for /probe (YAML). Without it, /probe is disabled.").Default("").String()
		cherrypyURI = kingpin.Flag("cherrypy.scrape-uri",
			"CherryPy cpstats JSON to read on every scrape of /metrics, e.g. http://127.0.0.1:8081/cpstats/data.").Default("").String()
		cherrypyTimeout = kingpin.Flag("cherrypy.timeout",
			"Most time a read of --cherrypy.scrape-uri may take (the scrape's own timeout lowers it).").Default("5s").Duration()
		phpfpmURI = kingpin.Flag("phpfpm.scrape-uri",
			"PHP-FPM status page to read on every scrape of /metrics, with the pool's capacity, e.g. fastcgi://127.0.0.1:9001/status?max_children=10.").Default("").String()
		phpfpmTimeout = kingpin.Flag("phpfpm.timeout",
			"Most time a read of --phpfpm.scrape-uri may take (the scrape's own timeout lowers it).").Default("5s").Duration()
		apacheURI = kingpin.Flag("apache.scrape-uri",
			"Apache httpd mod_status page to read on every scrape of /metrics, e.g. http://127.0.0.1/server-status?auto.").Default("").String()
		apacheTimeout = kingpin.Flag("apache.timeout",
			"Most time a read of --apache.scrape-uri may take (the scrape's own timeout lowers it).").Default("5s").Duration()
		uwsgiURI = kingpin.Flag("uwsgi.scrape-uri",
			"uWSGI stats server to read on every scrape of /metrics: tcp://127.0.0.1:1717, unix:///run/uwsgi/stats.sock, or http://127.0.0.1:1717/ with --stats-http.").Default("").String()
		uwsgiTimeout = kingpin.Flag("uwsgi.timeout",
			"Most time a read of --uwsgi.scrape-uri may take (the scrape's own timeout lowers it).").Default("5s").Duration()
		pumaURI = kingpin.Flag("puma.scrape-uri",
			"Puma control app's stats to read on every scrape of /metrics, e.g. http://127.0.0.1:9293/stats?token=TOKEN.").Default("").String()
		pumaTimeout = kingpin.Flag("puma.timeout",
			"Most time a read of --puma.scrape-uri may take (the scrape's own timeout lowers it).").Default("5s").Duration()
		tomcatURI = kingpin.Flag("tomcat.scrape-uri",
			"Tomcat manager's XML status to read on every scrape of /metrics, e.g. http://USER:PASSWORD@127.0.0.1:8081/manager/status?XML=true.").Default("").String()
		tomcatTimeout = kingpin.Flag("tomcat.timeout",
			"Most time a read of --tomcat.scrape-uri may take (the scrape's own timeout lowers it).").Default("5s").Duration()
		toolkitFlags = kingpinflag.AddFlags(kingpin.CommandLine, ":9863")
	)
	promslogConfig := &promslog.Config{}
	flag.AddFlags(kingpin.CommandLine, promslogConfig)
	kingpin.Version(version.Print(program))
	kingpin.HelpFlag.Short('h')
	kingpin.Parse()
	// Every value a request or a target puts in a log line is truncated.
	logger := exporter.BoundedLogger(promslog.New(promslogConfig))
	logger.Info("Starting "+program, "version", version.Info())
	logger.Info("Build context", "build_context", version.BuildContext())

	if *cherrypyTimeout <= 0 {
		logger.Error("--cherrypy.timeout must be positive")
		os.Exit(1)
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(
		versioncollector.NewCollector(program),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	var target *exporter.Target
	for _, f := range []struct {
		source  string
		uri     string
		timeout time.Duration
	}{
		{cherrypy.Name, *cherrypyURI, *cherrypyTimeout},
		{phpfpm.Name, *phpfpmURI, *phpfpmTimeout},
		{apache.Name, *apacheURI, *apacheTimeout},
		{uwsgi.Name, *uwsgiURI, *uwsgiTimeout},
		{puma.Name, *pumaURI, *pumaTimeout},
		{tomcat.Name, *tomcatURI, *tomcatTimeout},
	} {
		if f.uri == "" {
			continue
		}
		if target != nil {
			logger.Error("Only one --<source>.scrape-uri at a time: read more targets through --config.file and /probe")
			os.Exit(1)
		}
		// A module of one target, checked by its source, so that this mode has the fetch
		// policy of /probe: redirects only to the target itself, no idle connection (one
		// holds an Apache worker until KeepAliveTimeout; cheroot queues one closed like a
		// request), concurrent scrapes sharing one read, the default limits.
		module, err := exporter.NewModule(sources[f.source], f.uri, f.timeout)
		if err != nil {
			logger.Error("Invalid --"+f.source+".scrape-uri or --"+f.source+".timeout", "err", err)
			os.Exit(1)
		}
		t := module.Target(f.uri, f.timeout)
		target = &t
		logger.Info("Reading one target on every scrape", "source", f.source, "uri", exporter.RedactTarget(f.uri), "timeout", f.timeout)
	}
	http.Handle(*metricsPath, promhttp.InstrumentMetricHandler(registry,
		exporter.NewMetricsHandler(registry, target, logger)))

	var links []web.LandingLinks
	if *configFile != "" {
		store, err := exporter.NewConfigStore(*configFile, sources)
		if err != nil {
			logger.Error("Error loading config", "file", *configFile, "err", err)
			os.Exit(1)
		}
		registry.MustRegister(store)
		http.Handle("/probe", exporter.NewProbeHandler(store, logger))
		http.Handle("/-/reload", reloadHandler(store, logger))
		go reloadOnSIGHUP(store, logger)
		links = append(links, web.LandingLinks{Address: "/probe", Text: "Probe",
			Description: "/probe?module=M&target=URL reads one target allowed by module M"})
	}

	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        program,
		Description: "Worker-pool exhaustion metrics read from CherryPy, PHP-FPM, Apache httpd, uWSGI, Puma and Tomcat",
		Version:     version.Info(),
		Links:       append([]web.LandingLinks{{Address: *metricsPath, Text: "Metrics"}}, links...),
		// The exporter serves no /debug/pprof: the toolkit's profiling links would be dead.
		Profiling: "false",
	})
	if err != nil {
		logger.Error("Error creating landing page", "err", err)
		os.Exit(1)
	}
	if *metricsPath != "/" {
		http.Handle("/", landing)
	}

	server := &http.Server{ReadHeaderTimeout: 10 * time.Second}
	if err := web.ListenAndServe(server, toolkitFlags, logger); err != nil {
		logger.Error("Error running HTTP server", "err", err)
		os.Exit(1)
	}
}

// reloadHandler re-reads --config.file on POST /-/reload, as Prometheus does.
func reloadHandler(store *exporter.ConfigStore, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST to reload the configuration", http.StatusMethodNotAllowed)
			return
		}
		if err := store.Reload(); err != nil {
			logger.Error("Error reloading config", "err", err)
			http.Error(w, fmt.Sprintf("failed to reload config: %s", err), http.StatusInternalServerError)
			return
		}
		logger.Info("Reloaded config file")
	})
}

// reloadOnSIGHUP runs for the life of the process.
func reloadOnSIGHUP(store *exporter.ConfigStore, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	for range hup {
		if err := store.Reload(); err != nil {
			logger.Error("Error reloading config", "err", err)
			continue
		}
		logger.Info("Reloaded config file")
	}
}
