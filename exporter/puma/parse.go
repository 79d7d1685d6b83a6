package puma

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/poolwatch/poolwatch/exporter"
)

// ErrNotStats is returned by [Parse] for JSON that is neither single- nor cluster-mode stats.
var ErrNotStats = errors.New(`neither "max_threads" nor "worker_status": is this Puma's control app /stats?`)

// threadPool is the stats of one Puma::Server (Server#stats, STAT_METHODS), the whole
// document in single mode, a worker's "last_status" in cluster mode.
type threadPool struct {
	Backlog      *float64 `json:"backlog"`
	Running      *float64 `json:"running"`
	PoolCapacity *float64 `json:"pool_capacity"`
	MaxThreads   *float64 `json:"max_threads"`
}

type document struct {
	threadPool
	WorkerStatus *[]struct {
		Index      *float64    `json:"index"`
		LastStatus *threadPool `json:"last_status"`
	} `json:"worker_status"`
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
//
// Not provided, because Puma does not measure them: completed tasks (requests_count is
// counted as a request starts, not when it ends), busy seconds, submitted and rejected
// tasks, saturated seconds, wait histograms, oldest running and oldest queued ages.
func Parse(data []byte, addr string) (pools []exporter.Pool, skipped []error, err error) {
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("malformed Puma stats JSON: %w", err)
	}
	switch {
	case doc.WorkerStatus != nil:
		return clusterPools(doc, addr)
	case doc.MaxThreads != nil:
		p, err := pool(addr, doc.threadPool)
		if err != nil {
			return nil, nil, err
		}
		return []exporter.Pool{p}, nil, nil
	}
	return nil, nil, ErrNotStats
}

func clusterPools(doc document, addr string) (pools []exporter.Pool, skipped []error, err error) {
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
		p, err := pool(name, *w.LastStatus)
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		pools = append(pools, p)
	}
	sort.Slice(pools, func(i, j int) bool { return pools[i].Name < pools[j].Name })
	if len(pools) == 0 && len(skipped) > 0 {
		return nil, skipped, fmt.Errorf("no valid Puma worker: %w", errors.Join(skipped...))
	}
	return pools, skipped, nil
}

func pool(name string, s threadPool) (exporter.Pool, error) {
	p := exporter.Pool{Name: name}
	for _, f := range []struct {
		field string
		v     *float64
	}{{"max_threads", s.MaxThreads}, {"running", s.Running}, {"pool_capacity", s.PoolCapacity}, {"backlog", s.Backlog}} {
		if f.v == nil {
			return p, fmt.Errorf("pool %s: %q is missing", name, f.field)
		}
		if *f.v < 0 || *f.v != math.Trunc(*f.v) || math.IsInf(*f.v, 0) {
			return p, fmt.Errorf("pool %s: %q is %v, want a count", name, f.field, *f.v)
		}
	}
	if *s.PoolCapacity > *s.MaxThreads {
		return p, fmt.Errorf("pool %s: pool_capacity %v above max_threads %v", name, *s.PoolCapacity, *s.MaxThreads)
	}
	p.MaxWorkers = *s.MaxThreads
	p.BusyWorkers = *s.MaxThreads - *s.PoolCapacity
	p.Workers = max(*s.Running, p.BusyWorkers)
	p.QueuedTasks = *s.Backlog
	return p, p.Validate()
}
