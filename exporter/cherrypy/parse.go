package cherrypy

import (
	"encoding/json"
	"errors"
	"fmt"
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

// appStats is the part of "CherryPy Applications" the contract uses.
type appStats struct {
	// Enabled is false while collection is paused from the stats page: the counts then
	// freeze while the pool keeps working, so they are left out.
	Enabled         *bool    `json:"Enabled"`
	TotalRequests   *float64 `json:"Total Requests"`
	CurrentRequests *float64 `json:"Current Requests"`
	// Requests holds the last request of every thread that ran one, in progress or not.
	Requests map[string]struct {
		EndTime        json.RawMessage `json:"End Time"`
		ProcessingTime *float64        `json:"Processing Time"`
	} `json:"Requests"`
}

// Parse maps a cpstats JSON document to pools, one per running cheroot server, per the
// contract's "CherryPy (cheroot) source" table. A server that reports nonsense is left out
// and explained in skipped; err is set only when the document as a whole is unusable
// (malformed JSON, not cpstats, or no valid server at all).
//
// The "CherryPy Applications" series (completed requests, oldest running request) are
// process-wide; they go to the server with the most threads, ties going to the lowest pool
// name. If that server is skipped, or some server's thread count is unreadable, they are
// left out rather than given to another pool.
func Parse(data []byte) (pools []exporter.Pool, skipped []error, err error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("malformed cpstats JSON: %w", err)
	}
	if !hasServer(doc) {
		return nil, nil, ErrNotCPStats
	}
	candidates, threadsUnknown, skipped := readServers(doc)

	if raw, ok := doc[appKey]; ok {
		main := mainServer(candidates)
		switch {
		case main < 0 || candidates[main].err != nil:
			// Given to another pool, the process-wide series would jump from pool to pool.
		case threadsUnknown:
			skipped = append(skipped, fmt.Errorf("%s: left out, since a server with an unknown thread count may be the main one", appKey))
		default:
			if err := addAppStats(&candidates[main].pool, raw); err != nil {
				skipped = append(skipped, fmt.Errorf("%s: %w; its series are left out", appKey, err))
			}
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
		return nil, skipped, fmt.Errorf("no valid cheroot server in cpstats: %w", errors.Join(skipped...))
	}
	return pools, skipped, nil
}

// candidate is one running cheroot server: its pool, or why it cannot be one.
type candidate struct {
	pool    exporter.Pool
	threads float64
	err     error
}

func hasServer(doc map[string]json.RawMessage) bool {
	for k := range doc {
		if strings.HasPrefix(k, serverKeyPrefix) {
			return true
		}
	}
	return false
}

// readServers maps every running server of doc, in key order. threadsUnknown is set when
// some server's size cannot be read, so that which one is the main server is unknown too.
// skipped holds the servers that are not even candidates.
func readServers(doc map[string]json.RawMessage) (candidates []candidate, threadsUnknown bool, skipped []error) {
	keys := make([]string, 0, len(doc))
	for k := range doc {
		if strings.HasPrefix(k, serverKeyPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		var s server
		if err := json.Unmarshal(doc[k], &s); err != nil {
			err = fmt.Errorf("%s: %w", k, err)
			var size struct{ Threads *float64 }
			switch {
			case json.Unmarshal(doc[k], &size) != nil || size.Threads == nil:
				threadsUnknown = true
				skipped = append(skipped, err)
			case *size.Threads != 0:
				// Still a candidate for the main server, so that the application's series
				// are left out if it is the one.
				candidates = append(candidates, candidate{threads: *size.Threads, err: err})
			}
			continue
		}
		if s.Threads == nil {
			threadsUnknown = true
		} else if *s.Threads == 0 {
			// A stopped server keeps its entry in logging.statistics with no threads left
			// (e.g. after an engine restart); it is no pool any more.
			continue
		}
		p, err := serverPool(s)
		if err != nil {
			err = fmt.Errorf("%s: %w", k, err)
		}
		threads := -1.0
		if s.Threads != nil {
			threads = *s.Threads
		}
		candidates = append(candidates, candidate{pool: p, threads: threads, err: err})
	}
	return candidates, threadsUnknown, skipped
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
		return exporter.Pool{}, fmt.Errorf("bind address %q: %w", *s.BindAddress, err)
	}
	p := exporter.Pool{Name: name}
	for _, f := range []struct {
		field string
		v     *float64
	}{{"Threads", s.Threads}, {"Threads Idle", s.ThreadsIdle}, {"Queue", s.Queue}} {
		if f.v == nil {
			return p, fmt.Errorf("pool %s: %q is missing or null", name, f.field)
		}
		if *f.v < 0 || *f.v != math.Trunc(*f.v) {
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

// addAppStats adds the two series that come from tools.cpstats to the main server's pool.
// Either both are valid or neither is added.
func addAppStats(p *exporter.Pool, raw json.RawMessage) error {
	var a appStats
	if err := json.Unmarshal(raw, &a); err != nil {
		return err
	}
	if a.Enabled != nil && !*a.Enabled {
		return errors.New("collection is paused (Enabled is false)")
	}
	if a.TotalRequests == nil || a.CurrentRequests == nil {
		return errors.New(`"Total Requests" or "Current Requests" is missing`)
	}
	total, current := *a.TotalRequests, *a.CurrentRequests
	if current < 0 || total < current || math.IsInf(total, 0) {
		return fmt.Errorf("%v current requests out of %v in total", current, total)
	}
	oldest := 0.0
	for id, r := range a.Requests {
		// Only a request whose End Time is null is still running; a finished one keeps its
		// record (and its final Processing Time) until its thread serves the next request.
		if string(r.EndTime) != "null" {
			continue
		}
		if r.ProcessingTime == nil || *r.ProcessingTime < 0 || math.IsInf(*r.ProcessingTime, 0) {
			return fmt.Errorf("request of thread %s: bad \"Processing Time\"", id)
		}
		oldest = max(oldest, *r.ProcessingTime)
	}
	p.TasksCompletedTotal = map[string]float64{contract.OutcomeSuccess: total - current}
	p.OldestRunningTaskAgeSeconds = exporter.Float(oldest)
	return nil
}
