package puma

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
)

// single is a single-mode document of a server started at start, with requests counted and
// busy threads of 4.
func single(start string, requests, busy int) string {
	return fmt.Sprintf(`{"started_at":%q,"backlog":0,"running":4,"pool_capacity":%d,"max_threads":4,"requests_count":%d}`, start, 4-busy, requests)
}

// cluster is a cluster-mode document of one worker (index 0) of pid, started at start.
func cluster(pid int, start string, requests, busy int) string {
	return fmt.Sprintf(`{"workers":1,"worker_status":[{"started_at":%q,"pid":%d,"index":0,"last_status":{"backlog":0,"running":4,"pool_capacity":%d,"max_threads":4,"requests_count":%d}}]}`,
		start, pid, 4-busy, requests)
}

// The completed requests of a sequence of documents of one target: from 0 at the first read,
// never falling whatever the busy threads do, adding each process's own progress only.
func TestCompletedCountsAcrossReads(t *testing.T) {
	// Started at t0 and t1, t9 long before; read every 30 minutes from 10:30.
	const t9, t0, t1 = "2026-12-03T09:00:00Z", "2026-12-03T10:00:00Z", "2026-12-03T11:00:00Z"
	firstRead := time.Date(2026, 12, 3, 10, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		docs []string
		want []float64
	}{
		// The first read is a baseline: the exporter started (again) while Puma ran, and a
		// restart of the exporter is then a reset to 0.
		{"requests finish", []string{single(t0, 10, 2), single(t0, 12, 1), single(t0, 20, 0)}, []float64{0, 3, 12}},
		// A thread counted busy before its request is counted (or waiting for a keep-alive
		// client's next request) lowers the bound; no request ended unfinished.
		{"a thread busy without a counted request", []string{single(t0, 10, 0), single(t0, 10, 3), single(t0, 11, 1), single(t0, 14, 0)}, []float64{0, 0, 0, 4}},
		// A new process is a baseline too: its requests before its first read are not counted.
		{"a server restarted", []string{single(t0, 100, 0), single(t1, 3, 1), single(t1, 5, 0)}, []float64{0, 0, 3}},
		// A restart within the second of the last start: requests_count fell.
		{"a restart in the same second", []string{single(t0, 100, 0), single(t0, 200, 0), single(t0, 150, 0), single(t0, 160, 0)}, []float64{0, 100, 100, 110}},
		{"a worker restarted", []string{cluster(7, t0, 50, 0), cluster(7, t0, 50, 4), cluster(8, t1, 4, 4), cluster(8, t1, 4, 0)}, []float64{0, 0, 0, 4}},
		// fork_worker (Puma up to 7.1): a worker forked from worker 0 starts at its count.
		{"a worker forked from worker 0", []string{cluster(7, t0, 990, 0), cluster(7, t0, 1000, 0), cluster(9, t1, 2013, 0), cluster(9, t1, 2016, 0)}, []float64{0, 10, 10, 13}},
		// A target that reaches two instances by turns: each adds its own progress.
		{"two instances by turns", []string{single(t0, 1000, 0), single(t9, 5000, 0), single(t0, 1010, 0), single(t9, 5020, 1)}, []float64{0, 0, 10, 29}},
		// Two that share a key (started in the same second): one jump when the second is
		// first seen above the first, then each its own progress.
		{"two instances sharing a key", []string{single(t0, 1000, 0), single(t0, 5000, 0), single(t0, 1010, 0), single(t0, 5020, 0), single(t0, 1020, 0)}, []float64{0, 4000, 4000, 4020, 4030}},
		// The bound of one document may fall under 0 at a server's first request.
		{"busy above requests_count", []string{single(t0, 0, 1), single(t0, 1, 0)}, []float64{0, 1}},
		// Past maxProcesses the least recently read process is forgotten: seen again, it
		// is a baseline.
		{"processes forgotten", []string{single(t0, 100, 0), single(t1, 1, 0), single(t9, 1, 0), single("2026-12-03T08:00:00Z", 1, 0), single("2026-12-03T07:00:00Z", 1, 0), single(t0, 150, 0)}, []float64{0, 0, 0, 0, 0, 0}},
		// The least recently read, not the first recorded: a process read again is kept.
		{"the process read last kept", []string{single(t0, 100, 0), single(t1, 1, 0), single(t9, 1, 0), single("2026-12-03T08:00:00Z", 1, 0), single(t0, 110, 0), single("2026-12-03T07:00:00Z", 1, 0), single(t0, 120, 0)}, []float64{0, 0, 0, 0, 10, 10, 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c completedCounts
			for i, doc := range tc.docs {
				readings, skipped, err := parse([]byte(doc), "a:1")
				if err != nil || len(skipped) > 0 || len(readings) != 1 {
					t.Fatalf("document %d: %v %v %v", i, readings, skipped, err)
				}
				c.update(readings, firstRead.Add(time.Duration(i)*30*time.Minute))
				if got := readings[0].TasksCompletedTotal["success"]; got != tc.want[i] {
					t.Errorf("document %d: completed %v, want %v", i, got, tc.want[i])
				}
			}
		})
	}
}

// A Puma older than 5.0 reports no requests_count: no completed series, and no state.
func TestCompletedCountsWithoutRequestsCount(t *testing.T) {
	var c completedCounts
	readings, _, err := parse([]byte(`{"backlog":0,"running":4,"pool_capacity":4,"max_threads":4}`), "a:1")
	if err != nil {
		t.Fatal(err)
	}
	c.update(readings, time.Now())
	if readings[0].TasksCompletedTotal != nil || len(c) != 0 {
		t.Errorf("completed %v, state %v; want neither", readings[0].TasksCompletedTotal, c)
	}
}

// A worker missing from a read (booting, or skipped for a bad status) keeps its count for
// when it comes back; the state of workers gone for good is bounded.
func TestCompletedCountsOfAbsentWorkers(t *testing.T) {
	const t0 = "2026-12-03T10:00:00Z"
	var c completedCounts
	read := func(doc string) []reading {
		t.Helper()
		readings, _, err := parse([]byte(doc), "a:1")
		if err != nil {
			t.Fatal(err)
		}
		c.update(readings, time.Now())
		return readings
	}
	read(cluster(7, t0, 50, 0))
	read(`{"workers":1,"worker_status":[{"started_at":"` + t0 + `","pid":7,"index":1,"last_status":{"backlog":0,"running":4,"pool_capacity":4,"max_threads":4,"requests_count":0}}]}`)
	if got := read(cluster(7, t0, 55, 0))[0].TasksCompletedTotal["success"]; got != 5 {
		t.Errorf("worker 0 back with 5 more requests: completed %v, want the 5 since its last read", got)
	}
	for i := range maxAbsentPools + 1 {
		c[fmt.Sprint("gone-", i)] = &poolCount{}
	}
	read(cluster(7, t0, 51, 0))
	if len(c) != 1 {
		t.Errorf("%d pools kept past %d absent, want the one read", len(c), maxAbsentPools)
	}
}

// docReader serves one document for every target.
type docReader struct {
	exporter.Reader
	doc string
}

func (r docReader) Get(context.Context, string) ([]byte, error) { return []byte(r.doc), nil }

// Past exporter.MaxTargetStates a target is read without completed requests, with a warning
// that says so; a Puma older than 5.0, which has none to lose, reads without one.
func TestCompletedPastTheTargetBound(t *testing.T) {
	src := &Source{}
	discard := slog.New(slog.DiscardHandler)
	for i := range exporter.MaxTargetStates {
		target := fmt.Sprintf("http://127.0.0.1:9293/stats?token=%d", i)
		if _, err := src.Read(context.Background(), docReader{doc: single("2026-12-03T10:00:00Z", 1, 0)}, target, discard); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, doc string
		warned    bool
	}{
		{"Puma 5.0 and later", single("2026-12-03T10:00:00Z", 1, 0), true},
		{"older than 5.0", `{"backlog":0,"running":4,"pool_capacity":4,"max_threads":4}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			pools, err := src.Read(context.Background(), docReader{doc: tc.doc}, "http://127.0.0.1:9293/stats?token=past", slog.New(slog.NewTextHandler(&log, nil)))
			if err != nil || len(pools) != 1 {
				t.Fatalf("pools %v, err %v", pools, err)
			}
			if pools[0].TasksCompletedTotal != nil {
				t.Errorf("completed %v past the bound, want none", pools[0].TasksCompletedTotal)
			}
			if warned := strings.Contains(log.String(), "no completed requests"); warned != tc.warned {
				t.Errorf("warned %v, want %v; log: %s", warned, tc.warned, log.String())
			}
		})
	}
}
