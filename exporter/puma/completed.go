package puma

import (
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// completedCounts is one target's completed requests, by pool, counted from the exporter's first
// read of the pool.
//
// Each document gives a bound of a pool's completed requests, requests_count less its busy threads
// (see [Parse]), that can fall from one document to the next while no request is lost: a thread
// counted busy before its request is counted, or one waiting for a keep-alive client's next
// request. A counter that falls is a reset to Prometheus, and rate() would add the whole count
// again. So the counter adds what the most any document of a Puma process has shown grew, read
// after read.
//
// A process first seen (the pool's first read, a worker or server restarted, another instance
// behind the same target) is a baseline and adds nothing: what it counted before is not known to be
// new. Puma's own count is not: a restarted server or worker counts from 0, but one forked from
// worker 0 (fork_worker, up to Puma 7.1) starts at worker 0's count, and a process seen after the
// exporter restarted has counted its whole life. So the requests a new process finished before its
// first read, and those the old one finished after its last, are not counted: at most a status
// report's age and a scrape interval of requests per restart (and a new process's busy threads at
// its first read, which lower its baseline, add the requests they had finished: up to twice
// max_threads ahead with the read race of [Parse], never accumulating). A document is matched to
// the record of its process with the most requests_count not above its own, so that two instances
// that share a key (started in the same second, or a pid reused in another container) add their own
// progress, not the difference between them, but for one jump when the second is first seen
// climbing past the first (more instances sharing a key than maxProcesses jump at every read: a
// control URL that reaches several Pumas by turns is not supported). The counter starts at 0 at the
// exporter's first read, so a restart of the exporter is a reset to 0, which rate() handles.
type completedCounts map[string]*poolCount

// maxAbsentPools bounds the pools a target's state keeps while they are missing from its reads.
const maxAbsentPools = 64

// maxProcesses bounds the processes remembered per pool: the one serving, the one before it,
// and instances a misdirected target reaches by turns.
const maxProcesses = 4

type poolCount struct {
	completed float64 // the value last reported
	processes []*processCount
}

type processCount struct {
	process  string    // the process that counted (reading.process)
	requests float64   // its requests_count at its last read
	bound    float64   // the most its documents have shown of its completed requests
	at       time.Time // the exporter's clock at its last read
}

// update sets the completed requests of every pool of readings, read at the exporter's clock
// at, that reports requests_count, and records them.
func (c *completedCounts) update(readings []reading, at time.Time) {
	if *c == nil {
		*c = make(completedCounts)
	}
	seen := make(map[string]bool, len(readings))
	for i := range readings {
		r := &readings[i]
		seen[r.Name] = true
		if r.requests < 0 {
			continue // a read without requests_count: the state waits for the next
		}
		p, ok := (*c)[r.Name]
		if !ok {
			p = &poolCount{}
			(*c)[r.Name] = p
		}
		p.completed += p.add(r, at)
		r.TasksCompletedTotal = map[string]float64{contract.OutcomeSuccess: p.completed}
	}
	var absent []string
	for name := range *c {
		if !seen[name] {
			absent = append(absent, name)
		}
	}
	if len(absent) > maxAbsentPools {
		for _, name := range absent {
			delete(*c, name)
		}
	}
}

// add records r, read at at, and returns what its process finished since its last read: 0
// for a process first seen, which is recorded as a baseline, forgetting the least recently
// read past maxProcesses.
func (p *poolCount) add(r *reading, at time.Time) float64 {
	bound := r.TasksCompletedTotal[contract.OutcomeSuccess]
	var match *processCount
	for _, pc := range p.processes {
		if pc.process == r.process && pc.requests <= r.requests && (match == nil || pc.requests > match.requests) {
			match = pc
		}
	}
	if match == nil {
		p.processes = append(p.processes, &processCount{process: r.process, requests: r.requests, bound: bound, at: at})
		if len(p.processes) > maxProcesses {
			oldest := 0
			for i, pc := range p.processes {
				if pc.at.Before(p.processes[oldest].at) {
					oldest = i
				}
			}
			p.processes = append(p.processes[:oldest], p.processes[oldest+1:]...)
		}
		return 0
	}
	growth := max(0, bound-match.bound)
	match.requests, match.bound, match.at = r.requests, max(match.bound, bound), at
	return growth
}
