package phpfpm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poolwatch/poolwatch/exporter"
)

func capacity(n float64) func(string) (float64, error) {
	return func(string) (float64, error) { return n, nil }
}

func readCapture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The captures from the real PHP-FPM (server_test.go) map to the values their scenario had.
func TestParseCaptures(t *testing.T) {
	for _, tc := range []struct {
		file               string
		max, workers, busy float64
		queued             float64 // -1: absent
		maxQueued          float64 // -1: absent
		completedAtLeast   float64
		oldestAtLeast      float64
	}{
		// 3 children, backlog 4, nothing running (the readiness check's connections count).
		{"idle.json", 3, 3, 0, 0, 5, 0, 0},
		// 3 running for over 0.3 s, 2 waiting; the 2 fast requests before them ended.
		{"saturated.json", 3, 3, 3, 2, 5, 2, 0.3},
		// Status served by the main pool: that request is the one busy worker.
		{"mainpool.json", 2, 2, 1, 0, 9, 5, 0},
		// 2 children busy, backlog 2: Linux queues backlog + 1 = 3.
		{"queuefull.json", 2, 2, 2, 3, 3, 0, 0.0001},
		// pm = ondemand with no request: no child alive, the capacity still 3.
		{"ondemand-idle.json", 3, 0, 0, 0, 9, 0, 0},
		// Unix socket: no queue measured.
		{"unix.json", 2, 2, 2, -1, -1, 0, 0.0001},
	} {
		t.Run(tc.file, func(t *testing.T) {
			p, err := Parse(readCapture(t, tc.file), capacity(tc.max))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			want(t, p, tc.max, tc.workers, tc.busy, tc.queued)
			if got := deref(p.MaxQueuedTasks); (tc.maxQueued < 0) != (p.QueueNotMeasured || p.MaxQueuedTasks == nil) ||
				(p.MaxQueuedTasks != nil && *p.MaxQueuedTasks != tc.maxQueued) {
				t.Errorf("max queued %s, want %v", got, tc.maxQueued)
			}
			if p.TasksCompletedTotal["success"] < tc.completedAtLeast {
				t.Errorf("completed %v, want >= %v", p.TasksCompletedTotal, tc.completedAtLeast)
			}
			if p.OldestRunningTaskAgeSeconds == nil || *p.OldestRunningTaskAgeSeconds < tc.oldestAtLeast {
				t.Errorf("oldest running %s, want >= %v", deref(p.OldestRunningTaskAgeSeconds), tc.oldestAtLeast)
			}
			if p.Name != "www" {
				t.Errorf("pool %q", p.Name)
			}
		})
	}
}

const minimal = `{"pool":"web","accepted conn":10,"listen queue":1,"listen queue len":8,` +
	`"idle processes":1,"active processes":3,"total processes":4,"processes":[` +
	`{"state":"Idle","request duration":90000000},` +
	`{"state":"Running","request duration":2500000},` +
	`{"state":"Reading headers","request duration":3000000},` +
	`{"state":"Finishing","request duration":1000}]}`

func TestParseRules(t *testing.T) {
	p, err := Parse([]byte(minimal), capacity(5))
	if err != nil {
		t.Fatal(err)
	}
	// 4 processes, 3 of them in a request; their durations are in microseconds. The idle
	// process's is its last request's, and the one reading headers waits for a request on a
	// kept connection: neither counts towards the oldest running age.
	want(t, p, 5, 4, 3, 1)
	if p.TasksCompletedTotal["success"] != 7 {
		t.Errorf("completed %v, want accepted 10 - 3 in a request", p.TasksCompletedTotal)
	}
	if *p.OldestRunningTaskAgeSeconds != 2.5 {
		t.Errorf("oldest running %v, want 2.5 s", *p.OldestRunningTaskAgeSeconds)
	}
	if *p.MaxQueuedTasks != 9 {
		t.Errorf("max queued %v, want backlog 8 + 1", *p.MaxQueuedTasks)
	}

	// The process list, not "active processes" (here stale, as PHP-FPM leaves it for up to a
	// second after starting a child), says who is busy.
	stale := strings.Replace(minimal, `"active processes":3`, `"active processes":0`, 1)
	if p, err := Parse([]byte(stale), capacity(5)); err != nil || p.BusyWorkers != 3 {
		t.Errorf("stale active count: busy %v, %v; want the 3 processes in a request", p.BusyWorkers, err)
	}

	// PHP-FPM before 7.4 spells FPM_REQUEST_INFO "Getting request informations": still a
	// request, or completed (accepted - busy) would step back when the child moves on to
	// Running, which Prometheus takes for a counter reset.
	old := strings.Replace(minimal, `"state":"Finishing"`, `"state":"Getting request informations"`, 1)
	if p, err := Parse([]byte(old), capacity(5)); err != nil || p.BusyWorkers != 3 {
		t.Errorf("PHP 7.3's request-info state: %s, %v; want 3 busy", describe(p), err)
	}

	// A state this parser does not know is a worker, but not a busy one.
	odd := strings.Replace(minimal, `"state":"Finishing"`, `"state":"(null)"`, 1)
	if p, err := Parse([]byte(odd), capacity(5)); err != nil || p.Workers != 4 || p.BusyWorkers != 2 {
		t.Errorf("unknown state: %s, %v", describe(p), err)
	}

	// A queue above Linux's backlog + 1 leaves the capacity out rather than the pool.
	p, err = Parse([]byte(strings.Replace(minimal, `"listen queue":1`, `"listen queue":12`, 1)), capacity(5))
	if err != nil || p.MaxQueuedTasks != nil || p.QueuedTasks != 12 || p.QueueNotMeasured {
		t.Errorf("queue above backlog: %v, %s", err, describe(p))
	}
}

func TestParseRejects(t *testing.T) {
	for name, body := range map[string]string{
		"not json":          `pool: www`,
		"no pool":           `{"accepted conn":1}`,
		"empty pool":        strings.Replace(minimal, `"web"`, `""`, 1),
		"missing field":     strings.Replace(minimal, `"listen queue len":8,`, ``, 1),
		"negative":          strings.Replace(minimal, `"listen queue":1`, `"listen queue":-1`, 1),
		"fraction":          strings.Replace(minimal, `"accepted conn":10`, `"accepted conn":1.5`, 1),
		"busy > accepted":   strings.Replace(minimal, `"accepted conn":10`, `"accepted conn":2`, 1),
		"no process list":   `{"pool":"web","accepted conn":10,"listen queue":1,"listen queue len":8}`,
		"process no state":  strings.Replace(minimal, `"state":"Idle",`, ``, 1),
		"negative duration": strings.Replace(minimal, `"request duration":1000`, `"request duration":-1`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(body), capacity(5)); err == nil {
				t.Error("want an error")
			}
		})
	}
	boom := errors.New("no capacity")
	if _, err := Parse([]byte(minimal), func(string) (float64, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the capacity's error", err)
	}
}

// Workers above the stated capacity (a pool grown since its configuration was read) is a
// pool the exporter skips, not one it passes on.
func TestParseStaleCapacityFailsValidation(t *testing.T) {
	p, err := Parse([]byte(minimal), capacity(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); !errors.Is(err, exporter.ErrInvalidPool) {
		t.Errorf("Validate = %v, want invalid: 4 workers above max_children 2", err)
	}
}

// FuzzParse feeds the parser mutations of the real PHP-FPM captures: it must never panic, and
// a pool it returns without error must be valid whenever its workers fit the capacity.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"idle.json", "saturated.json", "mainpool.json", "unix.json", "ondemand-idle.json", "queuefull.json"} {
		f.Add(readCapture(f, name))
	}
	f.Add([]byte(minimal))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := Parse(body, capacity(1e6))
		if err != nil {
			return
		}
		if p.Workers <= 1e6 {
			if err := p.Validate(); err != nil {
				t.Errorf("Parse accepted a pool that fails validation: %v\n%s", err, body)
			}
		}
	})
}
