package uwsgi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/uwsgitest"
	"github.com/poolwatch/poolwatch/internal/testproc"
)

// reader is the exporter's own reader, with no keep-alive left behind for goleak.
func reader() exporter.Reader {
	return exporter.NewReader(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}})
}

func read(t *testing.T, target string) (exporter.Pool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pools, err := (&Source{}).Read(ctx, reader(), target, slog.New(slog.DiscardHandler))
	if err != nil {
		return exporter.Pool{}, err
	}
	if len(pools) != 1 {
		t.Fatalf("%d pools, want 1", len(pools))
	}
	return pools[0], nil
}

// waitFor reads target until ok accepts the pool, for at most 10 s (the master measures the
// accept queue about once a second).
func waitFor(t *testing.T, target, what string, ok func(exporter.Pool) bool) exporter.Pool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := read(t, target)
		if err == nil && ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s; last read: %+v, err %v", what, p, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A real uWSGI of 2 workers × 2 threads with a backlog of 4: nine slow requests take the 4
// threads and fill the accept queue, which Linux lets hold backlog+1 = 5; the pool shows it
// exhausted with a full queue, and recovers once the requests are released.
func TestExhaustionAndRecovery(t *testing.T) {
	const threads, backlog = 4, 4
	srv := uwsgitest.Start(t, uwsgitest.Options{Workers: 2, Threads: 2, Listen: backlog})
	before, err := read(t, srv.StatsTarget)
	if err != nil {
		t.Fatal(err)
	}
	srv.Get(t)
	done := before.TasksCompletedTotal["success"] + 1
	waitFor(t, srv.StatsTarget, "the fast request completed", func(p exporter.Pool) bool {
		return p.TasksCompletedTotal["success"] == done && p.BusyWorkers == 0
	})

	srv.Occupy(t, threads+backlog+1)
	p := waitFor(t, srv.StatsTarget, "4 busy and 5 queued", func(p exporter.Pool) bool {
		return p.BusyWorkers == threads && p.QueuedTasks == backlog+1
	})
	if p.MaxWorkers != threads || p.Workers != threads || p.QueueNotMeasured || *p.MaxQueuedTasks != backlog+1 {
		t.Errorf("exhausted pool = %+v, want 4 of 4 workers and a queue of 5 measured", p)
	}
	if p.Name != srv.StatsTarget[len("tcp://"):] {
		t.Errorf("pool %q, want the stats address", p.Name)
	}
	time.Sleep(1100 * time.Millisecond)
	p2, err := read(t, srv.StatsTarget)
	if err != nil {
		t.Fatal(err)
	}
	if age := *p2.OldestRunningTaskAgeSeconds; age < 1 || age > 10 {
		t.Errorf("oldest running age %v s after > 1 s of slow requests", age)
	}

	srv.Release(t)
	waitFor(t, srv.StatsTarget, "the pool idle again", func(p exporter.Pool) bool {
		return p.BusyWorkers == 0 && p.QueuedTasks == 0 && *p.OldestRunningTaskAgeSeconds == 0 &&
			p.TasksCompletedTotal["success"] == done+threads+backlog+1
	})

	srv.Stop(t)
	if _, err := read(t, srv.StatsTarget); err == nil {
		t.Error("reading a stopped uWSGI succeeded")
	}
}

// The stats server on a unix socket and over HTTP (--stats-http) gives the same pool.
func TestStatsOverUnixSocketAndHTTP(t *testing.T) {
	for name, o := range map[string]uwsgitest.Options{
		"unix": {Workers: 1, Threads: 2, Listen: 8, StatsUnix: true},
		"http": {Workers: 1, Threads: 2, Listen: 8, StatsHTTP: true},
	} {
		t.Run(name, func(t *testing.T) {
			srv := uwsgitest.Start(t, o)
			srv.Occupy(t, 1)
			// The queue is measured from the master's first check, about a second after start.
			p := waitFor(t, srv.StatsTarget, "one busy thread", func(p exporter.Pool) bool {
				return p.BusyWorkers == 1 && !p.QueueNotMeasured
			})
			if p.MaxWorkers != 2 || *p.MaxQueuedTasks != 9 {
				t.Errorf("pool = %+v", p)
			}
			srv.Release(t)
		})
	}
}

// On an IPv6 socket uWSGI does not measure the accept queue (it reads TCP_INFO for AF_INET
// sockets only): requests that wait still read queue 0 in its stats, so the queue must be
// absent, not 0.
func TestIPv6SocketQueueNotMeasured(t *testing.T) {
	srv := uwsgitest.Start(t, uwsgitest.Options{Workers: 1, Threads: 1, Listen: 8, IPv6: true})
	srv.Occupy(t, 3) // 1 running, 2 waiting in the kernel
	time.Sleep(1500 * time.Millisecond)
	p := waitFor(t, srv.StatsTarget, "one busy thread", func(p exporter.Pool) bool { return p.BusyWorkers == 1 })
	if !p.QueueNotMeasured {
		t.Errorf("pool = %+v: a queue on an IPv6 socket, which uWSGI does not measure", p)
	}
	// What uWSGI itself says of that socket while two requests wait on it.
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.StatsTarget, "tcp://"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(conn)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var doc stats
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Sockets) != 1 {
		t.Fatalf("stats: %v, %d sockets", err, len(doc.Sockets))
	}
	if s := doc.Sockets[0]; !strings.HasPrefix(s.Name, "[") || *s.Queue != 0 {
		t.Errorf("socket %q queue %v: expected uWSGI to report 0 for an IPv6 socket", s.Name, *s.Queue)
	}
	srv.Release(t)
}

// In cheaper mode the stopped workers ("cheap") are capacity but not workers.
func TestCheaperWorkers(t *testing.T) {
	srv := uwsgitest.Start(t, uwsgitest.Options{Workers: 3, Threads: 2, Listen: 8, Cheaper: 1})
	p := waitFor(t, srv.StatsTarget, "cheaped workers", func(p exporter.Pool) bool { return p.Workers < p.MaxWorkers })
	if p.MaxWorkers != 6 || p.Workers != 2 {
		t.Errorf("pool = %+v, want 1 running worker of 3 (2 threads each)", p)
	}
}

// busySeconds reads target through src, which keeps the counter between reads.
func busySeconds(t *testing.T, src *Source, target string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pools, err := src.Read(ctx, reader(), target, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(pools) != 1 || pools[0].BusySecondsTotal == nil {
		t.Fatalf("pools %+v: want one, with busy seconds", pools)
	}
	return *pools[0].BusySecondsTotal
}

// Two requests held on a real uWSGI: the busy seconds show them while they run (each at
// most a second short), and their whole time once they are closed.
func TestBusySecondsOfRequests(t *testing.T) {
	srv := uwsgitest.Start(t, uwsgitest.Options{Workers: 1, Threads: 2, Listen: 8})
	src := &Source{}
	before := busySeconds(t, src, srv.StatsTarget)

	occupied := time.Now()
	srv.Occupy(t, 2)
	waitFor(t, srv.StatsTarget, "2 busy", func(p exporter.Pool) bool { return p.BusyWorkers == 2 })
	busySince := time.Now()
	time.Sleep(2500 * time.Millisecond)
	running := busySeconds(t, src, srv.StatsTarget) - before
	if low, high := 2*(time.Since(busySince).Seconds()-1)-0.1, 2*time.Since(occupied).Seconds(); running < low || running > high {
		t.Errorf("busy seconds of 2 requests running %v to %v s: %v, want %.2f to %.2f", time.Since(busySince), time.Since(occupied), running, low, high)
	}

	released := time.Now()
	srv.Release(t)
	waitFor(t, srv.StatsTarget, "the pool idle again", func(p exporter.Pool) bool { return p.BusyWorkers == 0 })
	idle := time.Now()
	closed := busySeconds(t, src, srv.StatsTarget) - before
	if low, high := 2*released.Sub(busySince).Seconds(), 2*idle.Sub(occupied).Seconds(); closed < low || closed > high || closed < running {
		t.Errorf("busy seconds once closed: %v (%v while running), want %.2f to %.2f", closed, running, low, high)
	}
}

// A request killed by harakiri never reaches running_time: its seconds, to the worker's
// restart, are kept and counted as kept, and are not netted against another worker's growth
// in the same interval (2 workers: one hung and killed, the other running a 2 s request).
func TestBusySecondsKeepAHungRequestHarakiriKilled(t *testing.T) {
	srv := uwsgitest.Start(t, uwsgitest.Options{Workers: 2, Threads: 1, Listen: 8, Harakiri: 4})
	src := &Source{}
	before := busySeconds(t, src, srv.StatsTarget)
	srv.Occupy(t, 1)
	p := waitFor(t, srv.StatsTarget, "1 busy", func(p exporter.Pool) bool { return p.BusyWorkers == 1 })
	completed := p.TasksCompletedTotal["success"]
	hungSince := time.Now()
	time.Sleep(1500 * time.Millisecond)
	if shown := busySeconds(t, src, srv.StatsTarget) - before; shown < 0 || shown > 1.6 {
		t.Fatalf("busy seconds %v after 1.5 s of a hung request", shown)
	}
	testproc.HoldRequests(t, srv.Addr, "/slow?seconds=2", 1, 0)
	waitFor(t, srv.StatsTarget, "2 busy", func(p exporter.Pool) bool { return p.BusyWorkers == 2 })
	p = waitFor(t, srv.StatsTarget, "the hung worker killed and the other request closed", func(p exporter.Pool) bool {
		return p.BusyWorkers == 0 && p.TasksCompletedTotal["success"] == completed+1
	})
	killedAfter := time.Since(hungSince).Seconds()
	pools, err := src.Read(t.Context(), reader(), srv.StatsTarget, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got := *pools[0].BusySecondsTotal - before
	// The 2 s request, and the hung one from its start to the kill (harakiri after 4 s, the
	// master checking once a second), counted in whole seconds: at least 4 - 2 s of it.
	if low, high := 2+2.0, 2+killedAfter+0.1; got < low || got > high {
		t.Errorf("busy seconds %v once harakiri killed the hung request, want %.1f to %.1f", got, low, high)
	}
	if kept := pools[0].BusySecondsKeptTotal; kept == nil || *kept < 2 {
		t.Errorf("kept seconds %v, want the killed request's", kept)
	}
}
