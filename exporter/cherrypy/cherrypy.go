// Package cherrypy is poolwatch_exporter's source for CherryPy: it reads the JSON of
// cherrypy.lib.cpstats.StatsPage (/cpstats/data) and reports one pool per cheroot server,
// named after its bind address, per the contract's "CherryPy (cheroot) source" section.
//
// What cpstats cannot tell (queue wait histograms, queue capacity, saturated seconds, oldest
// queued age, submitted tasks) is absent, not faked. cheroot's own "Requests" counter is not
// used: with keep-alive it adds a connection's cumulative count again at every turn.
package cherrypy

import (
	"context"
	"log/slog"

	"github.com/poolwatch/poolwatch/exporter"
)

// Name is the source label value and the source name in the exporter's configuration.
const Name = "cherrypy"

// Source reads a CherryPy /cpstats/data page. The zero value is ready to use.
type Source struct{}

// Name implements [exporter.Source].
func (Source) Name() string { return Name }

// Read implements [exporter.Source]: one GET of target (capped at exporter.MaxBodyBytes),
// parsed by [Parse]. Servers left out are logged with the reason.
func (Source) Read(ctx context.Context, r exporter.Reader, target string, logger *slog.Logger) ([]exporter.Pool, error) {
	body, err := r.Get(ctx, target)
	if err != nil {
		return nil, err
	}
	pools, skipped, err := Parse(body)
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		logger.Warn("leaving out part of the cpstats data", "err", s)
	}
	return pools, nil
}
