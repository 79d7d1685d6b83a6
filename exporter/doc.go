// Package exporter is the source-independent core of poolwatch_exporter: it reads a server's
// status page once per scrape and exposes the worker pools it reports under the poolwatch
// metric contract (shared/CONTRACT.md), as const metrics built at scrape time.
//
// A kind of server (CherryPy, and later PHP-FPM, uWSGI, ...) is one [Source]: a small type
// that fetches and parses one target and returns a [Pool] per worker pool. Everything else is
// shared: the contract's descriptors, the validation that keeps nonsense out of the series,
// poolwatch_up and poolwatch_scrape_duration_seconds, the body size cap, the scrape timeout
// derived from Prometheus' X-Prometheus-Scrape-Timeout-Seconds header, the single-target
// /metrics handler and the blackbox-style multi-target /probe handler with its allow-list.
//
// Adding a source is one package with one type:
//
//	type Source struct{}
//
//	func (Source) Name() string { return "phpfpm" }
//
//	func (Source) Read(ctx context.Context, client *http.Client, target string, logger *slog.Logger) ([]exporter.Pool, error) {
//		body, err := exporter.Fetch(ctx, client, target, exporter.MaxBodyBytes)
//		if err != nil {
//			return nil, err
//		}
//		return parse(body)
//	}
//
// and one line in the table of sources that cmd/poolwatch_exporter passes to [LoadConfig] and
// [NewProbeHandler].
package exporter
