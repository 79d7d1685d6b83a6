package puma

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/internal/contract"
)

// ErrNotStats is returned by [Parse] for JSON that is neither single- nor cluster-mode stats.
var ErrNotStats = errors.New(`neither "max_threads" nor "worker_status": is this Puma's control app /stats?`)

// threadPool is the stats of one Puma::Server (Server#stats, STAT_METHODS), the whole
// document in single mode, a worker's "last_status" in cluster mode.
type threadPool struct {
	Backlog       *float64 `json:"backlog"`
	Running       *float64 `json:"running"`
	PoolCapacity  *float64 `json:"pool_capacity"`
	MaxThreads    *float64 `json:"max_threads"`
	RequestsCount *float64 `json:"requests_count"` // Puma 5.0 and later
}

type document struct {
	threadPool
	StartedAt    string `json:"started_at"` // single mode: when the server process started
	WorkerStatus *[]struct {
		Index      *float64    `json:"index"`
		Pid        *float64    `json:"pid"`
		StartedAt  string      `json:"started_at"`
		LastStatus *threadPool `json:"last_status"`
	} `json:"worker_status"`
}

// reading is one pool of a stats document, with what the source needs to keep its completed
// requests monotonic across documents.
type reading struct {
	exporter.Pool
	// process tells the Puma process that counted requests: its requests_count starts again
	// from 0 in a new one.
	process string
	// requests is requests_count, or -1 where Puma does not report it.
	requests float64
}

// Parse maps Puma's /stats to pools named after addr (the control app's host:port). In single
// mode there is one pool, addr; in cluster mode one per worker process, addr/worker-<index>
// (the index survives a worker's restart, the pid does not). A cluster worker is its own
// process with its own thread pool and its own backlog, and reports them to the master on
// its own schedule (every worker_check_interval, 5 s by default): a sum would add up
// readings taken at different instants into a state the server may never have been in, and
// would hide one worker stuck while the others serve. A worker that has not reported yet
// (booting) is left out; one that reports nonsense is left out and explained in skipped.
//
// The rules, from Puma 5.6's lib/puma/thread_pool.rb and server.rb:
//
//   - max_workers is max_threads, workers is running (the threads spawned), or busy where
//     busy is higher: Puma 5 reads running, waiting and spawned one at a time, not under
//     one lock, so a read taken while a thread spawns can count it busy before it counts it
//     running. The busy threads exist; the read is kept rather than the pool dropped.
//   - busy is max_threads - pool_capacity: pool_capacity is waiting + (max - spawned),
//     waiting being the threads idle in the pool's wait, so the difference is spawned -
//     waiting, the threads that have taken a request. busy_threads (Puma 6.6) is not used:
//     it is spawned - waiting + backlog, which counts queued requests as busy threads.
//   - queued is backlog: requests Puma has accepted and read that wait for a thread (the
//     pool's todo list). Puma stops accepting while every thread is busy, so connections
//     beyond it wait in the kernel's backlog, which Puma does not report. The todo list has
//     no bound, so max_queued is absent.
//   - completed requests (outcome success: Puma counts no outcome) are requests_count less
//     the busy threads. requests_count counts each request as it starts (server.rb
//     process_client, before handle_request) and a busy thread holds at most one started
//     request, so the difference is short of the requests that finished by the busy threads
//     that hold none (waiting for a keep-alive client's next request, reading a slow
//     client's request). It is a lower bound but for the requests taken between Puma's reads
//     of pool_capacity and requests_count (one at a time, not under one lock), at most
//     max_threads. From one document to the next it can fall (a thread busy before its
//     request is counted); the source counts its growth across documents instead
//     ([Source.Read]), and Parse, which sees one document, reports that document's bound.
//
// Not provided, because Puma does not measure them: busy seconds, submitted and rejected
// tasks, saturated seconds, wait histograms, oldest running and oldest queued ages.
func Parse(data []byte, addr string) (pools []exporter.Pool, skipped []error, err error) {
	readings, skipped, err := parse(data, addr)
	for _, r := range readings {
		pools = append(pools, r.Pool)
	}
	return pools, skipped, err
}

func parse(data []byte, addr string) (readings []reading, skipped []error, err error) {
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("malformed Puma stats JSON: %w", err)
	}
	switch {
	case doc.WorkerStatus != nil:
		return clusterPools(doc, addr)
	case doc.MaxThreads != nil:
		r, err := pool(addr, "started "+doc.StartedAt, doc.threadPool)
		if err != nil {
			return nil, nil, err
		}
		return []reading{r}, nil, nil
	}
	return nil, nil, ErrNotStats
}

func clusterPools(doc document, addr string) (readings []reading, skipped []error, err error) {
	for i, w := range *doc.WorkerStatus {
		if w.Index == nil || *w.Index < 0 || *w.Index != math.Trunc(*w.Index) || *w.Index > 1e6 {
			skipped = append(skipped, fmt.Errorf("worker_status[%d]: bad or missing index", i))
			continue
		}
		name := fmt.Sprintf("%s/worker-%d", addr, int(*w.Index))
		// A booting worker has no status yet ("last_status": {}).
		if w.LastStatus == nil || *w.LastStatus == (threadPool{}) {
			continue
		}
		// A worker restarted keeps its index; its pid (and its start) tell the new process.
		process := "started " + w.StartedAt
		if w.Pid != nil {
			process = fmt.Sprintf("pid %v, %s", *w.Pid, process)
		}
		r, err := pool(name, process, *w.LastStatus)
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		readings = append(readings, r)
	}
	sort.Slice(readings, func(i, j int) bool { return readings[i].Name < readings[j].Name })
	if len(readings) == 0 && len(skipped) > 0 {
		return nil, skipped, fmt.Errorf("no valid Puma worker: %w", errors.Join(skipped...))
	}
	return readings, skipped, nil
}

func pool(name, process string, s threadPool) (reading, error) {
	r := reading{Pool: exporter.Pool{Name: name}, process: process, requests: -1}
	p := &r.Pool
	for _, f := range []struct {
		field string
		v     *float64
	}{{"max_threads", s.MaxThreads}, {"running", s.Running}, {"pool_capacity", s.PoolCapacity}, {"backlog", s.Backlog}} {
		if f.v == nil {
			return r, fmt.Errorf("pool %s: %q is missing", name, f.field)
		}
		if !exporter.IsCount(*f.v) {
			return r, fmt.Errorf("pool %s: %q is %v, want a count", name, f.field, *f.v)
		}
	}
	if *s.PoolCapacity > *s.MaxThreads {
		return r, fmt.Errorf("pool %s: pool_capacity %v above max_threads %v", name, *s.PoolCapacity, *s.MaxThreads)
	}
	p.MaxWorkers = *s.MaxThreads
	p.BusyWorkers = *s.MaxThreads - *s.PoolCapacity
	p.Workers = max(*s.Running, p.BusyWorkers)
	p.QueuedTasks = *s.Backlog
	if s.RequestsCount != nil {
		if !exporter.IsCount(*s.RequestsCount) {
			return r, fmt.Errorf("pool %s: %q is %v, want a count", name, "requests_count", *s.RequestsCount)
		}
		r.requests = *s.RequestsCount
		// Puma reads its counts one at a time: a thread counted busy before its request is
		// counted can put the busy threads above requests_count at a server's first request.
		p.TasksCompletedTotal = map[string]float64{contract.OutcomeSuccess: max(0, r.requests-p.BusyWorkers)}
	}
	return r, p.Validate()
}
