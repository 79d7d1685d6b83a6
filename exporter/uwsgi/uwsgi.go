// Package uwsgi is poolwatch_exporter's source for uWSGI: it reads the JSON of uWSGI's stats
// server (--stats ADDRESS, or --stats ADDRESS --stats-http) and reports the instance's workers
// as one pool, per the "uWSGI" table of the README.
//
// The stats server writes its JSON and closes the connection, so a target is one of
//
//	tcp://127.0.0.1:1717          (--stats 127.0.0.1:1717)
//	unix:///run/uwsgi/stats.sock  (--stats /run/uwsgi/stats.sock)
//	http://127.0.0.1:1717/        (--stats 127.0.0.1:1717 --stats-http)
//
// uWSGI has no pool name: the pool is named after the stats address of the target
// (127.0.0.1:1717, /run/uwsgi/stats.sock), which the user chose, is stable across restarts
// and is unique per instance. The sockets the workers serve are no good name: with --http
// and no --socket, uWSGI binds its internal socket on a random port at every start.
package uwsgi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
)

// Name is the source label value and the source name in the exporter's configuration.
const Name = "uwsgi"

// Source reads uWSGI stats servers. The zero value is ready to use; it must not be copied
// after first use, as it keeps each target's busy-seconds counter monotonic (see
// [busyCounters]).
type Source struct {
	busy busyCounters
}

// Name implements [exporter.Source].
func (*Source) Name() string { return Name }

// CheckTarget reports whether target is a stats address this source can read: tcp://host:port,
// unix:///path, or an http(s):// URL for --stats-http.
func (*Source) CheckTarget(target string) error {
	_, _, err := parseTarget(target)
	return err
}

// Read implements [exporter.Source]: one read of the stats server (capped at
// exporter.MaxBodyBytes), parsed by [Parse] with the exporter's clock as the read began, its
// busy seconds counted across the reads of target (see busyCounters).
func (s *Source) Read(ctx context.Context, r exporter.Reader, target string, logger *slog.Logger) ([]exporter.Pool, error) {
	t, pool, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	state, release, err := s.busy.Take(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("waiting for the read of %s in progress: %w", pool, err)
	}
	defer release()
	// Before the read: the ages of the requests in flight are then no more than they were
	// when uWSGI wrote its document.
	now := time.Now()
	var body []byte
	switch t.Scheme {
	case "http", "https":
		body, err = r.Get(ctx, target)
	default:
		body, err = dialAndRead(ctx, r, t)
	}
	if err != nil {
		return nil, err
	}
	p, busy, err := parse(body, pool, now)
	if err != nil {
		return nil, err
	}
	switch {
	case p.BusySecondsTotal == nil:
	case state == nil:
		p.BusySecondsTotal = nil
		logger.Warn("no busy seconds for this target: the exporter already counts them for as many uWSGI targets as it may", "pool", pool, "max_targets", exporter.MaxTargetStates)
	default:
		v, restarted, kept := state.total(busy)
		p.BusySecondsTotal = exporter.Float(v)
		p.BusySecondsKeptTotal = exporter.Float(state.keptTotal)
		if restarted {
			logger.Info("running_time fell: uWSGI restarted; its busy seconds add to the counter from here", "pool", pool)
		}
		if kept > 0 {
			logger.Debug("keeping the seconds of requests that ended without reaching running_time (harakiri, static files)",
				"pool", pool, "seconds", kept)
		}
	}
	return []exporter.Pool{p}, nil
}

// dialAndRead reads what the stats server writes before it closes the connection.
func dialAndRead(ctx context.Context, r exporter.Reader, t *url.URL) ([]byte, error) {
	network, address := "tcp", t.Host
	if t.Scheme == "unix" {
		network, address = "unix", t.Path
	}
	conn, err := r.Dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	body, err := io.ReadAll(io.LimitReader(conn, exporter.MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading stats from %s: %w", address, err)
	}
	if len(body) > exporter.MaxBodyBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", exporter.ErrBodyTooLarge, exporter.MaxBodyBytes)
	}
	return body, nil
}

// parseTarget checks target and returns it parsed with the pool name it gives.
func parseTarget(target string) (*url.URL, string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, "", fmt.Errorf("target %q: %w", target, err)
	}
	switch u.Scheme {
	case "http", "https":
		if err := exporter.CheckTargetURL(target); err != nil {
			return nil, "", err
		}
		return u, u.Host, nil
	case "tcp":
		if u.Port() == "" || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, "", fmt.Errorf("target %q: want tcp://host:port", target)
		}
		return u, u.Host, nil
	case "unix":
		if u.Host != "" || u.Path == "" || u.RawQuery != "" {
			return nil, "", fmt.Errorf("target %q: want unix:///absolute/path", target)
		}
		// A module's target pattern matches the target as written: the socket dialed must be
		// that very path, not another that percent-decoding or ".." would make of it.
		if strings.Contains(target, "%") || path.Clean(u.Path) != u.Path {
			return nil, "", fmt.Errorf("target %q: want a clean socket path, with no %%-escape, \"..\" or \"//\"", target)
		}
		return u, u.Path, nil
	}
	return nil, "", fmt.Errorf("target %q: want tcp://host:port, unix:///path or an http(s):// URL (--stats-http)", target)
}
