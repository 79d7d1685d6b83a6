package puma

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Puma 5 reads running, waiting and spawned one after the other, not under one lock, so a
// stats read taken while a thread spawns can say running 1 while pool_capacity already
// counts 2 threads busy. The read is kept: the busy threads exist, so workers is raised to
// them and the pool stays up.
func TestParseSpawnRace(t *testing.T) {
	single := strings.Replace(string(load(t, "single-saturated.json")), `"running":2`, `"running":1`, 1)
	pools, skipped, err := Parse([]byte(single), "a:1")
	if err != nil || len(skipped) > 0 {
		t.Fatal(err, skipped)
	}
	if p := pools[0]; p.BusyWorkers != 2 || p.Workers != 2 || p.MaxWorkers != 2 {
		t.Errorf("pool = %+v, want 2 busy of 2 spawned, 2 allowed", p)
	}
}

func TestParseCaptures(t *testing.T) {
	// completed is requests_count less the busy threads (each holds a request it counted).
	for name, want := range map[string][]struct {
		name                                  string
		max, workers, busy, queued, completed float64
	}{
		"single-idle.json":       {{"127.0.0.1:9293", 2, 2, 0, 0, 1}},
		"single-saturated.json":  {{"127.0.0.1:9293", 2, 2, 2, 3, 1}},
		"cluster-saturated.json": {{"127.0.0.1:9293/worker-0", 2, 2, 2, 0, 1}, {"127.0.0.1:9293/worker-1", 2, 2, 2, 0, 0}},
	} {
		t.Run(name, func(t *testing.T) {
			pools, skipped, err := Parse(load(t, name), "127.0.0.1:9293")
			if err != nil || len(skipped) > 0 {
				t.Fatal(err, skipped)
			}
			if len(pools) != len(want) {
				t.Fatalf("%d pools, want %d", len(pools), len(want))
			}
			for i, w := range want {
				p := pools[i]
				if p.Name != w.name || p.MaxWorkers != w.max || p.Workers != w.workers || p.BusyWorkers != w.busy || p.QueuedTasks != w.queued ||
					len(p.TasksCompletedTotal) != 1 || p.TasksCompletedTotal["success"] != w.completed {
					t.Errorf("pool %d = %+v, want %+v", i, p, w)
				}
				if p.MaxQueuedTasks != nil || p.OldestRunningTaskAgeSeconds != nil || p.QueueNotMeasured {
					t.Errorf("pool %d has series Puma does not measure: %+v", i, p)
				}
			}
		})
	}
}

func TestParseCluster(t *testing.T) {
	cluster := string(load(t, "cluster-saturated.json"))
	// A worker still booting has an empty status: it is no pool yet, and no error.
	booting := strings.Replace(cluster, `"last_status":{"backlog":0,"running":2,"pool_capacity":0,"max_threads":2,"requests_count":2}`, `"last_status":{}`, 1)
	if booting == cluster {
		t.Fatal("capture changed: edit the test")
	}
	pools, skipped, err := Parse([]byte(booting), "a:1")
	if err != nil || len(skipped) > 0 || len(pools) != 1 || pools[0].Name != "a:1/worker-0" {
		t.Errorf("booting worker: pools %+v, skipped %v, err %v", pools, skipped, err)
	}
	// A worker reporting more free threads than it has is left out, with the reason.
	bad := strings.Replace(cluster, `"pool_capacity":0,"max_threads":2,"requests_count":3`, `"pool_capacity":3,"max_threads":2,"requests_count":3`, 1)
	pools, skipped, err = Parse([]byte(bad), "a:1")
	if err != nil || len(pools) != 1 || len(skipped) != 1 || !strings.Contains(skipped[0].Error(), "above max_threads") {
		t.Errorf("bad worker: pools %+v, skipped %v, err %v", pools, skipped, err)
	}
	// Every worker bad: the read fails.
	bad = strings.ReplaceAll(cluster, `"running":2`, `"running":-1`)
	if _, _, err := Parse([]byte(bad), "a:1"); err == nil || !strings.Contains(err.Error(), "no valid Puma worker") {
		t.Errorf("all workers bad: err %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	single := string(load(t, "single-saturated.json"))
	for name, tc := range map[string]struct {
		data, want string
	}{
		"malformed":          {single[:len(single)/2], "malformed"},
		"not stats":          {`{"status": "ok"}`, "is this Puma"},
		"missing backlog":    {strings.Replace(single, `"backlog":3,`, "", 1), `"backlog" is missing`},
		"fractional running": {strings.Replace(single, `"running":2`, `"running":1.5`, 1), "want a count"},
		"capacity above max": {strings.Replace(single, `"pool_capacity":0`, `"pool_capacity":5`, 1), "above max_threads"},
		"negative requests":  {strings.Replace(single, `"requests_count":3`, `"requests_count":-3`, 1), `"requests_count" is -3`},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Parse([]byte(tc.data), "a:1")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, _, err := Parse([]byte(`{}`), "a:1"); !errors.Is(err, ErrNotStats) {
		t.Errorf("err = %v, want ErrNotStats", err)
	}
}

func TestCheckTarget(t *testing.T) {
	for target, ok := range map[string]bool{
		"http://127.0.0.1:9293/stats?token=abc": true,
		"https://puma.internal:9293/stats":      true,
		"http://127.0.0.1:9293/stop?token=abc":  false,
		"http://127.0.0.1:9293/halt":            false,
		"http://127.0.0.1:9293/?token=abc":      false,
		"http://127.0.0.1:9293/stats/../stop":   false,
		"tcp://127.0.0.1:9293/stats":            false,
		"unix:///run/puma/control.sock":         false,
	} {
		if err := (&Source{}).CheckTarget(target); (err == nil) != ok {
			t.Errorf("CheckTarget(%q) = %v, want ok %v", target, err, ok)
		}
	}
}
