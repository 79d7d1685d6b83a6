// Package tomcat is poolwatch_exporter's source for Apache Tomcat: it reads the manager's
// status page in XML (/manager/status?XML=true, tomcat10-admin's manager with a user in the
// manager-status role) and reports one pool per connector, per the "Tomcat" table of the
// README.
//
// The status page is served by a connector's threads like any other request: the
// recommended setup gives it a small connector of its own (examples/tomcat/server.xml), so
// that it answers while the application's connector is exhausted. That connector is a pool
// too, and shows the status request itself as busy.
//
// A connector on a shared <Executor> shows maxThreads -1: the target then states the
// executor's maxThreads itself, http://127.0.0.1:8081/manager/status?XML=true&executor_max_threads=200.
//
// Busy seconds are Tomcat's processingTime plus the time of the requests in flight, kept
// monotonic across the reads of a target, and left out of a connector that counts time its
// requests spend on no thread (async servlets): see busyState.
package tomcat

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
)

// Name is the source label value and the source name in the exporter's configuration.
const Name = "tomcat"

// Source reads Tomcat's manager status XML. The zero value is ready to use; it must not be
// copied after first use, as it keeps each target's busy-seconds counters monotonic (see
// busyState).
type Source struct {
	busy busyCounters
}

// Name implements [exporter.Source].
func (*Source) Name() string { return Name }

// CheckTarget reports whether target is an http(s) URL that asks for the XML status page.
// Without XML=true the manager answers HTML, which would fail every read.
func (*Source) CheckTarget(target string) error {
	_, _, err := parseTarget(target)
	return err
}

// Read implements [exporter.Source]: one GET of target, parsed by [Parse], its busy seconds
// counted across the reads of target (see busyState). Connectors and series left out are
// logged with the reason.
func (s *Source) Read(ctx context.Context, r exporter.Reader, target string, logger *slog.Logger) ([]exporter.Pool, error) {
	page, executorMaxThreads, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	state, release, err := s.busy.Take(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("waiting for the read of the Tomcat status in progress: %w", err)
	}
	defer release()
	// The document was written between these two: they bound the time between two documents,
	// which bounds what a read may add to busy seconds.
	at := time.Now()
	body, err := r.Get(ctx, page)
	if err != nil {
		return nil, err
	}
	done := time.Now()
	pools, busy, skipped, err := parse(body, executorMaxThreads)
	if err != nil {
		return nil, err
	}
	exporter.WarnSkipped(logger, "leaving out part of the Tomcat status", skipped)
	returned := make(map[string]bool, len(pools))
	for i := range pools {
		p := &pools[i]
		returned[p.Name] = true
		switch {
		case p.BusySecondsTotal == nil:
		case state == nil:
			p.BusySecondsTotal = nil
			logger.Warn("no busy seconds for this target: the exporter already counts them for as many Tomcat targets as it may",
				"pool", p.Name, "max_targets", exporter.MaxTargetStates)
		default:
			v, ok, event := state.total(p.Name, busy[i], at, done)
			p.BusySecondsTotal = nil
			if ok {
				p.BusySecondsTotal = exporter.Float(v)
			}
			switch event {
			case busyRestarted:
				logger.Info("processingTime fell: Tomcat restarted or its counters were reset; busy seconds start again from its sum",
					"pool", p.Name)
			case busyLeftOut:
				logger.Warn("leaving out busy seconds of this connector from now on: its requests count time they held no thread "+
					"(async servlets, or slow clients), which would read as busy threads",
					"pool", p.Name, "reads", noThreadReads)
			case busyNoRoom:
				logger.Warn("no busy seconds for this connector: the exporter already counts them for as many connectors of this target as it may",
					"pool", p.Name, "max_connectors", maxConnectorStates)
			}
		}
	}
	if state != nil {
		state.forget(returned)
	}
	return pools, nil
}

// parseTarget checks target and returns the status page's URL and the executor_max_threads
// it states (0 if none). executor_max_threads is the exporter's, not Tomcat's: it is the
// maxThreads of the <Executor> the connectors share, which the page does not show, and is
// taken off the URL that is read.
func parseTarget(target string) (page string, executorMaxThreads float64, err error) {
	if err := exporter.CheckTargetURL(target); err != nil {
		return "", 0, err
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", 0, err
	}
	q := u.Query()
	if !strings.EqualFold(q.Get("XML"), "true") {
		return "", 0, errorf("target %q: want the manager's XML status, e.g. http://127.0.0.1:8081/manager/status?XML=true", u.Redacted())
	}
	if !q.Has("executor_max_threads") {
		return target, 0, nil
	}
	n, err := strconv.ParseUint(q.Get("executor_max_threads"), 10, 31)
	if err != nil || n == 0 {
		return "", 0, errorf("target %q: executor_max_threads is not a positive number", u.Redacted())
	}
	q.Del("executor_max_threads")
	u.RawQuery = q.Encode()
	return u.String(), float64(n), nil
}
