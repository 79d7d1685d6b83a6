package exporter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Source reads one kind of server's status page. One value serves every target concurrently:
// everything a read needs comes in through its arguments, and a source that must remember a
// target between reads (uWSGI keeps its busy-seconds counter monotonic) keeps that state per
// target, safe for concurrent use.
type Source interface {
	// Name is the value of the source label, e.g. "cherrypy".
	Name() string
	// Read fetches target once through r, bounded by ctx, and returns the pools it reports.
	// An error means the read failed as a whole (poolwatch_up 0); a source that can still
	// report the other pools logs why it dropped a bad one and leaves it out instead.
	Read(ctx context.Context, r Reader, target string, logger *slog.Logger) ([]Pool, error)
}

// Reader is the one way a source reaches its target, so that one policy (the module's TLS
// and authentication, redirects only to allowed targets, the body limit, timeouts, no idle
// connection left to the target unless the module asks for keep-alive) holds for every
// source whatever protocol it speaks.
type Reader interface {
	// Get reads an http:// or https:// URL and returns its body (see [Fetch]).
	Get(ctx context.Context, url string) ([]byte, error)
	// Dial connects to address for a source that speaks its own protocol (uWSGI's stats
	// server, PHP-FPM's FastCGI); network is "tcp" or "unix". The connection's deadline is
	// ctx's, it expires as soon as ctx ends, and the caller closes it.
	Dial(ctx context.Context, network, address string) (net.Conn, error)
}

// NewReader returns a [Reader] that uses client for HTTP, a plain dialer for connections,
// [MaxBodyBytes] and [DefaultMaxPools]. The modules of a configuration make their own (see
// [Module.Target]), with their redirect policy and limits.
func NewReader(client *http.Client) Reader {
	return &reader{client: client, maxBody: MaxBodyBytes, maxPools: DefaultMaxPools}
}

// reader is the Reader of a module (or of NewReader).
type reader struct {
	client    *http.Client
	maxBody   int64
	maxPools  int
	keepAlive bool
}

func (r *reader) Get(ctx context.Context, url string) ([]byte, error) {
	body, err := r.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(body)
}

// Open implements the streaming side of [Open].
func (r *reader) Open(ctx context.Context, url string) (io.ReadCloser, error) {
	return open(ctx, r.client, url, r.maxBody, r.keepAlive)
}

// MaxPools implements the limit side of [MaxPools].
func (r *reader) MaxPools() int { return r.maxPools }

func (r *reader) Dial(ctx context.Context, network, address string) (net.Conn, error) {
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
	// A deadline is not a cancellation: a read shared by several scrapes runs until the
	// module's timeout unless every scrape gives up first, and then it must stop at once, not
	// hold the target's connection to the deadline while the next scrape opens another.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return &ctxConn{Conn: conn, stop: stop}, nil
}

// ctxConn is a connection that expires when its context ends (see [reader.Dial]).
type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// Open is [Reader.Get] as a stream, for a source that can parse as it reads and so never
// holds a whole page (a hostile 10 MiB one included) in memory. The same checks apply: status
// 200, and an error from Read past the body limit. The caller closes the body, which also
// closes the connection. A Reader made by this package streams; any other is read with Get.
func Open(ctx context.Context, r Reader, url string) (io.ReadCloser, error) {
	if s, ok := r.(interface {
		Open(context.Context, string) (io.ReadCloser, error)
	}); ok {
		return s.Open(ctx, url)
	}
	body, err := r.Get(ctx, url)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytesReader(body)), nil
}

// MaxPools is the most pools a read through r may report (the module's max_pools): a source
// that parses as it reads can stop there, since the collector refuses a read with more.
func MaxPools(r Reader) int {
	if l, ok := r.(interface{ MaxPools() int }); ok && l.MaxPools() > 0 {
		return l.MaxPools()
	}
	return DefaultMaxPools
}
