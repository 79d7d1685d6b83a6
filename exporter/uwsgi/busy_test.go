package uwsgi

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// one is a worker of one core, for busyReadings.
func one(pid, spawn, running, requests, start, shown float64) workerReading {
	return workerReading{pid: pid, spawn: spawn, running: running,
		cores: []coreReading{{requests: requests, start: start, shown: shown}}}
}

func reading(workers ...workerReading) busyReading { return busyReading{workers: workers} }

// killed is w after harakiri killed it n times.
func killed(w workerReading, n float64) workerReading {
	w.harakiri = n
	return w
}

// The counter through the ways a request shown in flight can end, and a restart of uWSGI.
// Two workers of one core, A and B.
func TestBusyCounterAccountsEveryEnd(t *testing.T) {
	var s busyState
	for i, step := range []struct {
		what       string
		r          busyReading
		want, kept float64
		restarted  bool
	}{
		{"first read: the counter's 0",
			reading(one(1, 900, 50, 0, 1000, 9), one(2, 900, 50, 0, 1000, 9)), 0, 0, false},
		{"A killed at 1015, started again and showing its next request 4 s; B runs on: A kept to its restart, not netted against B's growth",
			reading(killed(one(3, 1015, 50, 0, 1015, 4), 1), one(2, 900, 50, 0, 1000, 19)), (4 - 9 + 14) + (19 - 9), 14, false},
		{"A's request closed (+6 s), B's a static file (uWSGI leaves it out of running_time): B's kept",
			reading(killed(one(3, 1015, 56, 1, 0, 0), 1), one(2, 900, 50, 1, 0, 0)), 19 + (6 - 4), 19, false},
		{"a read caught between a request's accounting (+10 s) and its end counts it",
			reading(killed(one(3, 1015, 66, 1, 1040, 9), 1), one(2, 900, 50, 1, 0, 0)), 21 + 10 + 9, 0, false},
		{"its end: counted twice, and kept so (documented)",
			reading(killed(one(3, 1015, 66, 2, 0, 0), 1), one(2, 900, 50, 1, 0, 0)), 40, 9, false},
		{"a static file shown 5 s",
			reading(killed(one(3, 1015, 66, 2, 1060, 5), 1), one(2, 900, 50, 1, 0, 0)), 45, 0, false},
		{"it ended, and a request of 3 s closed on the same worker: only 2 s of it can be kept",
			reading(killed(one(3, 1015, 69, 4, 0, 0), 1), one(2, 900, 50, 1, 0, 0)), 45, 2, false},
		{"running_time a second short (a lost update between threads): nothing added",
			reading(killed(one(3, 1015, 68, 4, 0, 0), 1), one(2, 900, 50, 1, 0, 0)), 45, 0, false},
		{"and nothing again until it is past what it was",
			reading(killed(one(3, 1015, 70, 5, 0, 0), 1), one(2, 900, 50, 1, 0, 0)), 46, 0, false},
		{"a request of the killed process shown in the new one's document is not in flight (parse leaves it out)",
			reading(killed(one(4, 1080, 70, 5, 0, 0), 2), one(2, 900, 50, 1, 0, 0)), 46, 0, false},
		{"the clock stepped back 2 s: a request still running adds nothing, and is held at what it showed",
			reading(killed(one(4, 1080, 70, 5, 1100, 3), 2), one(2, 900, 50, 1, 0, 0)), 49, 0, false},
		{"...",
			reading(killed(one(4, 1080, 70, 5, 1100, 1), 2), one(2, 900, 50, 1, 0, 0)), 49, 0, false},
		{"...until it shows more",
			reading(killed(one(4, 1080, 70, 5, 1100, 5), 2), one(2, 900, 50, 1, 0, 0)), 51, 0, false},
		{"a read that says more than two cores can have run in 10 s (another instance behind the address) adds no more",
			reading(killed(one(4, 1080, 170, 5, 1100, 5), 2), one(2, 900, 50, 1, 0, 0)), 51 + 24, 0, false},
		{"uWSGI restarted: running_time fell to under half; the new instance's time adds",
			reading(one(9, 2000, 1, 1, 2001, 2), one(10, 2000, 0, 0, 0, 0)), 75 + 3, 0, true},
		{"and goes on",
			reading(one(9, 2000, 4, 2, 0, 0), one(10, 2000, 0, 0, 0, 0)), 78 + 3 - 2, 0, false},
	} {
		step.r.at = time.Unix(1010+10*int64(i), 0) // reads 10 s apart
		v, restarted, kept := s.total(step.r)
		if v != step.want || kept != step.kept || restarted != step.restarted {
			t.Errorf("read %d (%s): %v, kept %v, restarted %v; want %v, %v, %v",
				i+1, step.what, v, kept, restarted, step.want, step.kept, step.restarted)
		}
	}
}

// One worker of 4 threads: the three requests that close a second after a read are not taken
// to have run until harakiri killed the fourth nine seconds later (they were idle), only the
// oldest is (a review's case: it counted 40 s where the cores were busy 13).
func TestBusyCounterExtendsOnlyTheKilledRequest(t *testing.T) {
	var s busyState
	four := func(pid, spawn, running, requests, start, shown float64) workerReading {
		w := workerReading{pid: pid, spawn: spawn, running: running}
		for range 4 {
			w.cores = append(w.cores, coreReading{requests: requests, start: start, shown: shown})
		}
		return w
	}
	s.total(busyReading{at: time.Unix(110, 0), workers: []workerReading{four(1, 50, 0, 0, 100, 9)}})
	after := killed(four(2, 120, 33, 1, 0, 0), 1)
	after.cores[3].requests = 0
	v, _, _ := s.total(busyReading{at: time.Unix(125, 0), workers: []workerReading{after}})
	if v > 13 {
		t.Errorf("counter %v after cores busy 3 × 1 s + 10 s", v)
	}
}

// A read between harakiri's kill (harakiri_count up) and the new process (pid changed): the
// next read still extends the killed request.
func TestBusyCounterKillSeenInTwoReads(t *testing.T) {
	var s busyState
	s.total(busyReading{at: time.Unix(110, 0), workers: []workerReading{one(1, 50, 0, 0, 100, 9)}})
	s.total(busyReading{at: time.Unix(125, 0), workers: []workerReading{killed(one(1, 50, 0, 0, 100, 24), 1)}})
	v, _, kept := s.total(busyReading{at: time.Unix(140, 0), workers: []workerReading{killed(one(2, 130, 0, 0, 0, 0), 1)}})
	if v != 20 || kept != 29 {
		t.Errorf("counter %v, kept %v; want 20 (busy from the first read, 110, to the kill, 130) and 29 (24 shown + 5 to the kill)", v, kept)
	}
}

// A worker started again after its requests closed (--max-requests, --reload-on-rss: no
// harakiri) was idle until then: its request is not taken to have run until the restart (a
// review's case: 11 s counted for 2 s of work).
func TestBusyCounterGracefulRestartIsNotBusy(t *testing.T) {
	var s busyState
	s.total(busyReading{at: time.Unix(110, 0), workers: []workerReading{one(1, 50, 0, 0, 100, 9)}})
	// Closed at 112 (12 s), idle, the worker started again at 120.
	v, _, kept := s.total(busyReading{at: time.Unix(125, 0), workers: []workerReading{one(2, 120, 12, 1, 0, 0)}})
	if v > 3 || kept != 0 {
		t.Errorf("counter %v, kept %v, for a request busy 2 s since the last read (3 with its first second)", v, kept)
	}
}

// A simulated uWSGI of 8 workers of 1 or 2 threads, read every 15 s for an hour: requests of
// lognormal durations, those past the harakiri limit killed (the worker started again at once,
// with the other thread's request lost too), some static files. The counter never falls, never
// grows by more than the cores were busy (but for a second of each request running at the first
// read), and with no kill by no less than the stats cannot tell: a second per core at the first
// and last reads and what a static file ran before it was seen. Kills cost more (busyCounters).
func TestBusyCounterThroughAHarakiriStorm(t *testing.T) {
	for _, c := range []struct {
		threads                          int
		harakiri, staticShare, staticMax float64
		// lowerBound: the counter is short by no more than the stats cannot tell; else by
		// no more than minRatio of the busy time (a killed request's seconds are hidden by
		// the requests its worker's threads or new process close before the next read).
		lowerBound bool
		minRatio   float64
	}{
		{1, math.Inf(1), 0, 0, true, 0},
		{1, math.Inf(1), 0.1, 3, true, 0},
		{2, math.Inf(1), 0, 0, true, 0},
		{1, 30, 0, 0, false, 0.95},
		{1, 30, 0.1, 3, false, 0.9},
		{2, 30, 0.1, 3, false, 0.85},
		{2, 10, 0.1, 30, false, 0}, // killed within a read interval, long static files
	} {
		storm(t, c.threads, c.harakiri, c.staticShare, c.staticMax, c.lowerBound, c.minRatio)
	}
}

func storm(t *testing.T, threads int, harakiri, staticShare, staticMax float64, lowerBound bool, minRatio float64) {
	const workers, scrape, step = 8, 15.0, 0.01
	rng := rand.New(rand.NewPCG(7, 11))
	type core struct {
		requests   float64
		start, end float64 // the request running; start 0: none
		isStatic   bool
	}
	type worker struct {
		pid, spawn, running, harakiri float64
		cores                         []core
	}
	ws := make([]*worker, workers)
	for i := range ws {
		ws[i] = &worker{pid: float64(i + 1), cores: make([]core, threads)}
	}
	var (
		s                         busyState
		slack, last, t0           float64
		firstSlack                float64 // the requests running at the first read
		closedBusy, busyAtRead    float64 // the busy time of requests ended since the first read
		first                     = true
		nextPID                   = float64(workers + 1)
		epoch                     = 1_800_000_000.3
		nextRead                  = epoch + 60
		killed, staticCount, seen int
	)
	ended := func(c *core, at float64) {
		if !first {
			closedBusy += at - max(c.start, t0)
		}
		c.start = 0
	}
	for now := epoch; now < epoch+3660; now += step {
		for _, w := range ws {
			for j := range w.cores {
				c := &w.cores[j]
				switch {
				case c.start == 0 && rng.Float64() < step/0.5: // a request arrives at an idle core
					c.start, c.isStatic = now, rng.Float64() < staticShare
					d := math.Exp(rng.NormFloat64()*1.5) * 2
					if c.isStatic {
						d = 0.1 + (staticMax-0.1)*rng.Float64()
					}
					c.end = now + min(d, 40)
				case c.start != 0 && !c.isStatic && now-c.start >= harakiri: // the worker killed
					for k := range w.cores {
						if w.cores[k].start != 0 {
							ended(&w.cores[k], now)
						}
					}
					w.pid, w.spawn = nextPID, math.Floor(now)
					w.harakiri++
					nextPID++
					killed++
				case c.start != 0 && now >= c.end: // closed
					c.requests++
					if c.isStatic {
						staticCount++
					} else {
						w.running += c.end - c.start
					}
					ended(c, c.end)
				}
			}
		}
		if now < nextRead {
			continue
		}
		nextRead += scrape
		if first {
			t0 = now
		}
		busyAtRead = closedBusy
		r := busyReading{at: time.Unix(0, 0).Add(time.Duration(now * 1e9))}
		for _, w := range ws {
			wr := workerReading{pid: w.pid, spawn: w.spawn, harakiri: w.harakiri, running: w.running}
			for _, c := range w.cores {
				cr := coreReading{requests: c.requests}
				if c.start != 0 {
					busyAtRead += now - max(c.start, t0)
					cr.start = math.Floor(c.start)
					cr.shown = max(0, now-cr.start-1)
					if first {
						firstSlack++
					}
					seen++
				}
				wr.cores = append(wr.cores, cr)
			}
			r.workers = append(r.workers, wr)
		}
		v, _, _ := s.total(r)
		if v < last {
			t.Fatalf("the counter fell from %v to %v", last, v)
		}
		// A request running at the first read shows a second less than it ran then: once
		// closed, that second is counted.
		if v > busyAtRead+firstSlack+1e-6 {
			t.Fatalf("harakiri %v s, %.0f%% static: the counter %v ran ahead of the busy time %v", harakiri, 100*staticShare, v, busyAtRead)
		}
		last, first = v, false
	}
	slack += firstSlack + float64(workers*threads) + 2*float64(killed) + staticMax*float64(staticCount)
	if lowerBound && last < busyAtRead-slack {
		t.Errorf("harakiri %v s, %.0f%% static: the counter grew by %.1f s over the hour, the cores were busy %.1f s (slack %.0f s: %d killed, %d static)",
			harakiri, 100*staticShare, last, busyAtRead, slack, killed, staticCount)
	}
	if last < minRatio*busyAtRead {
		t.Errorf("%d threads, harakiri %v s, %.0f%% static: the counter grew by %.1f s over the hour, under %.0f%% of the %.1f s the cores were busy",
			threads, harakiri, 100*staticShare, last, 100*minRatio, busyAtRead)
	}
	if harakiri < 60 && killed < 100 {
		t.Errorf("only %d workers killed: the storm is no storm", killed)
	}
	t.Logf("%d threads, harakiri %v s, %.0f%% static of up to %v s: counter %.1f s, busy %.1f s (%.1f%%), %d killed, %d static",
		threads, harakiri, 100*staticShare, staticMax, last, busyAtRead, 100*last/busyAtRead, killed, staticCount)
}
