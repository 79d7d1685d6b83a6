package uwsgi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/internal/contract"
)

// ErrNotStats is returned by [Parse] for JSON without a "workers" list: most likely the target
// is not uWSGI's stats server.
var ErrNotStats = errors.New(`no "workers" list: is this uWSGI's stats server?`)

// ErrNoCores is returned by [Parse] when the workers carry no "cores" (uWSGI runs with
// --stats-no-cores): without them neither the threads per worker (capacity) nor the busy
// threads are known.
var ErrNoCores = errors.New(`workers have no "cores": start uWSGI without --stats-no-cores`)

// stats is the part of uWSGI's stats JSON (core/master_utils.c, uwsgi_master_generate_stats)
// the mapping uses. Pointers tell a missing value from 0.
type stats struct {
	// ListenQueue is written on Linux only; its presence says the socket queues were
	// measured with Linux's TCP_INFO.
	ListenQueue *float64 `json:"listen_queue"`
	Sockets     []struct {
		Name     string   `json:"name"`
		Queue    *float64 `json:"queue"`
		MaxQueue *float64 `json:"max_queue"`
	} `json:"sockets"`
	Workers *[]worker `json:"workers"`
}

type worker struct {
	ID       *float64 `json:"id"`
	Status   *string  `json:"status"`
	Requests *float64 `json:"requests"`
	// RunningTime is the time, in microseconds, of the worker's requests closed so far.
	RunningTime *float64 `json:"running_time"`
	// PID changes when the worker is started again (harakiri, --max-requests, a crash), and
	// is 0 for a worker stopped and not started again (a reload, a shutdown); LastSpawn is
	// when it started, in whole seconds; HarakiriCount counts the times the master killed it
	// for a request past --harakiri (kept when it starts again).
	PID           float64 `json:"pid"`
	LastSpawn     float64 `json:"last_spawn"`
	HarakiriCount float64 `json:"harakiri_count"`
	Cores         *[]core `json:"cores"`
}

type core struct {
	InRequest *float64 `json:"in_request"`
	// Requests counts the core's requests closed; it tells a request seen at two reads
	// from two requests that started in the same second.
	Requests float64 `json:"requests"`
	ReqInfo  struct {
		// RequestStart is the Unix time, in whole seconds, at which the core's request
		// started; uWSGI writes it only while the core is in a request.
		RequestStart *float64 `json:"request_start"`
	} `json:"req_info"`
}

// Parse maps one uWSGI stats document to the instance's pool, named pool, reading ages
// against now. The rules, from uWSGI 2.0's source (core/master_utils.c, core/utils.c,
// core/master.c):
//
//   - A worker has one core per thread (--threads) or async slot, so capacity
//     (max_workers) is the number of cores of every worker, cheaped ones included.
//   - workers counts the cores of the workers not in status "cheap" (a cheaped worker is a
//     stopped process that cheaper mode may start again) and not of pid 0 (a worker the
//     master reaped and did not start again: a reload, a shutdown).
//   - busy counts those workers' cores with in_request 1: set when the core starts receiving
//     a request (wsgi_req_recv) and cleared when it is closed, exactly the time the thread is
//     taken; but not a request that started before its worker's last_spawn (the document
//     served right after harakiri still shows the killed one). The worker "status" is not
//     used for it: "busy" means at least one core is busy.
//   - queued is the accept queue of the sockets the workers accept from, which the master
//     reads with TCP_INFO about once a second (master_check_listen_queue). It is measured only
//     for IPv4 sockets on Linux: for a unix or IPv6 socket uWSGI reports 0 whatever waits, so
//     the queue is then absent (QueueNotMeasured) rather than a 0 that claims it is empty.
//   - max_queued is each socket's backlog (max_queue) plus one: Linux lets the accept queue
//     hold one connection beyond the backlog (sk_acceptq_is_full compares with >), which a
//     full queue shows (queue 5 with max_queue 4).
//   - completed{success} is the sum of the workers' requests: counted when a request is
//     closed, never reset when a worker is respawned. Every finished request counts as
//     success: the "exceptions" counter is bumped when the exception is raised, before its
//     request finishes, so success = requests - exceptions could go backwards.
//   - oldest_running is now minus the earliest request_start of a busy core: uWSGI keeps the
//     start in whole seconds, so the age may read up to 1 s high, and it assumes the
//     exporter's clock agrees with uWSGI's (same host, or NTP). A negative age (clock skew)
//     reads 0.
//   - busy_seconds, for one document on its own, is the sum of the workers' running_time
//     (microseconds, added as each request is closed, from the same start as in_request;
//     never reset when a worker is started again) plus the time so far of the requests in
//     flight, each from its request_start less one second (whole seconds, so never more than
//     it ran). [Source.Read] reports instead the growth of that sum from its first read of
//     the target, with the seconds of requests that ended without reaching running_time
//     added back (busyCounters): that counter, unlike the sum, never falls.
//
// Not provided, because uWSGI does not measure them: submitted and rejected tasks
// (listen_queue_errors is declared but never incremented in uWSGI 2.0), saturated seconds,
// wait histograms and oldest queued age. "load" is a copy of "listen_queue" (the largest
// socket queue), and a worker's "avg_rt" is (previous avg_rt + last request's time)/2, a
// figure of the last few requests that no histogram can be made of: neither is used.
func Parse(data []byte, pool string, now time.Time) (exporter.Pool, error) {
	p, _, err := parse(data, pool, now)
	return p, err
}

// parse is [Parse], and returns the busy seconds in their two parts too, for [Source.Read].
// The pool has BusySecondsTotal only when every worker reports running_time.
func parse(data []byte, pool string, now time.Time) (exporter.Pool, busyReading, error) {
	var s stats
	if err := json.Unmarshal(data, &s); err != nil {
		return exporter.Pool{}, busyReading{}, fmt.Errorf("malformed uWSGI stats JSON: %w", err)
	}
	if s.Workers == nil {
		return exporter.Pool{}, busyReading{}, ErrNotStats
	}
	p := exporter.Pool{Name: pool}
	var requests, oldestStart float64
	nowSeconds := float64(now.UnixNano()) / 1e9
	busy := busyReading{at: now, workers: make([]workerReading, 0, len(*s.Workers))}
	timed := true // every worker reports running_time
	for i, w := range *s.Workers {
		if w.Cores == nil {
			return exporter.Pool{}, busyReading{}, ErrNoCores
		}
		if w.Status == nil || w.Requests == nil {
			return exporter.Pool{}, busyReading{}, fmt.Errorf("worker %d: \"status\" or \"requests\" is missing", i+1)
		}
		if !exporter.IsCount(*w.Requests) {
			return exporter.Pool{}, busyReading{}, fmt.Errorf("worker %d: requests is %v, want a count", i+1, *w.Requests)
		}
		requests += *w.Requests
		switch {
		case w.RunningTime == nil:
			timed = false
		case !exporter.IsCount(*w.RunningTime):
			return exporter.Pool{}, busyReading{}, fmt.Errorf("worker %d: running_time is %v, want a count of microseconds", i+1, *w.RunningTime)
		}
		if !exporter.IsCount(w.PID) || !exporter.IsCount(w.LastSpawn) || !exporter.IsCount(w.HarakiriCount) {
			return exporter.Pool{}, busyReading{}, fmt.Errorf("worker %d: pid %v, last_spawn %v or harakiri_count %v is not a count", i+1, w.PID, w.LastSpawn, w.HarakiriCount)
		}
		wr := workerReading{pid: w.PID, spawn: w.LastSpawn, harakiri: w.HarakiriCount, cores: make([]coreReading, len(*w.Cores))}
		if w.RunningTime != nil {
			wr.running = *w.RunningTime / 1e6
		}
		cores := float64(len(*w.Cores))
		p.MaxWorkers += cores
		// A worker stopped and not started again (pid 0) runs nothing, whatever its cores
		// still say.
		cheap := *w.Status == "cheap" || w.PID == 0
		if !cheap {
			p.Workers += cores
		}
		for j, c := range *w.Cores {
			wr.cores[j].requests = c.Requests
			if cheap {
				continue
			}
			if c.InRequest == nil || (*c.InRequest != 0 && *c.InRequest != 1) {
				return exporter.Pool{}, busyReading{}, fmt.Errorf("worker %d core %d: in_request is missing or not 0/1", i+1, j)
			}
			start := c.ReqInfo.RequestStart
			// A request cannot predate its worker's process: one that does is the request
			// harakiri killed, which the master's document shows until the new process has
			// reset its cores.
			if *c.InRequest == 0 || start != nil && *start > 0 && *start < w.LastSpawn {
				continue
			}
			p.BusyWorkers++
			// A start of 0 or none is a request caught as it began, or as it is closed (uWSGI
			// clears the request before in_request): its age is 0.
			if start != nil && *start > 0 && !math.IsInf(*start, 0) {
				if oldestStart == 0 || *start < oldestStart {
					oldestStart = *start
				}
				wr.cores[j].start, wr.cores[j].shown = *start, max(0, nowSeconds-*start-1)
			}
		}
		busy.workers = append(busy.workers, wr)
	}
	if p.MaxWorkers == 0 {
		return exporter.Pool{}, busyReading{}, errors.New("uWSGI reports no worker cores: no pool to read")
	}
	p.TasksCompletedTotal = map[string]float64{contract.OutcomeSuccess: requests}
	if timed {
		p.BusySecondsTotal = exporter.Float(busy.running() + busy.inFlight())
	}
	age := 0.0
	if oldestStart > 0 {
		age = max(0, nowSeconds-oldestStart)
	}
	p.OldestRunningTaskAgeSeconds = exporter.Float(age)
	if err := readQueue(&p, s); err != nil {
		return exporter.Pool{}, busyReading{}, err
	}
	return p, busy, p.Validate()
}

// readQueue sets the queue from the sockets when uWSGI measured every one of them.
func readQueue(p *exporter.Pool, s stats) error {
	p.QueueNotMeasured = true
	if s.ListenQueue == nil || len(s.Sockets) == 0 {
		return nil // not Linux, or no socket the workers accept from
	}
	var queued, capacity float64
	for _, sock := range s.Sockets {
		if sock.Queue == nil || sock.MaxQueue == nil {
			return fmt.Errorf("socket %q: \"queue\" or \"max_queue\" is missing", sock.Name)
		}
		if !exporter.IsCount(*sock.Queue) || !exporter.IsCount(*sock.MaxQueue) {
			return fmt.Errorf("socket %q: queue %v of %v, want counts", sock.Name, *sock.Queue, *sock.MaxQueue)
		}
		// get_tcp_info leaves both at 0 when the kernel does not say (tcpi_sacked 0).
		if !isIPv4(sock.Name) || *sock.MaxQueue == 0 {
			return nil
		}
		queued += *sock.Queue
		capacity += *sock.MaxQueue + 1
	}
	p.QueueNotMeasured = false
	p.QueuedTasks = queued
	p.MaxQueuedTasks = exporter.Float(capacity)
	return nil
}

// isIPv4 reports whether uWSGI binds name as an AF_INET socket, the only family whose queue
// it measures: "host:port" or ":port". A unix socket is a path ("/run/app.sock") or an
// abstract name ("@app"); an IPv6 one is written "[::1]:8000".
func isIPv4(name string) bool {
	return strings.Contains(name, ":") && !strings.HasPrefix(name, "[") &&
		!strings.HasPrefix(name, "/") && !strings.HasPrefix(name, "@") && !strings.HasPrefix(name, "=")
}
