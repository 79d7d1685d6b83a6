// Package puma is poolwatch_exporter's source for Puma: it reads the /stats action of Puma's
// control app (--control-url tcp://127.0.0.1:9293 --control-token TOKEN) and reports each
// thread pool, per the "Puma" table of the README: one pool in single mode, one per worker
// process in cluster mode.
//
// A target is the control app's stats URL with its token, http://127.0.0.1:9293/stats?token=T.
// The control app runs an action for every path it knows, /stop and /halt included, on a
// plain GET: the source refuses any path but /stats, so that a target or a redirect can never
// make a scrape stop Puma.
package puma

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
)

// Name is the source label value and the source name in the exporter's configuration.
const Name = "puma"

// Source reads Puma's control app. The zero value is ready to use; it must not be copied after
// first use, as it keeps each target's completed requests monotonic (see [completedCounts]).
type Source struct {
	completed exporter.TargetStates[completedCounts]
}

// Name implements [exporter.Source].
func (*Source) Name() string { return Name }

// CheckTarget reports whether target is an http(s) URL of the control app's /stats action.
func (*Source) CheckTarget(target string) error {
	_, err := address(target)
	return err
}

// CheckRedirect implements [exporter.RedirectChecker]: a redirect is followed only to a
// control app's /stats, whatever the module's patterns allow.
func (*Source) CheckRedirect(target string) error {
	_, err := address(target)
	return err
}

// Read implements [exporter.Source]: one GET of target, parsed by [Parse], its completed
// requests kept monotonic across the reads of target (see [completedCounts]). Pools left out
// are logged with the reason.
func (s *Source) Read(ctx context.Context, r exporter.Reader, target string, logger *slog.Logger) ([]exporter.Pool, error) {
	addr, err := address(target)
	if err != nil {
		return nil, err
	}
	completed, release, err := s.completed.Take(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("waiting for the read of %s in progress: %w", addr, err)
	}
	defer release()
	at := time.Now()
	body, err := r.Get(ctx, target)
	if err != nil {
		return nil, err
	}
	readings, skipped, err := parse(body, addr)
	if err != nil {
		return nil, err
	}
	exporter.WarnSkipped(logger, "leaving out Puma workers", skipped)
	if completed != nil {
		completed.update(readings, at)
	} else if countsRequests(readings) {
		logger.Warn("no completed requests for this target: the exporter already keeps them for as many targets as it may", "pool", addr, "max_targets", exporter.MaxTargetStates)
	}
	pools := make([]exporter.Pool, len(readings))
	for i, rd := range readings {
		pools[i] = rd.Pool
		if completed == nil {
			pools[i].TasksCompletedTotal = nil
		}
	}
	return pools, nil
}

// countsRequests reports whether any reading has Puma's requests_count (5.0 and later): only
// then does a target past [exporter.MaxTargetStates] lose a series worth a warning.
func countsRequests(readings []reading) bool {
	for _, rd := range readings {
		if rd.requests >= 0 {
			return true
		}
	}
	return false
}

// address checks target and returns the control app's host:port, the pool name (or its
// prefix in cluster mode). Puma's /stats has no address of the application itself.
func address(target string) (string, error) {
	if err := exporter.CheckTargetURL(target); err != nil {
		return "", err
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", err
	}
	// The control app dispatches on the last path segment (App::Status#call).
	if path.Base(u.Path) != "stats" {
		return "", fmt.Errorf("target %q: want the control app's /stats (any other action, such as /stop, would act on Puma)", u.Redacted())
	}
	return u.Host, nil
}
