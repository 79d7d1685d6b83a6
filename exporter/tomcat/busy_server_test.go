package tomcat

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/tomcattest"
)

// busyReads reads one Tomcat with one Source, as the exporter does, and checks at every read
// that the application connector's busy seconds never go down.
type busyReads struct {
	t           *testing.T
	srv         *tomcattest.Server
	src         Source
	target      string
	last        float64
	start, done time.Time // the last read's, by the monotonic clock
}

// read reads the application's pool; the status page was written between r.start and r.done.
func (r *busyReads) read() exporter.Pool {
	r.t.Helper()
	r.start = time.Now()
	pools, err := readWith(r.t, &r.src, r.target)
	r.done = time.Now()
	if err != nil {
		r.t.Fatal(err)
	}
	p, ok := find(pools, r.srv.Connector)
	if !ok {
		r.t.Fatalf("no pool %s in %+v", r.srv.Connector, pools)
	}
	if p.BusySecondsTotal != nil {
		if *p.BusySecondsTotal < r.last {
			r.t.Fatalf("busy seconds went down from %v to %v", r.last, *p.BusySecondsTotal)
		}
		r.last = *p.BusySecondsTotal
	}
	return p
}

// until reads until ok accepts the pool, for at most 10 s.
func (r *busyReads) until(what string, ok func(exporter.Pool) bool) exporter.Pool {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p := r.read(); ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("never saw %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func busySeconds(t *testing.T, p exporter.Pool) float64 {
	t.Helper()
	if p.BusySecondsTotal == nil {
		t.Fatalf("no busy seconds: %+v", p)
	}
	return *p.BusySecondsTotal
}

// One Tomcat with 4 threads. Three slow requests hold three threads: busy seconds grow by
// three seconds a second while they run (the requests in flight count, not only once they
// end), and once they end the counter holds their whole time and never went down. Then
// asynchronous requests, which wait on no thread and show as idle workers, but whose whole
// time Tomcat adds to processingTime as they complete: the connector's busy seconds are left
// out from then on, the status connector's kept.
func TestServerBusySeconds(t *testing.T) {
	const threads, slow = 4, 3
	srv := tomcattest.Start(t, threads)
	r := &busyReads{t: t, srv: srv,
		target: "http://" + tomcattest.User + ":" + tomcattest.Password + "@" + srv.StatusAddr + "/manager/status?XML=true"}
	// The async page compiles on its first request: not under the clock below.
	resp, err := http.Get("http://" + srv.Addr + "/async?seconds=0")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("async page: %s", resp.Status)
	}

	idle := r.until("an idle pool", func(p exporter.Pool) bool { return p.BusyWorkers == 0 })
	v0, done := busySeconds(t, idle), idle.TasksCompletedTotal["success"]
	occupied := time.Now()
	srv.Occupy(t, slow)
	r.until("3 requests in flight", func(p exporter.Pool) bool { return len(p.Running) == slow })
	p1 := r.read()
	start1, done1 := r.start, r.done
	time.Sleep(2 * time.Second)
	p2 := r.read()
	start2, done2 := r.start, r.done
	if len(p2.Running) != slow {
		t.Fatalf("%d requests in flight at the second read, want %d", len(p2.Running), slow)
	}
	// Both pages were written while the three requests ran: the counter grew by three times
	// the time between them, which the reads' clocks bound, plus Tomcat's millisecond
	// truncation. Without the requests in flight it would not have grown at all.
	growth := busySeconds(t, p2) - busySeconds(t, p1)
	lo, hi := slow*start2.Sub(done1).Seconds()-0.05, slow*done2.Sub(start1).Seconds()+0.05
	if growth < lo || growth > hi {
		t.Errorf("busy seconds grew %.3f between two reads %v apart with %d requests in flight, want %.3f..%.3f",
			growth, start2.Sub(start1), slow, lo, hi)
	}
	var shown float64
	for _, q := range p2.Running {
		shown += q.AgeSeconds
	}
	released := time.Now()
	srv.Release(t)
	p3 := r.until("the pool idle again", func(p exporter.Pool) bool {
		return len(p.Running) == 0 && p.TasksCompletedTotal["success"] == done+slow
	})
	// Each request ran at least its age at the second read plus the time from that read to
	// the release, and no request ran before Occupy or after the last read.
	total := busySeconds(t, p3) - v0
	lo, hi = shown+slow*released.Sub(done2).Seconds()-0.05, slow*r.done.Sub(occupied).Seconds()+0.05
	if total < lo || total > hi {
		t.Errorf("busy seconds of the three finished requests = %.3f, want %.3f..%.3f", total, lo, hi)
	}
	t.Logf("3 slow requests: %.3f busy seconds in 2 s of reads, %.3f in all", growth, total)

	// Async requests wait on a thread of the page's own: the page shows their workers in
	// stage R with no time, and no thread busy, then processingTime takes their whole time.
	for round := range 2 {
		before := r.read()
		srv.OccupyAsync(t, threads+2, 2)
		time.Sleep(time.Second)
		waiting := r.read()
		if round == 0 {
			writeCapture(t, srv, "async.xml")
		}
		if waiting.BusyWorkers != 0 || len(waiting.Running) != 0 {
			t.Errorf("async requests waiting: %v busy, %d in flight, want none", waiting.BusyWorkers, len(waiting.Running))
		}
		if round == 0 {
			// Still counted: the slow requests above showed no time on no thread.
			if b, w := busySeconds(t, before), busySeconds(t, waiting); w-b > 0.5 {
				t.Errorf("busy seconds moved from %v to %v while only async requests waited", b, w)
			}
		}
		n := before.TasksCompletedTotal["success"] + threads + 2
		r.until("the async requests complete", func(p exporter.Pool) bool { return p.TasksCompletedTotal["success"] == n })
		if round == 0 {
			writeCapture(t, srv, "async-done.xml")
		}
	}
	if p := r.read(); p.BusySecondsTotal != nil {
		t.Errorf("busy seconds of a connector whose requests wait on no thread: %v, want them left out", *p.BusySecondsTotal)
	}
	pools, err := readWith(t, &r.src, r.target)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := find(pools, srv.StatusConnector); !ok || p.BusySecondsTotal == nil {
		t.Errorf("status connector = %+v (found %v), want its busy seconds", p, ok)
	}
}
