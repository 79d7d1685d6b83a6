package cherrypy

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/poolwatch/poolwatch/exporter"
)

// requestRecord is one entry of "CherryPy Applications" → "Requests": tools.cpstats keeps,
// per thread, the last request that thread ran, running or finished.
type requestRecord struct {
	EndTime        json.RawMessage `json:"End Time"`
	ProcessingTime *float64        `json:"Processing Time"`
	RequestLine    *string         `json:"Request-Line"`
}

// running returns the requests in progress among records (those whose End Time is null),
// ordered by thread key so that the result does not depend on map order, and the age of the
// oldest (0 if none). A running request's Processing Time is how long it has run so far.
// A request whose Request-Line cannot be read is still returned, with an empty Target: it
// occupies a worker all the same and is counted in route "other".
func running(records map[string]requestRecord) (reqs []exporter.Request, oldest float64, err error) {
	ids := make([]string, 0, len(records))
	for id, r := range records {
		if string(r.EndTime) == "null" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := records[id]
		if r.ProcessingTime == nil || *r.ProcessingTime < 0 || math.IsInf(*r.ProcessingTime, 0) {
			return nil, 0, fmt.Errorf("request of thread %s: bad \"Processing Time\"", id)
		}
		req := exporter.Request{AgeSeconds: *r.ProcessingTime}
		if r.RequestLine != nil {
			req.Method, req.Target, _ = ParseRequestLine(*r.RequestLine)
		}
		reqs = append(reqs, req)
		oldest = max(oldest, req.AgeSeconds)
	}
	return reqs, oldest, nil
}

// RunningRequests reads the requests in progress from the "CherryPy Applications" entry of a
// cpstats page.
func RunningRequests(app json.RawMessage) ([]exporter.Request, error) {
	var a struct {
		Requests map[string]requestRecord `json:"Requests"`
	}
	if err := json.Unmarshal(app, &a); err != nil {
		return nil, err
	}
	reqs, _, err := running(a.Requests)
	return reqs, err
}

// errRequestLine is what ParseRequestLine reports for a line it cannot split.
var errRequestLine = errors.New("not an HTTP request line")

// ParseRequestLine splits an HTTP request line as cpstats records it ("GET /a?b=1 HTTP/1.1")
// into its method and target. HTTP/0.9's "GET /a" has no version and is accepted; anything
// else that is not a token, one space, a target without spaces and an optional version is
// refused, so that a broken line never becomes a route. Neither result is normalised.
func ParseRequestLine(line string) (method, target string, err error) {
	method, rest, ok := strings.Cut(line, " ")
	if !ok || method == "" || rest == "" {
		return "", "", errRequestLine
	}
	target, version, hasVersion := strings.Cut(rest, " ")
	if target == "" || (hasVersion && (!strings.HasPrefix(version, "HTTP/") || strings.ContainsAny(version, " \t"))) {
		return "", "", errRequestLine
	}
	for i := 0; i < len(method); i++ {
		if !isTokenChar(method[i]) {
			return "", "", errRequestLine
		}
	}
	if strings.ContainsAny(target, "\t\r\n") {
		return "", "", errRequestLine
	}
	return method, target, nil
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110, 5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
