package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/common/version"
)

// Source reads one kind of server's status page. Implementations are stateless: everything a
// read needs comes in through its arguments, so one value serves every target concurrently.
type Source interface {
	// Name is the value of the source label, e.g. "cherrypy".
	Name() string
	// Read fetches target once, bounded by ctx, and returns the pools it reports. An error
	// means the read failed as a whole (poolwatch_up 0); a source that can still report the
	// other pools logs why it dropped a bad one and leaves it out instead.
	Read(ctx context.Context, client *http.Client, target string, logger *slog.Logger) ([]Pool, error)
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
