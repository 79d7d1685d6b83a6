package puma

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/pumatest"
)

// read reads target once through a source of its own.
func read(t *testing.T, target string) ([]exporter.Pool, error) {
	t.Helper()
	return readWith(t, &Source{}, target)
}

func readWith(t *testing.T, src *Source, target string) ([]exporter.Pool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	return src.Read(ctx, exporter.NewReader(client), target, slog.New(slog.DiscardHandler))
}

func controlAddr(t *testing.T, srv *pumatest.Server) string {
	u, err := url.Parse(srv.StatsURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// waitFor reads target until ok accepts the pools, for at most 10 s.
func waitFor(t *testing.T, target, what string, ok func([]exporter.Pool) bool) []exporter.Pool {
	t.Helper()
	return waitWith(t, &Source{}, target, what, ok)
}

// waitWith is waitFor through src, whose state carries from one read to the next.
func waitWith(t *testing.T, src *Source, target, what string, ok func([]exporter.Pool) bool) []exporter.Pool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pools, err := readWith(t, src, target)
		if err == nil && ok(pools) {
			return pools
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s; last read: %+v, err %v", what, pools, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A real Puma in single mode with 2 threads: five slow requests, accepted before they are
// sent, take both threads and leave 3 in Puma's backlog; the pool shows it exhausted with
// that queue, and recovers once the requests are released.
func TestSingleModeExhaustionAndRecovery(t *testing.T) {
	const threads, queued = 2, 3
	srv := pumatest.Start(t, 0, threads, threads)
	srv.Occupy(t, threads+queued, time.Second)
	pools := waitFor(t, srv.StatsURL, "2 busy and 3 queued", func(p []exporter.Pool) bool {
		return len(p) == 1 && p[0].BusyWorkers == threads && p[0].QueuedTasks == queued
	})
	p := pools[0]
	if p.MaxWorkers != threads || p.Workers != threads || p.MaxQueuedTasks != nil || p.Name != controlAddr(t, srv) {
		t.Errorf("exhausted pool = %+v", p)
	}
	srv.Release(t)
	waitFor(t, srv.StatsURL, "the pool idle again", func(p []exporter.Pool) bool {
		return len(p) == 1 && p[0].BusyWorkers == 0 && p[0].QueuedTasks == 0
	})
	srv.Stop(t)
	if _, err := read(t, srv.StatsURL); err == nil {
		t.Error("reading a stopped Puma succeeded")
	}
}

// A real Puma counts its requests as they start: five requests held, two running and three
// in its backlog, add none to the completed requests, counted from the source's first read,
// and add five once they have ended.
func TestCompletedRequests(t *testing.T) {
	const threads, queued = 2, 3
	srv := pumatest.Start(t, 0, threads, threads)
	// The readiness request's thread may still be busy at the source's first read, which then
	// adds that request once the thread is idle: count from the idle pool.
	src := &Source{}
	completed := func(p exporter.Pool) float64 { return p.TasksCompletedTotal["success"] }
	idle := waitWith(t, src, srv.StatsURL, "an idle pool", func(p []exporter.Pool) bool { return len(p) == 1 && p[0].BusyWorkers == 0 })[0]
	if len(idle.TasksCompletedTotal) != 1 || completed(idle) > 1 {
		t.Fatalf("idle pool after the readiness request: %+v, want 0 or 1 completed since the first read", idle)
	}
	srv.Occupy(t, threads+queued, time.Second)
	held := waitWith(t, src, srv.StatsURL, "2 busy and 3 queued", func(p []exporter.Pool) bool {
		return len(p) == 1 && p[0].BusyWorkers == threads && p[0].QueuedTasks == queued
	})[0]
	if completed(held) != completed(idle) {
		t.Errorf("completed %v while the requests run or wait, want the %v before them", completed(held), completed(idle))
	}
	srv.Release(t)
	done := waitWith(t, src, srv.StatsURL, "the pool idle again", func(p []exporter.Pool) bool {
		return len(p) == 1 && p[0].BusyWorkers == 0 && p[0].QueuedTasks == 0
	})[0]
	if want := completed(idle) + threads + queued; completed(done) != want {
		t.Errorf("completed %v once the requests ended, want %v", completed(done), want)
	}
}

// Reads of one target take turns (the completed requests move in Puma's order): a read that
// waits for another's gives up with its context, and a read of another target does not wait.
func TestReadsOfOneTargetTakeTurns(t *testing.T) {
	src := &Source{}
	r := &blockingReader{started: make(chan struct{}), release: make(chan struct{})}
	const target = "http://127.0.0.1:9293/stats?token=t"
	first := make(chan error, 1)
	go func() {
		_, err := src.Read(context.Background(), r, target, slog.New(slog.DiscardHandler))
		first <- err
	}()
	<-r.started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := src.Read(ctx, r, target, slog.New(slog.DiscardHandler)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second read while the first runs: %v, want it to wait until its deadline", err)
	}
	if _, err := src.Read(context.Background(), r, "http://127.0.0.1:9294/stats?token=t", slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("a read of another target: %v", err)
	}
	close(r.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

// blockingReader serves a single-mode document; the first Get of :9293 blocks until release
// (or its context ends), so that a read let in while it runs fails the test, not hangs it.
type blockingReader struct {
	exporter.Reader
	once             sync.Once
	started, release chan struct{}
}

func (r *blockingReader) Get(ctx context.Context, url string) ([]byte, error) {
	first := false
	if strings.Contains(url, ":9293/") {
		r.once.Do(func() { first = true })
	}
	if first {
		close(r.started)
		select {
		case <-r.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return []byte(`{"started_at":"2026-12-03T10:00:00Z","backlog":0,"running":2,"pool_capacity":2,"max_threads":2,"requests_count":1}`), nil
}

// A real Puma in cluster mode (-w 2) with 2 threads each: one pool per worker, each
// exhausted by enough slow requests, and idle again once they are released.
func TestClusterModeExhaustionAndRecovery(t *testing.T) {
	const workers, threads = 2, 2
	srv := pumatest.Start(t, workers, threads, threads)
	srv.OccupyOneByOne(t, workers*threads+2, 200*time.Millisecond)
	pools := waitFor(t, srv.StatsURL, "both workers exhausted", func(p []exporter.Pool) bool {
		return len(p) == workers && p[0].BusyWorkers == threads && p[1].BusyWorkers == threads
	})
	for i, p := range pools {
		if want := fmt.Sprintf("%s/worker-%d", controlAddr(t, srv), i); p.Name != want || p.MaxWorkers != threads {
			t.Errorf("pool %d = %+v, want name %q", i, p, want)
		}
	}
	srv.Release(t)
	waitFor(t, srv.StatsURL, "both workers idle again", func(p []exporter.Pool) bool {
		return len(p) == workers && p[0].BusyWorkers == 0 && p[1].BusyWorkers == 0 &&
			p[0].QueuedTasks == 0 && p[1].QueuedTasks == 0
	})
}

// With fewer threads spawned than allowed (-t 1:4), busy is still the threads that took a
// request: pool_capacity counts the threads Puma may still spawn as free, and max_threads -
// pool_capacity subtracts them.
func TestBusyWithThreadsStillToSpawn(t *testing.T) {
	srv := pumatest.Start(t, 0, 1, 4)
	// The readiness request's thread may not be back waiting yet: wait for it.
	idle := waitFor(t, srv.StatsURL, "an idle pool", func(p []exporter.Pool) bool { return len(p) == 1 && p[0].BusyWorkers == 0 })[0]
	// Puma spawns a second thread when a request arrives before its first thread is back
	// waiting (the readiness request can), and trims it only after 30 s: 1 or 2 spawned.
	if idle.MaxWorkers != 4 || idle.Workers < 1 || idle.Workers > 2 || idle.BusyWorkers != 0 {
		t.Errorf("idle pool = %+v, want 0 busy of 1 or 2 spawned, 4 allowed", idle)
	}
	srv.Occupy(t, 2, 0)
	// A thread spawned for a request counts as busy from its spawn, a moment before it takes
	// the request off the backlog: wait for the steady state.
	p := waitFor(t, srv.StatsURL, "2 busy, none queued", func(p []exporter.Pool) bool {
		return len(p) == 1 && p[0].BusyWorkers == 2 && p[0].QueuedTasks == 0
	})[0]
	if p.MaxWorkers != 4 || p.Workers < 2 {
		t.Errorf("pool = %+v, want 2 busy of >= 2 spawned, 4 allowed, none queued", p)
	}
	srv.Release(t)
}
