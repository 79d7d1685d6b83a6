package tomcat

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// reading is a connector of maxThreads threads that finished requests requests in processing
// seconds, with requests in flight of the given ages.
func reading(maxThreads, requests, processing float64, inFlight ...float64) busyReading {
	return busyReading{maxThreads: maxThreads, requests: requests, processing: processing, inFlight: inFlight}
}

// step is one read of connector "c", taken over [at, at+10 ms] seconds after t0.
type step struct {
	what string
	at   float64
	r    busyReading
	want float64 // NaN: left out
	e    busyEvent
}

var t0 = time.Unix(1_700_000_000, 0)

func run(t *testing.T, s *busyState, steps []step) {
	t.Helper()
	for i, st := range steps {
		at := t0.Add(time.Duration(st.at * float64(time.Second)))
		v, ok, e := s.total("c", st.r, at, at.Add(10*time.Millisecond))
		if !ok {
			v = math.NaN()
		}
		if math.IsNaN(st.want) != !ok || ok && math.Abs(v-st.want) > 1e-9 || e != st.e {
			t.Errorf("step %d, %s: %v (ok %v), event %v; want %v, event %v", i, st.what, v, ok, e, st.want, st.e)
		}
	}
}

// A request caught between the page's read of processingTime and its walk of the workers is
// in neither (a dip) or in both (Http11Processor counts it while still in stage F): the counter
// holds the most seen, and goes on from there once Tomcat's sum passes it.
func TestBusyHoldsDips(t *testing.T) {
	var s busyState
	run(t, &s, []step{
		{"first read: Tomcat's own sum", 0, reading(4, 10, 8, 2), 10, busyCounted},
		{"the request ended after processingTime was read: in neither", 1, reading(4, 10, 8), 10, busyCounted},
		{"its 3 s reach processingTime: more than the last read allows, not the one before", 2, reading(4, 11, 11), 11, busyCounted},
		{"a request in flight 1 s", 2.5, reading(4, 11, 11, 1), 12, busyCounted},
		{"it is counted in processingTime (2 s), still shown in stage F", 3.5, reading(4, 12, 13, 2), 15, busyCounted},
		{"it is gone: held", 4, reading(4, 12, 13), 15, busyCounted},
		{"a request in flight 1 s: still under the most seen", 5, reading(4, 12, 13, 1), 15, busyCounted},
		{"4 s in flight: past it", 8, reading(4, 12, 13, 4), 17, busyCounted},
	})
	if n := s.connectors["c"].noThread; n != 0 {
		t.Errorf("%d reads taken for time on no thread", n)
	}
}

// processingTime falling to under half the most seen is a restart (or a JMX resetCounters):
// the counter starts again from Tomcat's new sum, no more than the threads can have spent
// since the last read. A smaller fall is held.
func TestBusyRestart(t *testing.T) {
	var s busyState
	run(t, &s, []step{
		{"first read", 0, reading(4, 100, 500), 500, busyCounted},
		{"a fall to 60% is held, not a restart", 10, reading(4, 100, 300), 500, busyCounted},
		{"a fall to 0.2 s, a request in flight 1 s: restarted", 20, reading(4, 1, 0.2, 1), 1.2, busyRestarted},
		{"and counted on from there", 30, reading(4, 5, 10, 1), 10 + 1, busyCounted},
		{"reset again, showing more than 4 threads can have spent in 5 s", 35, reading(4, 1, 0, 30), 4 * (5 + 0.01 + clockSlack), busyRestarted},
	})
}

// No read adds more than the time between the documents on every thread: a wild value claims
// no more busy threads than exist. What is cut stays cut. (A target that reaches two Tomcats
// by turns shows their sums by turns: a fall to under half is a restart, which the cap bounds
// too.)
func TestBusyCap(t *testing.T) {
	var s busyState
	limit := 2 * (1 + 0.01 + clockSlack) // 2 threads, reads 1 s apart
	run(t, &s, []step{
		{"first read", 0, reading(2, 10, 100), 100, busyCounted},
		{"a wild value, 1000 s more 1 s later", 1, reading(2, 10, 1100), 100 + limit, busyCounted},
		{"then 1 s of a request: its growth only", 2, reading(2, 11, 1101), 100 + limit + 1, busyCounted},
	})
}

// Async requests (captured by TestServerBusySeconds: six requests of 2 s on a connector of
// 4 threads) wait as workers in stage R with no time and no thread busy, then processingTime
// takes their whole time: more than four threads can have spent, by six requests none of which
// was in flight. Two such reads leave the connector's busy seconds out, for good.
func TestBusyLeavesOutAsync(t *testing.T) {
	waiting, wb, _, err := parse(load(t, "async.xml"), 0)
	if err != nil {
		t.Fatal(err)
	}
	done, db, _, err := parse(load(t, "async-done.xml"), 0)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for i < len(waiting) && waiting[i].MaxWorkers != 4 {
		i++
	}
	if i == len(waiting) || waiting[i].Name != done[i].Name || wb[i].requests+6 != db[i].requests ||
		len(wb[i].inFlight) != 0 || len(db[i].inFlight) != 0 || waiting[i].BusyWorkers != 0 {
		t.Fatalf("captures are not one connector before and after six async requests: %+v, %+v", waiting, done)
	}
	w, d := wb[i], db[i]
	grown := d.total() - w.total()
	if grown < 6*2 {
		t.Fatalf("six async requests of 2 s added %v s to processingTime", grown)
	}
	// The same again, as the test's second round did.
	again := d
	again.requests, again.processing = d.requests+6, d.processing+grown
	// As the test read: before the requests, 1 s into their wait, as they completed.
	capped := 4 * (1.1 + 0.01 + clockSlack) // what 4 threads can spend in the last 1.1 s
	var s busyState
	run(t, &s, []step{
		{"before", 0, w, w.total(), busyCounted},
		{"async requests waiting", 1, w, w.total(), busyCounted},
		{"their time counted: once may be chance", 2.1, d, w.total() + capped, busyCounted},
	})
	if n := s.connectors["c"].noThread; n != 1 {
		t.Fatalf("%d reads taken for time on no thread, want the one that counted the async requests", n)
	}
	run(t, &s, []step{
		{"before the second round", 3, d, w.total() + capped, busyCounted},
		{"waiting", 4, d, w.total() + capped, busyCounted},
		{"a second time: left out", 5.1, again, math.NaN(), busyLeftOut},
		{"for good", 60, again, math.NaN(), busyCounted},
	})

	// Without the requests that ended, no bound: counted, capped.
	var u busyState
	w.requests, d.requests, again.requests = -1, -1, -1
	run(t, &u, []step{
		{"first", 0, w, w.total(), busyCounted},
		{"no requestCount", 1.1, d, w.total() + capped, busyCounted},
		{"no requestCount", 2.2, again, w.total() + 2*capped, busyCounted},
	})
}

// Requests that each held a thread never look like time on no thread: a busy connector of
// 200 threads, its requests ending and starting between reads, long ones shown in flight
// before they end, reads 15 s apart.
func TestBusyThreadBoundNotLeftOut(t *testing.T) {
	var s busyState
	processing, requests, at := 1000.0, 100.0, 0.0
	inFlight := []float64{}
	run(t, &s, []step{{"first", at, reading(200, requests, processing), processing, busyCounted}})
	want := processing
	for i := range 40 {
		// 150 long requests, running since 5 s before the last read, end 5 s after it
		// (10 s each, 5 s of it shown); 150 new ones start, 10 s before this read; and 300
		// short ones of 15 ms came and went.
		at += 15
		ended := 0.0
		if len(inFlight) > 0 {
			ended = float64(len(inFlight)) * (inFlight[0] + 5)
		}
		processing += ended + 300*0.015
		requests += float64(len(inFlight)) + 300
		prev := sum(inFlight)
		inFlight = make([]float64, 150)
		for j := range inFlight {
			inFlight[j] = 10
		}
		want += ended + 300*0.015 + sum(inFlight) - prev
		run(t, &s, []step{{fmt.Sprintf("read %d", i+1), at, reading(200, requests, processing, inFlight...), want, busyCounted}})
	}
	if c := s.connectors["c"]; c.noThread != 0 {
		t.Errorf("%d reads taken for time on no thread", c.noThread)
	}
}

func sum(v []float64) (s float64) {
	for _, x := range v {
		s += x
	}
	return s
}

// A target's states are bounded: past maxConnectorStates connectors, a new one has no busy
// seconds (Tomcat's sum unheld would be no counter), and a read drops the connectors it did
// not return, making room.
func TestBusyStatesBounded(t *testing.T) {
	var s busyState
	returned := map[string]bool{}
	for i := range maxConnectorStates {
		name := fmt.Sprint("c", i)
		s.total(name, reading(4, 1, 10), t0, t0)
		returned[name] = true
	}
	if _, ok, e := s.total("new", reading(4, 1, 7), t0, t0); ok || e != busyNoRoom || len(s.connectors) != maxConnectorStates {
		t.Errorf("a connector past the bound: ok %v, event %v, %d states", ok, e, len(s.connectors))
	}
	s.forget(returned)
	if len(s.connectors) != maxConnectorStates {
		t.Errorf("forget dropped connectors the read returned: %d left", len(s.connectors))
	}
	s.forget(map[string]bool{"c0": true})
	if len(s.connectors) != 1 || s.connectors["c0"] == nil {
		t.Errorf("after a read of c0 alone, %d states", len(s.connectors))
	}
	if v, ok, _ := s.total("new", reading(4, 1, 7), t0, t0); !ok || v != 7 {
		t.Errorf("a new connector once there is room: %v %v, want Tomcat's sum", v, ok)
	}
}
