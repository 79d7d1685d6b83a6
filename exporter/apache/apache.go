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

	"github.com/poolwatch/poolwatch/exporter"
)

// Name is the source label value and the source name in the exporter's configuration.
const Name = "apache"

// Source reads an Apache httpd mod_status page. The zero value is ready to use.
type Source struct{}

// Name implements [exporter.Source].
func (Source) Name() string { return Name }

// CheckTarget implements [exporter.TargetChecker]: an http(s) URL of the status page.
func (Source) CheckTarget(target string) error {
	_, _, err := statusURL(target)
	return err
}

// Read implements [exporter.Source]: one GET of the target with "auto" added to its query
// when missing, capped at exporter.MaxBodyBytes, parsed by [Parse].
func (Source) Read(ctx context.Context, r exporter.Reader, target string, _ *slog.Logger) ([]exporter.Pool, error) {
	u, pool, err := statusURL(target)
	if err != nil {
		return nil, err
	}
	body, err := r.Get(ctx, u)
	if err != nil {
		return nil, err
	}
	p, err := Parse(body, pool)
	if err != nil {
		return nil, err
	}
	return []exporter.Pool{p}, nil
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
