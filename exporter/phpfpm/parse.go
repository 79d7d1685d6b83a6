package phpfpm

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/poolwatch/poolwatch/exporter"
)

// status is the JSON of PHP-FPM's status page with ?json&full (sapi/fpm/fpm/fpm_status.c).
// Pointers tell a missing field from a zero.
type status struct {
	Pool           *string  `json:"pool"`
	AcceptedConn   *float64 `json:"accepted conn"`
	ListenQueue    *float64 `json:"listen queue"`
	ListenQueueLen *float64 `json:"listen queue len"`
	IdleProcesses  *float64 `json:"idle processes"`
	ActiveProcs    *float64 `json:"active processes"`
	TotalProcesses *float64 `json:"total processes"`
	Processes      []struct {
		State           *string  `json:"state"`
		RequestDuration *float64 `json:"request duration"` // microseconds
	} `json:"processes"`
}

// Parse turns one ?json&full status page into the pool it describes. maxChildren gives the
// pool's pm.max_children, which the page does not show, from the pool's name. The mapping, each
// rule argued from php-src's sapi/fpm/fpm:
//
//   - max_workers = pm.max_children: the most children the pool ever runs at once (the
//     scoreboard has exactly that many slots). Never "max active processes", a high-water mark.
//   - workers = "total processes" (idle + active): the children alive now.
//   - busy_workers = "active processes": children in any state but Idle, the ones the process
//     manager counts as active. A status request served by the pool itself is one of them.
//   - queued_tasks = "listen queue": connections the kernel accepted that no child has taken
//     yet, read by the master once a second from TCP_INFO. Only measured for a TCP listener:
//     on a unix socket "listen queue len" is 0 and both queue series are absent, not 0.
//   - max_queued_tasks = "listen queue len" + 1: "listen queue len" is the socket's backlog,
//     and Linux lets an accept queue hold one connection more than its backlog before it
//     drops new ones (sk_acceptq_is_full tests ">"; measured: backlog 4 held 5). A queue
//     seen above that (another kernel) leaves the capacity out for that scrape.
//   - tasks_completed_total{outcome="success"} = "accepted conn" − "active processes":
//     a child adds one to both in the same locked update when it starts reading a request
//     (fpm_request_reading_headers), and takes one off "active" when it is back to accepting,
//     so the difference is the requests that ended. PHP-FPM does not tell errors apart, so
//     every ended request is counted as "success", as for CherryPy.
//   - oldest_running_task_age_seconds = the largest "request duration" among processes not
//     Idle: for those, fpm_status.c computes it as now − the request's start. It needs ?full;
//     without the process list it is absent.
//
// "max children reached" counts how often the process manager wanted a child it could not
// start; it is no contract series and is left out. Nothing measures busy time, waits or
// rejections, so those series are absent.
func Parse(body []byte, maxChildren func(pool string) (float64, error)) (exporter.Pool, error) {
	var s status
	if err := json.Unmarshal(body, &s); err != nil {
		return exporter.Pool{}, fmt.Errorf("parsing PHP-FPM status JSON: %w", err)
	}
	if s.Pool == nil || *s.Pool == "" {
		return exporter.Pool{}, errors.New(`PHP-FPM status has no "pool": not a ?json status page?`)
	}
	p := exporter.Pool{Name: *s.Pool}
	for _, f := range []struct {
		name string
		v    *float64
	}{
		{"accepted conn", s.AcceptedConn},
		{"listen queue", s.ListenQueue},
		{"listen queue len", s.ListenQueueLen},
		{"idle processes", s.IdleProcesses},
		{"active processes", s.ActiveProcs},
		{"total processes", s.TotalProcesses},
	} {
		if f.v == nil {
			return p, fmt.Errorf("pool %q: PHP-FPM status lacks %q", p.Name, f.name)
		}
		if !isCount(*f.v) {
			return p, fmt.Errorf("pool %q: %q is %v, want a count", p.Name, f.name, *f.v)
		}
	}
	if *s.IdleProcesses+*s.ActiveProcs != *s.TotalProcesses {
		return p, fmt.Errorf("pool %q: %v idle + %v active processes is not the %v total",
			p.Name, *s.IdleProcesses, *s.ActiveProcs, *s.TotalProcesses)
	}
	if *s.ActiveProcs > *s.AcceptedConn {
		return p, fmt.Errorf("pool %q: %v active processes but only %v accepted requests",
			p.Name, *s.ActiveProcs, *s.AcceptedConn)
	}

	capacity, err := maxChildren(p.Name)
	if err != nil {
		return p, fmt.Errorf("pool %q: %w", p.Name, err)
	}
	p.MaxWorkers = capacity
	p.Workers = *s.TotalProcesses
	p.BusyWorkers = *s.ActiveProcs
	p.TasksCompletedTotal = map[string]float64{"success": *s.AcceptedConn - *s.ActiveProcs}
	if *s.ListenQueueLen > 0 {
		p.QueuedTasks = *s.ListenQueue
		if capacity := *s.ListenQueueLen + 1; *s.ListenQueue <= capacity {
			p.MaxQueuedTasks = exporter.Float(capacity)
		}
	} else {
		p.QueueNotMeasured = true
	}
	if s.Processes != nil {
		oldest := 0.0
		for i, proc := range s.Processes {
			if proc.State == nil || proc.RequestDuration == nil {
				return p, fmt.Errorf("pool %q: process %d lacks its state or request duration", p.Name, i)
			}
			if !isCount(*proc.RequestDuration) {
				return p, fmt.Errorf("pool %q: process %d's request duration is %v", p.Name, i, *proc.RequestDuration)
			}
			if *proc.State != "Idle" {
				oldest = math.Max(oldest, *proc.RequestDuration/1e6)
			}
		}
		p.OldestRunningTaskAgeSeconds = exporter.Float(oldest)
	}
	return p, nil
}

func isCount(v float64) bool { return v >= 0 && v == math.Trunc(v) && !math.IsInf(v, 0) }
