package uwsgi

import (
	"time"

	"github.com/poolwatch/poolwatch/exporter"
)

// busyReading is what one stats document says of the time the workers spent in requests.
type busyReading struct {
	// at is the exporter's clock at the read, its monotonic reading included: the time
	// between two reads bounds what they may add, whatever the wall clock does.
	at      time.Time
	workers []workerReading // in the document's order (uWSGI lists every worker, by id)
}

type workerReading struct {
	pid, spawn float64 // the worker's process, and when it was started (whole seconds)
	harakiri   float64 // the times the master killed it for --harakiri
	// killing: harakiri_count rose while the pid stayed (a read between the kill and the new
	// process), carried to the read that sees the new pid.
	killing bool
	// running is the worker's running_time, in seconds: the exact time of every request it
	// closed since uWSGI started, added as each one is closed.
	running float64
	cores   []coreReading
}

type coreReading struct {
	requests float64 // requests the core closed
	// start is the request_start (whole seconds) of the request the core runs, 0 if none;
	// shown is its time so far counted from start less one second (never below 0), so
	// never more than it ran: a request then adds no less to running_time when it is
	// closed than it showed.
	start, shown float64
}

func (r busyReading) running() (sum float64) {
	for _, w := range r.workers {
		sum += w.running
	}
	return sum
}

func (r busyReading) cores() (n int) {
	for _, w := range r.workers {
		n += len(w.cores)
	}
	return n
}

func (r busyReading) inFlight() (sum float64) {
	for _, w := range r.workers {
		for _, c := range w.cores {
			sum += c.shown
		}
	}
	return sum
}

// busyCounters keeps one busy-seconds counter per target. One document's running_time plus
// the requests in flight falls whenever a request shown in flight ends without being added
// to running_time: its worker killed (harakiri, a crash), a static file (uWSGI leaves those
// out of running_time), a request dropped before complete. So the counter adds up, from read
// to read and worker by worker, what can only have been spent:
//
//	growth = Δrunning + shown now − shown before + max(0, ended − Δrunning)
//
// where ended is what the worker's requests that ended since showed at the last read. A
// request added to running_time adds at least what it showed, so the last term is 0 unless
// Δrunning cannot hold every request that ended: then the difference never reached
// running_time, and is kept (poolwatch_busy_seconds_kept_total counts it). Besides the
// extension below, the kept seconds are never more than the requests lost showed (no second
// is counted twice), and fewer when
// the same worker closed other requests in the interval, whose time then hides them; a
// request started and lost between two reads is never seen. When harakiri killed the worker
// (its process changed and harakiri_count rose since the last read with the old process), one
// request that ended, the oldest whose core closed nothing since (else the oldest), is taken
// to have run until the new process started (last_spawn, at most the read's time), less a
// second, where that is more than it showed: at most a read interval too much when that was
// not the killed request, or when the worker was started again twice in the interval. Growth
// is never negative: a running request's shown seconds and a worker's running_time (its
// threads add to it without a lock) are held at the most seen. No read adds more than the time
// since the last one on every core (monotonic clock), plus two seconds a core.
//
// A fall of the workers' running_time to under half its sum is a restart of uWSGI (it never
// resets running_time otherwise; a reload re-executes the master): the new instance's
// running_time and requests in flight add to the counter. The counter starts at 0 at the
// exporter's first read of a target, so a restart of the exporter is a reset to 0, which
// rate() handles.
//
// Reads of one target are taken one at a time (an [exporter.TargetStates] holds the states),
// so that the state moves in the order uWSGI wrote its documents.
type busyCounters = exporter.TargetStates[busyState]

// busyState is one target's counter, moved on by each read in its turn.
type busyState struct {
	read      bool            // a read has set the fields below
	workers   []workerReading // the last read's, running_time the most seen of each worker
	at        time.Time       // the last read's clock
	last      float64         // the value last reported
	keptTotal float64         // every second kept (poolwatch_busy_seconds_kept_total)
}

// total returns the busy seconds to report for r, and moves the state on: restarted tells a
// restart of uWSGI, kept the seconds this read kept. Called in turn.
func (s *busyState) total(r busyReading) (v float64, restarted bool, kept float64) {
	var growth float64
	switch {
	case !s.read:
		s.read = true
	case r.running() < busyReading{workers: s.workers}.running()/2:
		restarted = true
		growth = r.running() + r.inFlight()
	default:
		wall := float64(r.at.UnixNano()) / 1e9
		for i := range r.workers {
			if i >= len(s.workers) {
				continue // a worker not seen before: from now on
			}
			g, k := s.workers[i].growth(&r.workers[i], wall)
			growth += g
			kept += k
		}
	}
	// No pool is busier than all its cores: whatever the reads say (a wall clock stepped, a
	// target that reaches two instances by turns), the counter grows by no more than the
	// time since the last read (by the monotonic clock) on every core, plus two seconds a core
	// for whole-second starts. What is cut is cut from the kept seconds too.
	if limit := max(0, r.at.Sub(s.at).Seconds()+2) * float64(r.cores()); growth > limit {
		kept *= limit / growth
		growth = limit
	}
	s.last += growth
	s.keptTotal += kept
	s.workers, s.at = r.workers, r.at
	return s.last, restarted, kept
}

// growth returns what worker now adds to the counter since w, and of it the seconds kept; at
// is the read's wall clock (Unix seconds). It sets now's running_time and its running
// requests' shown seconds to the most seen, for the next read to compare with: a worker's
// threads add to running_time without a lock, and a clock stepped back makes a request show
// less than before.
func (w workerReading) growth(now *workerReading, at float64) (growth, kept float64) {
	now.killing = now.pid == w.pid && (w.killing || now.harakiri > w.harakiri)
	now.running = max(w.running, now.running)
	dRunning := now.running - w.running
	var endedShown, oldest, extension float64
	quiet := false // extension is of a core that closed nothing since
	for j, was := range w.cores {
		if was.start == 0 {
			continue
		}
		if j < len(now.cores) && now.pid == w.pid && now.cores[j].start == was.start && now.cores[j].requests == was.requests {
			now.cores[j].shown = max(now.cores[j].shown, was.shown)
			growth -= was.shown // added back with now's shown below
			continue
		}
		endedShown += was.shown
		// A worker harakiri killed since (its pid changed and harakiri_count rose): its
		// oldest request whose core closed nothing, the one harakiri kills, ran until the
		// new process started, less a second. Only that one: the others may have closed long
		// before the kill, and a worker started again after closing its requests
		// (--max-requests, --reload-on-rss) was idle until then.
		// Failing such a core (the new process closed requests on it too), the oldest.
		killed := now.pid != w.pid && (w.killing || now.harakiri > w.harakiri)
		closedNothing := j < len(now.cores) && now.cores[j].requests == was.requests
		if killed && (closedNothing && (!quiet || was.start < oldest) || !quiet && (oldest == 0 || was.start < oldest)) {
			oldest, quiet = was.start, closedNothing
			extension = max(0, min(now.spawn, at)-was.start-1-was.shown)
		}
	}
	for _, c := range now.cores {
		growth += c.shown
	}
	kept = max(0, endedShown+extension-dRunning)
	return max(0, growth+dRunning-endedShown+kept), kept
}
