package demo

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
)

// maxWork bounds the sleep a /work request may ask for.
const maxWork = 5 * time.Second

func newMux(metricsPath string, reg *prometheus.Registry, work http.Handler) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.Handle(metricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
	}))
	mux.Handle("/work", work)
	if metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "poolwatch demo",
			Description: "A worker pool (jobs) and an HTTP handler behind a limiter (http), driven in cycles towards exhaustion and back",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: metricsPath, Text: "Metrics"},
				{Address: "/work?ms=100", Text: "Work", Description: "one request through the http limiter (sleeps ms milliseconds)"},
			},
			// The demo serves no /debug/pprof: the toolkit's profiling links would be dead.
			Profiling: "false",
		})
		if err != nil {
			return nil, err
		}
		mux.Handle("/", landing)
	}
	return mux, nil
}

// workHandler simulates a blocking call: it sleeps for ?ms= milliseconds (bounded), or until
// the client or the demo goes away. About 1 request in 50 fails with a 500.
func workHandler(stop context.Context) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 {
			ms = 0
		}
		d := min(time.Duration(ms)*time.Millisecond, maxWork)
		if !sleep(r.Context(), stop, d) {
			return
		}
		if rand.IntN(50) == 0 {
			http.Error(w, "simulated failure", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("done\n"))
	})
}

// sleep waits d, or until a or b ends; it reports whether the whole d passed.
func sleep(a, b context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.Done():
	case <-b.Done():
	}
	return false
}
