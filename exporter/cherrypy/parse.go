package cherrypy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/internal/contract"
)

// serverKeyPrefix starts the key of every cheroot server in cpstats. The rest of the key is
// the server object's id(), which changes at every restart, so it is never used as a label.
const serverKeyPrefix = "Cheroot HTTPServer "

// appKey is the process-wide namespace that tools.cpstats fills.
const appKey = "CherryPy Applications"

// maxShown bounds a value of the page quoted in an error: the error is built for every bad
// entry (up to max_pools of them) before anything logs it, so the log's own bound is too late.
const maxShown = 100

// ErrNotCPStats is returned by [Parse] for JSON that has no cheroot server at all: most
// likely the scrape URI does not point at /cpstats/data.
var ErrNotCPStats = errors.New("no \"Cheroot HTTPServer\" entry: is this CherryPy's /cpstats/data?")

// server is the part of a "Cheroot HTTPServer <id>" entry the contract uses. Pointers tell a
// missing or null value from 0.
type server struct {
	BindAddress *string  `json:"Bind Address"`
	Threads     *float64 `json:"Threads"`
	ThreadsIdle *float64 `json:"Threads Idle"`
	Queue       *float64 `json:"Queue"`
	// WorkTime is -1 when server.statistics is off for that server.
	WorkTime *float64 `json:"Work Time"`
}

// Parse is [Decode] of a whole document in memory, with the default pool limit.
func Parse(data []byte) (pools []exporter.Pool, skipped []error, err error) {
	return Decode(bytes.NewReader(data), exporter.DefaultMaxPools)
}

// Decode maps a cpstats JSON document read from r to pools, one per running cheroot server,
// per the contract's "CherryPy (cheroot) source" table. A server that reports nonsense is
// left out and explained in skipped; err is set only when the document as a whole is
// unusable (malformed JSON, not cpstats, no valid server at all, or a read error of r).
//
// It decodes one entry at a time and never holds the document: at the server that makes
// more than maxPools (running, or unreadable), it stops reading and fails with
// [exporter.ErrTooManyPools], so that a hostile page costs a few entries, not its size.
//
// The "CherryPy Applications" series (completed requests, oldest running request, and the
// running requests the route series come from) are process-wide; they go to the server with
// the most threads, ties going to the lowest pool name. If that server is skipped, or some
// server's thread count is unreadable, they are left out rather than given to another pool.
func Decode(r io.Reader, maxPools int) (pools []exporter.Pool, skipped []error, err error) {
	in := &readErr{r: r}
	doc, err := decodeDocument(json.NewDecoder(in), maxPools)
	if err != nil {
		if in.err != nil {
			// The body could not be read (too large, timeout): not the target's JSON's fault.
			return nil, nil, in.err
		}
		return nil, nil, err
	}
	if !doc.sawServer {
		return nil, nil, ErrNotCPStats
	}
	candidates, skipped := doc.candidates, doc.skipped
	sort.SliceStable(candidates, func(i, j int) bool { return candidates[i].key < candidates[j].key })

	if doc.sawApp {
		main := mainServer(candidates)
		switch {
		case main < 0 || candidates[main].err != nil:
			// Given to another pool, the process-wide series would jump from pool to pool.
		case doc.threadsUnknown:
			skipped = append(skipped, fmt.Errorf("%s: left out, since a server with an unknown thread count may be the main one", appKey))
		case doc.appErr != nil:
			skipped = append(skipped, fmt.Errorf("%s: %w; its series are left out", appKey, doc.appErr))
		default:
			p := &candidates[main].pool
			p.TasksCompletedTotal = map[string]float64{contract.OutcomeSuccess: doc.completed}
			p.OldestRunningTaskAgeSeconds = exporter.Float(doc.oldest)
			p.Running = doc.running
		}
	}

	for _, c := range candidates {
		if c.err != nil {
			skipped = append(skipped, c.err)
			continue
		}
		pools = append(pools, c.pool)
	}
	if len(pools) == 0 && len(skipped) > 0 {
		// One reason, not all of them: a page with thousands of bad servers must not make
		// an error (and a log line) of its size.
		return nil, skipped, fmt.Errorf("no valid cheroot server in cpstats (%d left out; the first: %w)", len(skipped), skipped[0])
	}
	return pools, skipped, nil
}

// readErr remembers the error of the reader under the JSON decoder.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		e.err = err
	}
	return n, err
}

// document is what decodeDocument keeps of a page: the candidates and the application's
// figures, never the page.
type document struct {
	sawServer, sawApp bool
	candidates        []candidate
	threadsUnknown    bool
	skipped           []error
	completed, oldest float64
	running           []exporter.Request
	appErr            error
}

func decodeDocument(dec *json.Decoder, maxPools int) (*document, error) {
	w := newWalker(dec)
	doc := &document{}
	servers := 0
	err := w.object(func(key string) error {
		switch {
		case strings.HasPrefix(key, serverKeyPrefix):
			doc.sawServer = true
			s, err := readServer(w)
			if err != nil && !isTypeError(err) {
				return err
			}
			if doc.addServer(key, s, err) {
				servers++
			}
			if servers > maxPools {
				return fmt.Errorf("%w: more than max_pools %d cheroot servers in cpstats", exporter.ErrTooManyPools, maxPools)
			}
		case key == appKey:
			doc.sawApp = true
			app, appErr, err := readAppStats(w)
			if err != nil {
				return err
			}
			doc.completed, doc.oldest, doc.running, doc.appErr = app.completed, app.oldest, app.running, appErr
		default:
			return w.skip()
		}
		return nil
	})
	switch {
	case errors.Is(err, exporter.ErrTooManyPools):
		return nil, err
	case isTypeError(err): // the document is no object
		return nil, fmt.Errorf("malformed cpstats JSON: %w", err)
	case err != nil:
		return nil, fmt.Errorf("malformed cpstats JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("malformed cpstats JSON: data after the top-level object")
	}
	return doc, nil
}

// readServer reads a server entry's fields. A typeError means some field (or the entry) has
// the wrong type; the fields read are returned all the same, so that its size may be known.
func readServer(w walker) (server, error) {
	var s server
	err := w.object(func(key string) error {
		switch key {
		case "Bind Address":
			return w.text(key, &s.BindAddress)
		case "Threads":
			return w.number(key, &s.Threads)
		case "Threads Idle":
			return w.number(key, &s.ThreadsIdle)
		case "Queue":
			return w.number(key, &s.Queue)
		case "Work Time":
			return w.number(key, &s.WorkTime)
		}
		return w.skip()
	})
	return s, err
}

// candidate is one running cheroot server: its pool, or why it cannot be one.
type candidate struct {
	key     string
	pool    exporter.Pool
	threads float64
	err     error
}

// addServer adds one server entry (typeErr: why it could not be read whole) and reports
// whether it counts against the pool limit: a running server, or one whose size is
// unreadable. threadsUnknown is set when some server's size cannot be read, so that which one
// is the main server is unknown too.
func (doc *document) addServer(key string, s server, typeErr error) bool {
	if typeErr != nil {
		err := fmt.Errorf("%s: %w", exporter.Truncate(key, maxShown), typeErr)
		switch {
		case s.Threads == nil:
			doc.threadsUnknown = true
			doc.skipped = append(doc.skipped, err)
			return true
		case *s.Threads != 0:
			// Still a candidate for the main server, so that the application's series are
			// left out if it is the one.
			doc.candidates = append(doc.candidates, candidate{key: key, threads: *s.Threads, err: err})
			return true
		}
		return false
	}
	if s.Threads == nil {
		doc.threadsUnknown = true
	} else if *s.Threads == 0 {
		// A stopped server keeps its entry in logging.statistics with no threads left (e.g.
		// after an engine restart); it is no pool any more.
		return false
	}
	p, err := serverPool(s)
	if err != nil {
		err = fmt.Errorf("%s: %w", exporter.Truncate(key, maxShown), err)
	}
	threads := -1.0
	if s.Threads != nil {
		threads = *s.Threads
	}
	doc.candidates = append(doc.candidates, candidate{key: key, pool: p, threads: threads, err: err})
	return true
}

// mainServer is the index of the candidate with the most threads (ties: lowest pool name),
// or -1 if there is none.
func mainServer(candidates []candidate) int {
	main := -1
	for i, c := range candidates {
		if main < 0 || c.threads > candidates[main].threads ||
			(c.threads == candidates[main].threads && c.pool.Name < candidates[main].pool.Name) {
			main = i
		}
	}
	return main
}

// serverPool maps one cheroot server. It checks what the generic Pool.Validate cannot word
// as well: which cpstats field is missing or inconsistent.
func serverPool(s server) (exporter.Pool, error) {
	if s.BindAddress == nil {
		return exporter.Pool{}, errors.New(`"Bind Address" is missing`)
	}
	name, err := PoolName(*s.BindAddress)
	if err != nil {
		return exporter.Pool{}, fmt.Errorf("bind address %q: %w", exporter.Truncate(*s.BindAddress, maxShown), err)
	}
	p := exporter.Pool{Name: name}
	for _, f := range []struct {
		field string
		v     *float64
	}{{"Threads", s.Threads}, {"Threads Idle", s.ThreadsIdle}, {"Queue", s.Queue}} {
		if f.v == nil {
			return p, fmt.Errorf("pool %s: %q is missing or null", name, f.field)
		}
		if !exporter.IsCount(*f.v) {
			return p, fmt.Errorf("pool %s: %q is %v, want a count", name, f.field, *f.v)
		}
	}
	if *s.ThreadsIdle > *s.Threads {
		return p, fmt.Errorf("pool %s: %v idle threads out of %v", name, *s.ThreadsIdle, *s.Threads)
	}
	p.MaxWorkers = *s.Threads
	p.Workers = *s.Threads
	p.BusyWorkers = *s.Threads - *s.ThreadsIdle
	p.QueuedTasks = *s.Queue
	// Without server.statistics cheroot reports -1: the series is then absent, not 0, since
	// a counter stuck at 0 would claim the pool never worked.
	if s.WorkTime != nil && *s.WorkTime >= 0 {
		p.BusySecondsTotal = exporter.Float(*s.WorkTime)
	}
	return p, p.Validate()
}

// appStats is what readAppStats keeps of "CherryPy Applications".
type appStats struct {
	completed, oldest float64
	// running are the requests in progress, for the route series.
	running []exporter.Request
}

// maxRequestLine and maxRunning bound what is kept of the running requests, so that a hostile
// page (100k requests of long lines) costs no more memory than a real one: a route is cut far
// shorter than maxRequestLine anyway, and no cheroot pool runs maxRunning threads (the routes
// of the requests past it are left out; Routes keeps no more than the busy threads anyway).
const (
	maxRequestLine = 256
	maxRunning     = 1024
)

// readAppStats reads what comes from tools.cpstats: completed requests, the age of the oldest
// request running, and the requests running (method and target of their Request-Line, and
// their age). Either all are valid or appErr says why none is; err is a fatal error of the
// document. The "Requests" dict (the last request of every thread that ran one) is read one
// request at a time: a huge one costs no map of it.
func readAppStats(w walker) (app appStats, appErr, err error) {
	var (
		enabled        *bool
		total, current *float64
		requestErr     error
	)
	app.running = []exporter.Request{}
	err = w.object(func(key string) error {
		switch key {
		case "Enabled":
			return w.boolean(key, &enabled)
		case "Total Requests":
			return w.number(key, &total)
		case "Current Requests":
			return w.number(key, &current)
		case "Requests":
			return w.object(func(thread string) error {
				var (
					running bool
					seconds *float64
					line    *string
				)
				err := w.object(func(key string) error {
					switch key {
					case "End Time":
						// Only a request whose End Time is null is still running; a finished one
						// keeps its record (and final Processing Time) until its thread's next.
						tok, err := w.token()
						if isTypeError(err) {
							return nil // a number beyond float64: not null, so finished
						}
						if err != nil {
							return err
						}
						running = tok == nil
						return w.rest(tok)
					case "Processing Time":
						return w.number(key, &seconds)
					case "Request-Line":
						if err := w.text(key, &line); err != nil {
							return err
						}
						if len(*line) > maxRequestLine {
							*line = (*line)[:maxRequestLine]
						}
						return nil
					}
					return w.skip()
				})
				if err != nil {
					return err
				}
				if !running {
					return nil
				}
				if seconds == nil || *seconds < 0 || math.IsInf(*seconds, 0) {
					if requestErr == nil {
						requestErr = fmt.Errorf("request of thread %s: bad \"Processing Time\"", exporter.Truncate(thread, 64))
					}
					return nil
				}
				app.oldest = max(app.oldest, *seconds)
				// A request whose Request-Line cannot be read still holds a worker: it counts in
				// route "other" (empty Target).
				r := exporter.Request{AgeSeconds: *seconds}
				if line != nil {
					r.Method, r.Target, _ = ParseRequestLine(*line)
				}
				if len(app.running) < maxRunning {
					app.running = append(app.running, r)
				}
				return nil
			})
		}
		return w.skip()
	})
	switch {
	case err != nil && !isTypeError(err):
		return appStats{}, nil, err
	case err != nil:
		return appStats{}, err, nil
	case enabled != nil && !*enabled:
		return appStats{}, errors.New("collection is paused (Enabled is false)"), nil
	case total == nil || current == nil:
		return appStats{}, errors.New(`"Total Requests" or "Current Requests" is missing`), nil
	case *current < 0 || *total < *current || math.IsInf(*total, 0):
		return appStats{}, fmt.Errorf("%v current requests out of %v in total", *current, *total), nil
	case requestErr != nil:
		return appStats{}, requestErr, nil
	}
	app.completed = *total - *current
	return app, nil, nil
}
