package puma

import (
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// completedCounts is one target's completed requests, by pool, as last reported.
//
// Each document gives a lower bound of a pool's completed requests, requests_count less its
// busy threads (see [Parse]), that can fall from one document to the next while no request
// is lost: a thread counted busy before its request is counted, or one waiting for a
// keep-alive client's next request. A counter that falls is a reset to Prometheus, and
// rate() would add the whole count again. So the counter grows by what the most any document
// of a process has shown grew, which is still no more than the requests that finished.
//
// A new process (a worker restarted, a server restarted: another pid or start, or
// requests_count fell) counts from 0 again; its bound then adds to the counter, which carries
// on rather than falling: a fall that still left the counter above its last value would hide
// the restart from rate(). The requests the old process finished after the last read are not
// seen. Only a process that started since the last read (by its started_at, a minute's
// leeway for the two hosts' clocks), or whose requests_count fell, adds what it counted
// before its first read: one that started earlier is another instance (a target that reaches
// two Pumas by turns), whose whole count would otherwise be added at every turn; it adds
// what it counts from its first read on, each instance against its own last document. The
// counter starts at the first read's bound, so a restart of the exporter is at most a reset,
// which rate() handles.
type completedCounts map[string]*poolCount

// maxAbsentPools bounds the pools a target's state keeps while they are missing from its reads.
const maxAbsentPools = 64

// maxProcesses bounds the processes remembered per pool: the one serving, the one before it,
// and instances a misdirected target reaches by turns.
const maxProcesses = 4

// clockLeeway is how far a process's started_at (Puma's clock) may lie before the exporter's
// last read (its own clock) and still be a restart since that read.
const clockLeeway = time.Minute

type poolCount struct {
	completed float64   // the value last reported
	at        time.Time // the exporter's clock at the last read
	processes map[string]*processCount
}

type processCount struct {
	requests float64   // its requests_count at its last read
	bound    float64   // the most its documents have shown of its completed requests
	at       time.Time // its last read
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
			delete(*c, r.Name)
			continue
		}
		bound := r.TasksCompletedTotal[contract.OutcomeSuccess]
		p, ok := (*c)[r.Name]
		if !ok {
			p = &poolCount{completed: bound, processes: make(map[string]*processCount)}
			(*c)[r.Name] = p
		} else {
			p.completed += p.growth(r, bound)
		}
		p.remember(r, bound, at)
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

// growth is what r's process adds to the pool's counter since the last read, bound being r's
// completed requests.
func (p *poolCount) growth(r *reading, bound float64) float64 {
	last, ok := p.processes[r.process]
	switch {
	case ok && r.requests >= last.requests:
		return max(0, bound-last.bound)
	case ok: // requests_count fell: the process restarted since its last read
		return bound
	case !r.started.IsZero() && r.started.After(p.at.Add(-clockLeeway)):
		return bound
	default:
		return 0
	}
}

// remember records r's process as read at at, forgetting the least recently read past
// maxProcesses.
func (p *poolCount) remember(r *reading, bound float64, at time.Time) {
	last, ok := p.processes[r.process]
	if ok && r.requests >= last.requests {
		bound = max(bound, last.bound)
	}
	p.processes[r.process] = &processCount{requests: r.requests, bound: bound, at: at}
	p.at = at
	for len(p.processes) > maxProcesses {
		oldest := r.process
		for name, pc := range p.processes {
			if pc.at.Before(p.processes[oldest].at) {
				oldest = name
			}
		}
		delete(p.processes, oldest)
	}
}
