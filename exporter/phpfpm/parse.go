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
	Processes      *[]struct {
		State           *string  `json:"state"`
		RequestDuration *float64 `json:"request duration"` // microseconds
		RequestMethod   *string  `json:"request method"`
		RequestURI      *string  `json:"request uri"` // path and query string, "-" if unknown yet
	} `json:"processes"`
}

// inRequest are the states (fpm_request.c) of a child between taking a connection and being
// back to accepting the next: every state but "Idle" and that of a child not yet at its first
// accept ("(null)" in 8.2, "Creating" later). PHP before 7.4 spells the request-info state
// "informations".
var inRequest = map[string]bool{
	"Reading headers":              true,
	"Getting request information":  true,
	"Getting request informations": true,
	"Running":                      true,
	"Ending":                       true,
	"Finishing":                    true,
}

// Parse turns one ?json&full status page into the pool it describes. maxChildren gives the
// pool's pm.max_children, which the page does not show, from the pool's name. The mapping, each
// rule argued from php-src's sapi/fpm/fpm (8.2, the version the tests run):
//
//   - max_workers = pm.max_children: the most children the pool ever runs at once (the
//     scoreboard has exactly that many slots). Never "max active processes", a high-water mark.
//   - workers = the processes ?full lists: one per scoreboard slot in use, a child alive.
//   - busy_workers = the processes in a request state (every state but "Idle"); a status
//     request served by the pool itself is one of them. Not "active processes": children keep
//     that count by +1/-1 and the master resets it once a second, and between the two it is
//     off by the children started or ended meanwhile (measured with pm = ondemand: "active
//     processes" 0 while a child was Running).
//   - tasks_completed_total{outcome="success"} = "accepted conn" − busy_workers: a child adds
//     one to "accepted conn" and leaves Idle in the same scoreboard-locked step
//     (fpm_request_reading_headers), goes back to Idle under the same lock, and the status
//     page copies the counters and the process list under that lock (fpm_scoreboard_copy),
//     so the difference is the requests that ended, and never goes back: a child that exits
//     or is killed mid-request frees its slot, and its request counts as ended. PHP-FPM does
//     not tell errors apart, so every ended request is "success", as for CherryPy. A
//     connection closed before sending a request (a TCP health check) counts too.
//   - queued_tasks = "listen queue": connections the kernel accepted that no child has taken
//     yet, read by the master once a second from TCP_INFO. Only measured for a TCP listener:
//     on a unix socket "listen queue len" is 0 and both queue series are absent, not 0.
//   - max_queued_tasks = "listen queue len" + 1: "listen queue len" is the socket's backlog,
//     and Linux lets an accept queue hold one connection more than its backlog before it
//     drops new ones (sk_acceptq_is_full tests ">"; measured: backlog 4 held 5). A queue
//     seen above that (another kernel) leaves the capacity out for that scrape.
//   - oldest_running_task_age_seconds = the largest "request duration" among the processes
//     in a request past "Reading headers": for those, fpm_status.c computes it as now − the
//     request's start. A child in "Reading headers" runs nothing yet: the web server sends a
//     request's params at once, so a long stay there is a connection kept open for the next
//     request (nginx fastcgi_keep_conn, mod_proxy_fcgi enablereuse), whose "duration" is its
//     idle time (measured). It still holds the child: busy, but no running task.
//   - the route series: the same processes (past "Reading headers"), by "request method" and
//     "request uri" (normalised by the exporter), aged by their "request duration".
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
	} {
		if f.v == nil {
			return p, fmt.Errorf("pool %q: PHP-FPM status lacks %q", p.Name, f.name)
		}
		if !exporter.IsCount(*f.v) {
			return p, fmt.Errorf("pool %q: %q is %v, want a count", p.Name, f.name, *f.v)
		}
	}
	if s.Processes == nil {
		return p, fmt.Errorf(`pool %q: PHP-FPM status has no "processes": was ?full lost on the way?`, p.Name)
	}
	busy, oldest := 0.0, 0.0
	running := []exporter.Request{}
	for i, proc := range *s.Processes {
		if proc.State == nil || proc.RequestDuration == nil {
			return p, fmt.Errorf("pool %q: process %d lacks its state or request duration", p.Name, i)
		}
		if !exporter.IsCount(*proc.RequestDuration) {
			return p, fmt.Errorf("pool %q: process %d's request duration is %v", p.Name, i, *proc.RequestDuration)
		}
		if inRequest[*proc.State] {
			busy++
			if *proc.State != "Reading headers" {
				oldest = math.Max(oldest, *proc.RequestDuration/1e6)
				// For the route series: a request whose URI is not known ("-") counts in
				// route "other".
				r := exporter.Request{AgeSeconds: *proc.RequestDuration / 1e6}
				if proc.RequestURI != nil && *proc.RequestURI != "-" && *proc.RequestURI != "" {
					r.Target = *proc.RequestURI
					if proc.RequestMethod != nil && *proc.RequestMethod != "-" {
						r.Method = *proc.RequestMethod
					}
				}
				running = append(running, r)
			}
		}
	}
	if busy > *s.AcceptedConn {
		return p, fmt.Errorf("pool %q: %v processes in a request but only %v accepted", p.Name, busy, *s.AcceptedConn)
	}

	capacity, err := maxChildren(p.Name)
	if err != nil {
		return p, fmt.Errorf("pool %q: %w", p.Name, err)
	}
	p.MaxWorkers = capacity
	p.Workers = float64(len(*s.Processes))
	p.BusyWorkers = busy
	p.TasksCompletedTotal = map[string]float64{"success": *s.AcceptedConn - busy}
	p.OldestRunningTaskAgeSeconds = exporter.Float(oldest)
	p.Running = running
	if *s.ListenQueueLen > 0 {
		p.QueuedTasks = *s.ListenQueue
		if capacity := *s.ListenQueueLen + 1; *s.ListenQueue <= capacity {
			p.MaxQueuedTasks = exporter.Float(capacity)
		}
	} else {
		p.QueueNotMeasured = true
	}
	return p, nil
}
