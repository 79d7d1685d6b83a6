package apache

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readCapture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The captures from the real httpd (server_test.go) map to their scenario's values.
func TestParseCaptures(t *testing.T) {
	for _, tc := range []struct {
		file               string
		max, workers, busy float64
		completed          bool
	}{
		{"event-idle.txt", 3, 3, 1, true},        // the status request is the busy one
		{"event-exhausted.txt", 3, 3, 3, true},   // 2 slow requests + the status request
		{"event-openslots.txt", 4, 2, 1, true},   // a second process allowed, not started
		{"event-noextended.txt", 2, 2, 2, false}, // ExtendedStatus Off: no access count
		{"prefork-exhausted.txt", 2, 2, 2, true}, // prefork: one process per slot
	} {
		t.Run(tc.file, func(t *testing.T) {
			p, err := Parse(readCapture(t, tc.file), "127.0.0.1:80")
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			if p.MaxWorkers != tc.max || p.Workers != tc.workers || p.BusyWorkers != tc.busy {
				t.Errorf("max %v workers %v busy %v, want %v %v %v", p.MaxWorkers, p.Workers, p.BusyWorkers, tc.max, tc.workers, tc.busy)
			}
			if _, ok := p.TasksCompletedTotal["success"]; ok != tc.completed {
				t.Errorf("completed %v, want present %v", p.TasksCompletedTotal, tc.completed)
			}
			if !p.QueueNotMeasured || p.MaxQueuedTasks != nil || p.BusySecondsTotal != nil || p.OldestRunningTaskAgeSeconds != nil {
				t.Errorf("a series mod_status does not measure: %+v", p)
			}
		})
	}
}

const page = "localhost\nServerMPM: worker\nTotal Accesses: 1234\nTotal Duration: 99\nBusyWorkers: 3\nIdleWorkers: 2\n" +
	"Scoreboard: _WK_RGIS....\n"

func TestParseRules(t *testing.T) {
	p, err := Parse([]byte(page), "web:8080")
	if err != nil {
		t.Fatal(err)
	}
	// 12 slots, 8 occupied ("." is an open slot), BusyWorkers as the server counts them.
	if p.Name != "web:8080" || p.MaxWorkers != 12 || p.Workers != 8 || p.BusyWorkers != 3 ||
		p.TasksCompletedTotal["success"] != 1234 {
		t.Errorf("got %+v", p)
	}
}

func TestParseRejects(t *testing.T) {
	for name, body := range map[string]string{
		"html page":        "<html><body>Apache Status</body></html>",
		"no scoreboard":    strings.Replace(page, "Scoreboard: _WK_RGIS....\n", "", 1),
		"empty scoreboard": strings.Replace(page, "Scoreboard: _WK_RGIS....", "Scoreboard: ", 1),
		"unknown state":    strings.Replace(page, "_WK_", "_WX_", 1),
		"no busy":          strings.Replace(page, "BusyWorkers: 3\n", "", 1),
		"busy not a count": strings.Replace(page, "BusyWorkers: 3", "BusyWorkers: 1.5", 1),
		"busy > slots":     strings.Replace(page, "BusyWorkers: 3", "BusyWorkers: 4", 1),
		"bad accesses":     strings.Replace(page, "Total Accesses: 1234", "Total Accesses: -1", 1),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(body), "web:8080"); err == nil {
				t.Error("want an error")
			}
		})
	}
}

func TestStatusURL(t *testing.T) {
	for target, want := range map[string][2]string{
		"http://127.0.0.1:8080/server-status":   {"http://127.0.0.1:8080/server-status?auto", "127.0.0.1:8080"},
		"http://web/server-status?auto":         {"http://web/server-status?auto", "web:80"},
		"https://[::1]/status?x=1":              {"https://[::1]/status?x=1&auto", "[::1]:443"},
		"http://web:81/server-status?refresh=5": {"http://web:81/server-status?refresh=5&auto", "web:81"},
	} {
		u, pool, err := statusURL(target)
		if err != nil || u != want[0] || pool != want[1] {
			t.Errorf("statusURL(%s) = %s, %s, %v; want %v", target, u, pool, err, want)
		}
	}
	for _, bad := range []string{"fastcgi://127.0.0.1:9000/status", "127.0.0.1/server-status", "http:///x"} {
		if err := (Source{}).CheckTarget(bad); err == nil {
			t.Errorf("CheckTarget(%q) accepted", bad)
		}
	}
}

// FuzzParse feeds the parser mutations of the real httpd captures: it must never panic, and
// a pool it returns without error must pass the exporter's validation.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"event-idle.txt", "event-exhausted.txt", "event-openslots.txt",
		"event-noextended.txt", "prefork-exhausted.txt"} {
		f.Add(readCapture(f, name))
	}
	f.Add([]byte(page))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := Parse(body, "127.0.0.1:80")
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Errorf("Parse accepted a pool that fails validation: %v\n%q", err, body)
		}
	})
}
