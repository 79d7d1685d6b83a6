// Package apache is poolwatch_exporter's source for Apache httpd: it reads mod_status's
// machine-readable page (/server-status?auto) and reports the server's worker pool (every
// MPM has one: prefork's processes, worker's and event's threads) under the contract's
// "Other sources" rules, named after the target's host:port.
//
// The status page is an ordinary request served by the pool it measures: with every worker
// busy it cannot be answered, the read times out and poolwatch_up reads 0, which the alerts
// treat as they do for CherryPy. Until then it counts itself as one busy worker.
package apache

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
)

// Name is the source label value and the source name in the exporter's configuration.
const Name = "apache"

// Source reads an Apache httpd mod_status page. The zero value is ready to use; it must not
// be copied after first use, as it keeps each target's busy-seconds counter monotonic (see
// [busyCounters]).
type Source struct {
	busy busyCounters
}

// Name implements [exporter.Source].
func (*Source) Name() string { return Name }

// CheckTarget implements [exporter.TargetChecker]: an http(s) URL of the status page.
func (*Source) CheckTarget(target string) error {
	_, _, err := statusURL(target)
	return err
}

// Read implements [exporter.Source]: one GET of the target with "auto" added to its query
// when missing, capped at exporter.MaxBodyBytes, parsed by [Parse]; then, on the event MPM
// with ExtendedStatus On, a second GET of the page without "auto" for the worker table, whose
// busy seconds are counted across the reads of target (see busyCounters). A second read that
// fails costs the busy seconds of this scrape, not the pool.
func (s *Source) Read(ctx context.Context, r exporter.Reader, target string, logger *slog.Logger) ([]exporter.Pool, error) {
	u, pool, err := statusURL(target)
	if err != nil {
		return nil, err
	}
	state, release, err := s.busy.Take(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("waiting for the read of %s in progress: %w", pool, err)
	}
	defer release()
	body, err := r.Get(ctx, u)
	if err != nil {
		return nil, err
	}
	p, fields, err := parse(body, pool)
	if err != nil {
		return nil, err
	}
	if _, extended := fields["Total Duration"]; !extended || fields["ServerMPM"] != "event" {
		return []exporter.Pool{p}, nil // busy.go: no table, or one that counts requests twice
	}
	switch {
	case state == nil:
		logger.Warn("no busy seconds for this target: the exporter already counts them for as many Apache targets as it may", "pool", pool, "max_targets", exporter.MaxTargetStates)
	case state.http2:
	default:
		if v, ok := s.busySeconds(ctx, r, target, pool, p.MaxWorkers, state, logger); ok {
			p.BusySecondsTotal = exporter.Float(v)
		}
	}
	return []exporter.Pool{p}, nil
}

// busySeconds reads the worker table of target and moves its counter on; ok is false, and
// the reason logged, when there is no value to report.
func (s *Source) busySeconds(ctx context.Context, r exporter.Reader, target, pool string, slots float64, state *busyState, logger *slog.Logger) (v float64, ok bool) {
	u, err := tableURL(target)
	if err != nil {
		logger.Warn("no busy seconds for this target", "pool", pool, "err", err)
		return 0, false
	}
	now := time.Now()
	body, err := r.Get(ctx, u)
	if err != nil {
		logger.Warn("reading the worker table for busy seconds failed; none this scrape", "pool", pool, "err", err)
		return 0, false
	}
	table, err := parseTable(body)
	if err != nil {
		logger.Warn("no busy seconds this scrape", "pool", pool, "err", err)
		return 0, false
	}
	if table.http2 {
		state.http2 = true
		logger.Warn("an HTTP/2 connection is served: mod_status does not time HTTP/2 requests, so busy seconds are left out for this target from now on", "pool", pool)
		return 0, false
	}
	v, restarted := state.total(table, now, slots)
	if restarted {
		logger.Info("the worker table's busy time fell: httpd restarted; its busy seconds count from here", "pool", pool)
	}
	return v, true
}

// tableURL returns target's status page without "auto", which mod_status answers with its
// worker table. mod_status looks for its options anywhere in the query, so a query that still
// holds "auto" or "notable" cannot give the table.
func tableURL(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("target %q: %w", target, err)
	}
	q := u.Query()
	q.Del("auto")
	u.RawQuery = q.Encode()
	if strings.Contains(u.RawQuery, "auto") || strings.Contains(u.RawQuery, "notable") {
		return "", fmt.Errorf("target %q: its query asks mod_status for a page without the worker table", target)
	}
	return u.String(), nil
}

// statusURL returns the URL to fetch (with ?auto, which mod_status looks for anywhere in the
// query) and the pool's name: the target's host:port, the port implied by the scheme when
// the URL has none.
func statusURL(target string) (string, string, error) {
	if err := exporter.CheckTargetURL(target); err != nil {
		return "", "", err
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", "", fmt.Errorf("target %q: %w", target, err)
	}
	q := u.Query()
	if !q.Has("auto") {
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += "auto"
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.String(), net.JoinHostPort(u.Hostname(), port), nil
}
