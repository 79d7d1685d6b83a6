package exporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/common/version"
)

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
	body, err := open(ctx, client, url, maxBytes, false)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// open GETs url and returns its body, limited to maxBytes (see [Fetch]). The connection is
// closed after the read unless keepAlive (a module's keep_alive) says otherwise.
func open(ctx context.Context, client *http.Client, url string, maxBytes int64, keepAlive bool) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", version.ComponentUserAgent("poolwatch_exporter"))
	// No keep-alive unless asked for: the status page is served by a small pool, and an idle
	// connection left open between scrapes holds one of its workers (a whole process with
	// Apache's prefork MPM) until the server's keep-alive timeout, or is queued by cheroot
	// like a request when it is closed, whatever the client's configuration. One scrape
	// every few seconds gains nothing from reusing a connection.
	req.Close = !keepAlive
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		// Closing an unread body makes the transport drop the connection rather than drain
		// it, which is what we want for a refused answer.
		resp.Body.Close()
		return nil, fmt.Errorf("unexpected HTTP status %s", resp.Status)
	}
	if resp.ContentLength > maxBytes {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: Content-Length %d > %d bytes", ErrBodyTooLarge, resp.ContentLength, maxBytes)
	}
	return &limitedBody{body: resp.Body, limit: maxBytes}, nil
}

// limitedBody reads at most limit bytes of body and fails with ErrBodyTooLarge as soon as the
// body has more, having read at most one byte beyond the limit.
type limitedBody struct {
	body        io.ReadCloser
	limit, read int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.read > l.limit {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, l.limit)
	}
	if room := l.limit - l.read + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.body.Read(p)
	l.read += int64(n)
	if l.read > l.limit {
		return n - int(l.read-l.limit), fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, l.limit)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("reading body: %w", err)
	}
	return n, err
}

func (l *limitedBody) Close() error { return l.body.Close() }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
