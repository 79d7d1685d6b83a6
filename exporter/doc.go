// Package exporter is the source-independent core of poolwatch_exporter: it reads a server's
// status page once per scrape and exposes the worker pools it reports under the poolwatch
// metric contract (docs/contract.md), as const metrics built at scrape time.
//
// A kind of server (CherryPy, and later PHP-FPM, uWSGI, ...) is one [Source]: a small type
// that reads and parses one target and returns a [Pool] per worker pool. Everything else is
// shared: the contract's descriptors, the validation that keeps nonsense out of the series,
// poolwatch_up and poolwatch_scrape_duration_seconds, the scrape timeout derived from
// Prometheus' X-Prometheus-Scrape-Timeout-Seconds header, the single-target /metrics handler
// and the blackbox-style multi-target /probe handler with its allow-list, and one fetch policy
// for every read in both: a [Reader] per [Module] that follows redirects only to allowed
// targets, caps the body, closes its connection after each read (keep_alive opts out), and
// whose concurrent reads of one target are coalesced into one; limits on the pools and series
// of one read; log values truncated ([BoundedLogger]).
//
// Adding a source is one package with one type:
//
//	type Source struct{}
//
//	func (Source) Name() string { return "phpfpm" }
//
//	func (Source) Read(ctx context.Context, r exporter.Reader, target string, logger *slog.Logger) ([]exporter.Pool, error) {
//		body, err := r.Get(ctx, target) // or exporter.Open to decode as it arrives, or r.Dial
//		if err != nil {
//			return nil, err
//		}
//		return parse(body)
//	}
//
// and one line in the table of sources that cmd/poolwatch_exporter passes to [LoadConfig] and
// [NewModule]. A source whose targets are not http(s) URLs implements [TargetChecker].
package exporter
