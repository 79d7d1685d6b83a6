package uwsgi

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
)

func load(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// mutate decodes the saturated capture, lets edit change it and encodes it again.
func mutate(t *testing.T, edit func(doc map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(load(t, "saturated.json"), &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func workers(doc map[string]any) []any { return doc["workers"].([]any) }

func socket0(doc map[string]any) map[string]any {
	return doc["sockets"].([]any)[0].(map[string]any)
}

// earliestStart is the earliest request_start of a busy core in the saturated capture.
func earliestStart(t *testing.T) float64 {
	var doc struct {
		Workers []worker `json:"workers"`
	}
	if err := json.Unmarshal(load(t, "saturated.json"), &doc); err != nil {
		t.Fatal(err)
	}
	earliest := 0.0
	for _, w := range doc.Workers {
		for _, c := range *w.Cores {
			if s := c.ReqInfo.RequestStart; s != nil && (earliest == 0 || *s < earliest) {
				earliest = *s
			}
		}
	}
	if earliest == 0 {
		t.Fatal("the saturated capture has no running request")
	}
	return earliest
}

func TestParseCaptures(t *testing.T) {
	start := earliestStart(t)
	now := time.Unix(int64(start)+3, 500e6)
	sat, err := Parse(load(t, "saturated.json"), "127.0.0.1:1717", now)
	if err != nil {
		t.Fatal(err)
	}
	// 2 workers × 2 threads, all in a request; 5 connections in a backlog of 4 (+1).
	if sat.MaxWorkers != 4 || sat.Workers != 4 || sat.BusyWorkers != 4 ||
		sat.QueueNotMeasured || sat.QueuedTasks != 5 || *sat.MaxQueuedTasks != 5 {
		t.Errorf("saturated = %+v", sat)
	}
	if got := *sat.OldestRunningTaskAgeSeconds; got != 3.5 {
		t.Errorf("oldest running age = %v, want 3.5", got)
	}
	// running_time 203 µs, and 4 requests in flight since 3.5 s, each counted 1 s short.
	if got := *sat.BusySecondsTotal; math.Abs(got-(203e-6+4*2.5)) > 1e-9 {
		t.Errorf("busy seconds = %v, want 10.000203", got)
	}
	// What the next read compares each core with: its worker's process, its closed requests
	// and the request it runs.
	_, busy, err := parse(load(t, "saturated.json"), "127.0.0.1:1717", now)
	if err != nil {
		t.Fatal(err)
	}
	if w := busy.workers[0]; len(busy.workers) != 2 || w.pid != 9642 || w.spawn != 1795975204 || w.running != 203e-6 ||
		len(w.cores) != 2 || w.cores[1] != (coreReading{requests: 1, start: start, shown: 2.5}) {
		t.Errorf("workers = %+v", busy.workers)
	}
	if sat.SaturatedSecondsTotal != nil || sat.TasksSubmittedTotal != nil || sat.TasksRejectedTotal != nil {
		t.Errorf("series uWSGI does not measure are present: %+v", sat)
	}

	idle, err := Parse(load(t, "idle.json"), "127.0.0.1:1717", now)
	if err != nil {
		t.Fatal(err)
	}
	if idle.BusyWorkers != 0 || idle.QueuedTasks != 0 || *idle.OldestRunningTaskAgeSeconds != 0 ||
		idle.TasksCompletedTotal["success"] < 2 || idle.MaxWorkers != 4 || *idle.BusySecondsTotal != 531e-6 {
		t.Errorf("idle = %+v", idle)
	}
}

func TestParseRules(t *testing.T) {
	start := earliestStart(t)
	now := time.Unix(int64(start)+2, 0)
	for name, tc := range map[string]struct {
		edit  func(map[string]any)
		check func(t *testing.T, p exporter.Pool)
	}{
		"cheaped worker is capacity, not workers": {
			func(d map[string]any) { workers(d)[1].(map[string]any)["status"] = "cheap" },
			func(t *testing.T, p exporter.Pool) {
				if p.MaxWorkers != 4 || p.Workers != 2 || p.BusyWorkers != 2 {
					t.Errorf("%+v", p)
				}
			},
		},
		"unix socket: queue not measured": {
			func(d map[string]any) { socket0(d)["name"] = "/run/app.sock" },
			func(t *testing.T, p exporter.Pool) {
				if !p.QueueNotMeasured {
					t.Errorf("%+v", p)
				}
			},
		},
		"ipv6 socket: queue not measured": {
			func(d map[string]any) { socket0(d)["name"] = "[::1]:8000" },
			func(t *testing.T, p exporter.Pool) {
				if !p.QueueNotMeasured {
					t.Errorf("%+v", p)
				}
			},
		},
		"not Linux: queue not measured": {
			func(d map[string]any) { delete(d, "listen_queue") },
			func(t *testing.T, p exporter.Pool) {
				if !p.QueueNotMeasured {
					t.Errorf("%+v", p)
				}
			},
		},
		"before the master's first check: queue not measured": {
			func(d map[string]any) { socket0(d)["queue"], socket0(d)["max_queue"] = 0, 0 },
			func(t *testing.T, p exporter.Pool) {
				if !p.QueueNotMeasured {
					t.Errorf("%+v", p)
				}
			},
		},
		"two sockets: queues add up": {
			func(d map[string]any) {
				d["sockets"] = append(d["sockets"].([]any), map[string]any{"name": ":9000", "queue": 2, "max_queue": 10})
			},
			func(t *testing.T, p exporter.Pool) {
				if p.QueuedTasks != 7 || *p.MaxQueuedTasks != 16 {
					t.Errorf("%+v", p)
				}
			},
		},
		"a worker without running_time: no busy seconds": {
			func(d map[string]any) { delete(workers(d)[1].(map[string]any), "running_time") },
			func(t *testing.T, p exporter.Pool) {
				if p.BusySecondsTotal != nil {
					t.Errorf("busy seconds %v from part of the workers", *p.BusySecondsTotal)
				}
			},
		},
		"a request in its first second adds nothing yet": {
			func(d map[string]any) {
				for _, w := range workers(d) {
					w.(map[string]any)["running_time"] = 1_500_000
					for _, c := range w.(map[string]any)["cores"].([]any) {
						c.(map[string]any)["req_info"] = map[string]any{"request_start": start + 1}
					}
				}
			},
			func(t *testing.T, p exporter.Pool) {
				if *p.BusySecondsTotal != 3 {
					t.Errorf("busy seconds = %v, want the 2 × 1.5 s closed", *p.BusySecondsTotal)
				}
			},
		},
		"a request older than its worker's process (harakiri killed it, the new process has not reset its cores): not busy": {
			func(d map[string]any) { workers(d)[0].(map[string]any)["last_spawn"] = start + 1 },
			func(t *testing.T, p exporter.Pool) {
				if p.BusyWorkers != 2 || *p.BusySecondsTotal != 203e-6+2*(2-1) {
					t.Errorf("%d busy, busy seconds %v: want worker 2's requests only", int(p.BusyWorkers), *p.BusySecondsTotal)
				}
			},
		},
		"a worker stopped and not started again (pid 0, a reload): not busy": {
			func(d map[string]any) { workers(d)[0].(map[string]any)["pid"] = 0 },
			func(t *testing.T, p exporter.Pool) {
				if p.BusyWorkers != 2 || p.Workers != 2 || p.MaxWorkers != 4 {
					t.Errorf("%+v", p)
				}
			},
		},
		"clock behind uWSGI's: age 0": {
			func(d map[string]any) {
				for _, w := range workers(d) {
					for _, c := range w.(map[string]any)["cores"].([]any) {
						c.(map[string]any)["req_info"] = map[string]any{"request_start": start + 3600}
					}
				}
			},
			func(t *testing.T, p exporter.Pool) {
				if *p.OldestRunningTaskAgeSeconds != 0 {
					t.Errorf("%+v", p)
				}
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := Parse(mutate(t, tc.edit), "x", now)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
		})
	}
}

func TestParseErrors(t *testing.T) {
	sat := load(t, "saturated.json")
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"malformed":  {sat[:len(sat)/2], "malformed"},
		"not stats":  {[]byte(`{"status": "ok"}`), "is this uWSGI"},
		"no workers": {[]byte(`{"workers": []}`), "no worker cores"},
		"no cores": {mutate(t, func(d map[string]any) {
			for _, w := range workers(d) {
				delete(w.(map[string]any), "cores")
			}
		}), "--stats-no-cores"},
		"in_request 2": {mutate(t, func(d map[string]any) {
			workers(d)[0].(map[string]any)["cores"].([]any)[0].(map[string]any)["in_request"] = 2
		}), "in_request"},
		"negative requests": {mutate(t, func(d map[string]any) { workers(d)[0].(map[string]any)["requests"] = -1 }), "want a count"},
		"last_spawn not a count": {mutate(t, func(d map[string]any) { workers(d)[0].(map[string]any)["last_spawn"] = -1 }),
			"last_spawn -1"},
		"fractional running_time": {mutate(t, func(d map[string]any) { workers(d)[0].(map[string]any)["running_time"] = 0.5 }),
			"running_time is 0.5"},
		"fractional queue": {mutate(t, func(d map[string]any) { socket0(d)["queue"] = 1.5 }), "want counts"},
		"queue beyond capacity": {mutate(t, func(d map[string]any) { socket0(d)["queue"] = 9 }),
			"queue capacity"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.data, "x", time.Now())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Parse([]byte(`{"version":"2.0"}`), "x", time.Now()); !errors.Is(err, ErrNotStats) {
		t.Errorf("err = %v, want ErrNotStats", err)
	}
}

func TestCheckTarget(t *testing.T) {
	for target, want := range map[string]string{
		"tcp://127.0.0.1:1717":         "127.0.0.1:1717",
		"tcp://[::1]:1717":             "[::1]:1717",
		"unix:///run/uwsgi/stats.sock": "/run/uwsgi/stats.sock",
		"http://127.0.0.1:1717/":       "127.0.0.1:1717",
		"https://10.0.0.1:1717/stats":  "10.0.0.1:1717",
		"tcp://127.0.0.1":              "",
		"tcp://127.0.0.1:1717/path":    "",
		"tcp://127.0.0.1:1717/?x=1":    "",
		"unix://host/run/stats.sock":   "",
		"unix://":                      "",
		"ftp://127.0.0.1:1717":         "",
		"127.0.0.1:1717":               "",
		"http:///no-host":              "",
		"tcp://user:pw@127.0.0.1:1717": "",
		// A target pattern sees the target as written: the socket dialed must be that path,
		// not one percent-decoding or ".." makes of it (/run/uwsgi/[^/]+\.sock would allow
		// both of these).
		"unix:///run/uwsgi/..%2F..%2Fvar%2Frun%2Fdocker.sock": "",
		"unix:///run/uwsgi/../../var/run/docker.sock":         "",
		"unix:///run/uwsgi/%73tats.sock":                      "",
		"unix:///run/uwsgi//stats.sock":                       "",
	} {
		_, pool, err := parseTarget(target)
		if (err == nil) != (want != "") || pool != want {
			t.Errorf("parseTarget(%q) = %q, %v; want pool %q", target, pool, err, want)
		}
		if ((&Source{}).CheckTarget(target) == nil) != (want != "") {
			t.Errorf("CheckTarget(%q) disagrees with parseTarget", target)
		}
	}
}
