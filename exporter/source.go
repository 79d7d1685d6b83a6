package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/common/version"
)

// Source reads one kind of server's status page. Implementations are stateless: everything a
// read needs comes in through its arguments, so one value serves every target concurrently.
type Source interface {
	// Name is the value of the source label, e.g. "cherrypy".
	Name() string
	// Read fetches target once through r, bounded by ctx, and returns the pools it reports.
	// An error means the read failed as a whole (poolwatch_up 0); a source that can still
	// report the other pools logs why it dropped a bad one and leaves it out instead.
	Read(ctx context.Context, r Reader, target string, logger *slog.Logger) ([]Pool, error)
}

// Reader is the one way a source reaches its target, so that one policy (the module's TLS
// and authentication, redirects only to allowed targets, the body limit, timeouts) holds for
// every source whatever protocol it speaks.
type Reader interface {
	// Get reads an http:// or https:// URL and returns its body (see [Fetch]).
	Get(ctx context.Context, url string) ([]byte, error)
	// Dial connects to address for a source that speaks its own protocol (uWSGI's stats
	// server, PHP-FPM's FastCGI); network is "tcp" or "unix". The connection's deadline is
	// ctx's, and the caller closes it.
	Dial(ctx context.Context, network, address string) (net.Conn, error)
}

// NewReader returns the [Reader] of a module: HTTP through client, connections through a
// plain dialer.
func NewReader(client *http.Client) Reader { return clientReader{client: client} }

type clientReader struct{ client *http.Client }

func (r clientReader) Get(ctx context.Context, url string) ([]byte, error) {
	return Fetch(ctx, r.client, url, MaxBodyBytes)
}

func (r clientReader) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	if network != "tcp" && network != "unix" {
		return nil, fmt.Errorf("network %q: want tcp or unix", network)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

// MaxBodyBytes caps what [Fetch] reads of a status page. A real cpstats page is a few tens of
// kilobytes; the cap only exists so that a broken or hostile target cannot make the exporter
// buffer an unbounded body.
const MaxBodyBytes = 10 << 20

// ErrBodyTooLarge is returned by [Fetch] for a body beyond its limit.
var ErrBodyTooLarge = errors.New("response body too large")

// Fetch GETs url with ctx and returns its body. It fails on any status but 200, and on a body
// larger than maxBytes, without reading more than maxBytes+1 bytes of it: a declared
// Content-Length beyond the limit is refused before reading anything.
func Fetch(ctx context.Context, client *http.Client, url string, maxBytes int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", version.ComponentUserAgent("poolwatch_exporter"))
	// No keep-alive: the status page is served by the pool it measures, and an idle
	// connection left open between scrapes holds one of its workers (a whole process with
	// Apache's prefork MPM) until the server's keep-alive timeout, whatever the client's
	// configuration. One scrape every few seconds gains nothing from reusing a connection.
	req.Close = true
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	// Closing an unread body makes the transport drop the connection rather than drain it,
	// which is what we want for a refused oversized answer.
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("unexpected HTTP status %s", resp.Status)
	}
	if resp.ContentLength > maxBytes {
		return nil, fmt.Errorf("%w: Content-Length %d > %d bytes", ErrBodyTooLarge, resp.ContentLength, maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if int64(len(body)) > maxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, maxBytes)
	}
	return body, nil
}
