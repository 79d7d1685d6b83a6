package exporter

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewMetricsHandler serves base (the exporter's own metrics) and, when target is not nil,
// the series of one read of target made for this very request: the single-target mode of
// --cherrypy.scrape-uri, whose target comes from [NewModule] and [Module.Target] so that the
// fetch policy of /probe applies. The read's timeout is target.Timeout, lowered by the
// scrape's. The answer is in OpenMetrics when the scraper asks for it.
func NewMetricsHandler(base prometheus.Gatherer, target *Target, logger *slog.Logger) http.Handler {
	logger = BoundedLogger(logger)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gatherers := prometheus.Gatherers{base}
		if target != nil {
			t := *target
			t.Timeout = ScrapeTimeout(r, t.Timeout)
			reg := prometheus.NewRegistry()
			reg.MustRegister(NewCollector(r.Context(), t, logger))
			gatherers = append(gatherers, reg)
		}
		serve(w, r, gatherers, logger)
	})
}

// NewProbeHandler serves /probe?module=M&target=T like blackbox_exporter: one read of T with
// module M's source, client and timeout, into a fresh registry. It answers 400 for a missing
// or unknown module or a missing target, and 403 for a target M does not allow. Concurrent
// probes of the same module and target share one read (see [Module.Target]). Values from the
// request are truncated in the log.
func NewProbeHandler(store *ConfigStore, logger *slog.Logger) http.Handler {
	logger = BoundedLogger(logger)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		moduleName, target := q.Get("module"), q.Get("target")
		if moduleName == "" {
			http.Error(w, "module parameter is missing", http.StatusBadRequest)
			return
		}
		m, ok := store.Module(moduleName)
		if !ok {
			http.Error(w, "unknown module "+quote(moduleName), http.StatusBadRequest)
			logger.Debug("probe with unknown module", "module", moduleName, "remote", r.RemoteAddr)
			return
		}
		if target == "" {
			http.Error(w, "target parameter is missing", http.StatusBadRequest)
			return
		}
		if !m.Allows(target) {
			http.Error(w, "target "+quote(target)+" is not allowed by module "+quote(moduleName), http.StatusForbidden)
			logger.Warn("refused probe of a target the module does not allow",
				"module", moduleName, "target", RedactTarget(target), "remote", r.RemoteAddr)
			return
		}
		if err := CheckTarget(m.source, target); err != nil {
			// A pattern may admit what the source cannot read.
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		t := m.Target(target, ScrapeTimeout(r, time.Duration(m.Timeout)))
		reg := prometheus.NewRegistry()
		reg.MustRegister(NewCollector(r.Context(), t, logger.With("module", moduleName)))
		serve(w, r, reg, logger)
	})
}

func serve(w http.ResponseWriter, r *http.Request, g prometheus.Gatherer, logger *slog.Logger) {
	promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
		// As node_exporter: OpenMetrics for a scraper that asks for it, text otherwise.
		EnableOpenMetrics: true,
	}).ServeHTTP(w, r)
}

func quote(s string) string {
	const maxShown = 200 // an error page need not echo a huge parameter back
	if len(s) > maxShown {
		s = s[:maxShown] + "..."
	}
	return strconv.Quote(s)
}
