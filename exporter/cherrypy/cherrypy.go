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
// decoded as it arrives by [Decode], which stops at the reader's pool limit. What is left out
// is logged in one line: how many entries, and the first reason.
func (Source) Read(ctx context.Context, r exporter.Reader, target string, logger *slog.Logger) ([]exporter.Pool, error) {
	body, err := exporter.Open(ctx, r, target)
	if err != nil {
		return nil, err
	}
	// Closing before the end (at the pool limit) drops the connection rather than read on.
	defer body.Close()
	pools, skipped, err := Decode(body, exporter.MaxPools(r))
	if err != nil {
		return nil, err
	}
	exporter.WarnSkipped(logger, "leaving out part of the cpstats data", skipped)
	return pools, nil
}
