package uwsgi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// reading builds a busyReading of cores given as coreReadings, in place order.
func reading(running float64, cores ...coreReading) busyReading {
	r := busyReading{running: running, cores: make(map[coreID]coreReading)}
	for i, c := range cores {
		r.cores[coreID{i, 0}] = c
		r.inFlight += c.shown
	}
	return r
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
		{"first read: the counter's 0", reading(100,
			coreReading{pid: 1, start: 1000, shown: 9}, coreReading{pid: 2, start: 1000, shown: 9}), 0, 0, false},
		{"A killed by harakiri at 1015 and started again, closing a request (+0 s) and showing the next 4 s, B runs on: A's 14 s kept, not netted against B's growth",
			reading(100, coreReading{pid: 3, spawn: 1015, harakiri: 1, requests: 1, start: 1015, shown: 4}, coreReading{pid: 2, start: 1000, shown: 19}),
			(4 + 19 - 18) + 14, 14, false},
		{"A's next request closed (running +6), B's a static file (closed, static): kept what it showed",
			reading(106, coreReading{pid: 3, spawn: 1015, harakiri: 1, requests: 2}, coreReading{pid: 2, requests: 1, static: 1}),
			19 + 6 - 4 - 19 + 19, 19, false},
		{"a read caught between a request's accounting (running +10) and its end counts it twice",
			reading(116, coreReading{pid: 3, spawn: 1015, harakiri: 1, requests: 2, start: 1040, shown: 9}, coreReading{pid: 2, requests: 1, static: 1}),
			21 + 10 + 9, 0, false},
		{"its end: closed, already in running_time; the counter holds",
			reading(116, coreReading{pid: 3, spawn: 1015, harakiri: 1, requests: 3}, coreReading{pid: 2, requests: 1, static: 1}),
			40, 0, false},
		{"a request of 2 s closed, another shown 3 s: the sum is still under the counter, which holds",
			reading(118, coreReading{pid: 3, spawn: 1015, harakiri: 1, requests: 4, start: 1060, shown: 3}, coreReading{pid: 2, requests: 1, static: 1}),
			40, 0, false},
		{"that one dropped before complete (no request closed): kept what it showed",
			reading(118, coreReading{pid: 3, spawn: 1015, harakiri: 1, requests: 4}, coreReading{pid: 2, requests: 1, static: 1}),
			40, 3, false},
		{"uWSGI restarted: running_time fell to under half; the counter goes on from its value",
			reading(2, coreReading{pid: 9, spawn: 2000}, coreReading{pid: 10, spawn: 2000}), 42, 0, true},
		{"and the new instance's time adds to it",
			reading(5, coreReading{pid: 9, spawn: 2000, requests: 1}, coreReading{pid: 10, spawn: 2000}), 45, 0, false},
	} {
		v, restarted, kept := s.total(step.r)
		if v != step.want || kept != step.kept || restarted != step.restarted {
			t.Errorf("read %d (%s): %v, kept %v, restarted %v; want %v, %v, %v",
				i+1, step.what, v, kept, restarted, step.want, step.kept, step.restarted)
		}
	}
}

// A simulated uWSGI of 8 workers of one core, read every 15 s for an hour: requests of 0.2
// to 40 s, those past 30 s killed by harakiri (their worker started again at once), some
// static files of 0.1 to 3 s. The counter never falls, and over the hour it grows by the
// time the cores were busy, short of it by no more than the stats cannot tell: a second per
// core at the first read, two per killed request (whole seconds) and what a static file ran
// before it was seen, or unseen.
func TestBusyCounterThroughAHarakiriStorm(t *testing.T) {
	for _, c := range []struct{ harakiri, staticShare float64 }{{math.Inf(1), 0}, {30, 0}, {math.Inf(1), 0.1}, {30, 0.1}} {
		storm(t, c.harakiri, c.staticShare)
	}
}

func storm(t *testing.T, harakiri, staticShare float64) {
	const cores, scrape, step = 8, 15.0, 0.01
	rng := rand.New(rand.NewPCG(7, 11))
	type core struct {
		pid, spawn, harakiri, requests, static float64
		start, end                             float64 // the request running; start 0: none
		isStatic                               bool
		running                                float64 // the worker's running_time
	}
	cs := make([]*core, cores)
	for i := range cs {
		cs[i] = &core{pid: float64(i + 1)}
	}
	var (
		s                   busyState
		slack, last         float64
		t0, closedBusy      float64 // the first read, and the busy time of requests ended since
		busyAtRead          float64
		first               = true
		nextPID             = float64(cores + 1)
		epoch               = 1_800_000_000.3
		nextRead            = epoch + 60
		killed, staticCount int
	)
	for now := epoch; now < epoch+3660; now += step {
		for _, c := range cs {
			switch {
			case c.start == 0 && rng.Float64() < step/0.5: // a request arrives at an idle core
				c.start, c.isStatic = now, rng.Float64() < staticShare
				d := math.Exp(rng.NormFloat64()*1.5) * 2
				if c.isStatic {
					d = 0.1 + 2.9*rng.Float64()
				}
				c.end = now + min(d, 40)
			case c.start != 0 && !c.isStatic && now-c.start >= harakiri: // killed
				if !first {
					closedBusy += now - max(c.start, t0)
				}
				c.pid, c.spawn, c.start = nextPID, math.Floor(now), 0
				c.harakiri++
				nextPID++
				killed++
			case c.start != 0 && now >= c.end: // closed
				if !first {
					closedBusy += c.end - max(c.start, t0)
				}
				c.requests++
				if c.isStatic {
					c.static++
					staticCount++
				} else {
					c.running += c.end - c.start
				}
				c.start = 0
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
		r := busyReading{cores: make(map[coreID]coreReading)}
		for i, c := range cs {
			r.running += c.running
			cr := coreReading{pid: c.pid, spawn: c.spawn, harakiri: c.harakiri, requests: c.requests, static: c.static}
			if c.start != 0 {
				busyAtRead += now - max(c.start, t0)
				cr.start = math.Floor(c.start)
				cr.shown = max(0, now-cr.start-1)
				if first {
					slack++
				}
			}
			r.cores[coreID{i, 0}] = cr
			r.inFlight += cr.shown
		}
		v, _, _ := s.total(r)
		if v < last {
			t.Fatalf("the counter fell from %v to %v", last, v)
		}
		last, first = v, false
	}
	// The requests running at the last read are counted from their start less a second.
	slack += float64(cores) + 2*float64(killed) + 3*float64(staticCount)
	if last > busyAtRead+0.5 || last < busyAtRead-slack {
		t.Errorf("harakiri %v s, %.0f%% static: the counter grew by %.1f s over the hour, the cores were busy %.1f s (slack %.0f s: %d killed, %d static)",
			harakiri, 100*staticShare, last, busyAtRead, slack, killed, staticCount)
	}
	if harakiri < 60 && killed < 100 {
		t.Errorf("only %d requests killed: the storm is no storm", killed)
	}
	t.Logf("harakiri %v s, %.0f%% static: counter %.1f s, busy %.1f s, %d killed, %d static", harakiri, 100*staticShare, last, busyAtRead, killed, staticCount)
}

// Reads of one target take turns; a read that waits gives up with its context, and another
// target does not wait.
func TestBusyCounterTurns(t *testing.T) {
	var b busyCounters
	held, err := b.take(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := b.take(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second read of a while the first runs: %v, want it to wait until its deadline", err)
	}
	other, err := b.take(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	other.release()

	got := make(chan error)
	go func() {
		s, err := b.take(context.Background(), "a")
		if err == nil {
			s.release()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("took a's turn while it was held: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	held.release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// Past maxBusyTargets a new target gets no state (no busy seconds), and no target loses its
// own.
func TestBusyCounterBoundsItsTargets(t *testing.T) {
	var b busyCounters
	for i := range maxBusyTargets + 1 {
		s, err := b.take(context.Background(), fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		if (s == nil) != (i == maxBusyTargets) {
			t.Fatalf("target %d: state %v", i, s)
		}
		if s != nil {
			s.release()
		}
	}
	if s, _ := b.take(context.Background(), "0"); s == nil {
		t.Error("the first target lost its state")
	}
}
