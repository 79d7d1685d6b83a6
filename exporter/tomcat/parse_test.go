package tomcat

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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

// appPool is the application's connector in a capture: the one with 4 threads.
func appPool(t *testing.T, pools []exporter.Pool) exporter.Pool {
	t.Helper()
	for _, p := range pools {
		if p.MaxWorkers == 4 {
			return p
		}
	}
	t.Fatalf("no 4-thread connector in %+v", pools)
	return exporter.Pool{}
}

func TestParseCaptures(t *testing.T) {
	sat, skipped, err := Parse(load(t, "saturated.xml"), 0)
	if err != nil || len(skipped) > 0 || len(sat) != 2 {
		t.Fatalf("saturated: %d pools, skipped %v, err %v", len(sat), skipped, err)
	}
	p := appPool(t, sat)
	if !regexp.MustCompile(`^http-nio-127\.0\.0\.1-\d+$`).MatchString(p.Name) {
		t.Errorf("pool name %q, want the connector's name without quotes", p.Name)
	}
	// Every thread in service for 1.1 s; the requests still run, so only the earlier
	// readiness request is completed; the queue is not on the page.
	if p.Workers != 4 || p.BusyWorkers != 4 || !p.QueueNotMeasured || p.TasksCompletedTotal["success"] != 1 {
		t.Errorf("saturated = %+v", p)
	}
	if got := *p.OldestRunningTaskAgeSeconds; got != 1.112 {
		t.Errorf("oldest running = %v, want 1.112 (the largest requestProcessingTime in stage S)", got)
	}
	if p.BusySecondsTotal != nil || p.MaxQueuedTasks != nil || p.TasksSubmittedTotal != nil {
		t.Errorf("series Tomcat does not measure are present: %+v", p)
	}

	idle, skipped, err := Parse(load(t, "idle.xml"), 0)
	if err != nil || len(skipped) > 0 {
		t.Fatal(err, skipped)
	}
	if p := appPool(t, idle); p.BusyWorkers != 0 || *p.OldestRunningTaskAgeSeconds != 0 {
		t.Errorf("idle = %+v", p)
	}
}

// A connector on a shared <Executor> (captured by TestServerOnExecutor: 4 of its 4 threads
// busy) shows maxThreads -1: its capacity is the target's executor_max_threads, checked
// against the threads the page shows.
func TestParseExecutor(t *testing.T) {
	data := load(t, "executor.xml")
	for _, tc := range []struct {
		max   float64
		pools int
		note  string
	}{
		{0, 1, "executor_max_threads"},
		{4, 2, ""},
		{3, 1, "need busy (4) <= workers (4) <= max (3)"},
	} {
		pools, skipped, err := Parse(data, tc.max)
		if err != nil {
			t.Fatal(err)
		}
		if len(pools) != tc.pools || (tc.note != "" && (len(skipped) != 1 || !strings.Contains(skipped[0].Error(), tc.note))) {
			t.Errorf("executor max %v: pools %+v, skipped %v, want %d pools and a note with %q", tc.max, pools, skipped, tc.pools, tc.note)
		}
		if tc.max == 4 {
			if p := appPool(t, pools); p.Workers != 4 || p.BusyWorkers != 4 {
				t.Errorf("pool on the executor = %+v", p)
			}
		}
	}
}

// sub replaces the first match of re in the saturated capture.
func sub(t *testing.T, re, repl string) []byte {
	t.Helper()
	data := load(t, "saturated.xml")
	r := regexp.MustCompile(re)
	loc := r.FindIndex(data)
	if loc == nil {
		t.Fatalf("capture has no %q: edit the test", re)
	}
	return append(append(append([]byte{}, data[:loc[0]]...), r.ReplaceAll(data[loc[0]:loc[1]], []byte(repl))...), data[loc[1]:]...)
}

func TestParseLeavesOut(t *testing.T) {
	for name, tc := range map[string]struct {
		data  []byte
		pools int
		note  string
		check func(t *testing.T, pools []exporter.Pool)
	}{
		"shared executor, no capacity stated": {sub(t, `maxThreads="2"`, `maxThreads="-1"`), 1, "executor_max_threads", nil},
		"virtual threads: no thread counts":   {sub(t, `currentThreadCount="2"`, `currentThreadCount="-1"`), 1, "currentThreadCount", nil},
		"busy above threads":                  {sub(t, `currentThreadsBusy="1"`, `currentThreadsBusy="3"`), 1, "need busy", nil},
		"requestCount wrapped past 2^31": {sub(t, `requestCount="1"`, `requestCount="-2147483000"`), 2, "completed requests left out",
			func(t *testing.T, pools []exporter.Pool) {
				if p := appPool(t, pools); p.TasksCompletedTotal != nil || p.BusyWorkers != 4 {
					t.Errorf("%+v", p)
				}
			}},
		"bad processing time": {sub(t, `requestProcessingTime="1112"`, `requestProcessingTime="x"`), 2, "oldest running request left out",
			func(t *testing.T, pools []exporter.Pool) {
				if p := appPool(t, pools); p.OldestRunningTaskAgeSeconds != nil {
					t.Errorf("%+v", p)
				}
			}},
		"keep-alive and ended workers are not running": {regexp.MustCompile(`stage="S"`).ReplaceAll(load(t, "saturated.xml"), []byte(`stage="K"`)), 2, "",
			func(t *testing.T, pools []exporter.Pool) {
				if p := appPool(t, pools); *p.OldestRunningTaskAgeSeconds != 0 {
					t.Errorf("%+v", p)
				}
			}},
	} {
		t.Run(name, func(t *testing.T) {
			pools, skipped, err := Parse(tc.data, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(pools) != tc.pools {
				t.Errorf("%d pools, want %d", len(pools), tc.pools)
			}
			if tc.note != "" && (len(skipped) != 1 || !strings.Contains(skipped[0].Error(), tc.note)) {
				t.Errorf("skipped %v, want one note with %q", skipped, tc.note)
			}
			if tc.check != nil {
				tc.check(t, pools)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	sat := load(t, "saturated.xml")
	for name, tc := range map[string]struct {
		data []byte
		want error
		text string
	}{
		"malformed":      {sat[:len(sat)/2], nil, "malformed"},
		"html page":      {[]byte(`<html><body>Tomcat Status</body></html>`), ErrNotStatus, ""},
		"no connector":   {[]byte(`<status><jvm/></status>`), nil, "no <connector>"},
		"all bad":        {regexp.MustCompile(`maxThreads="\d+"`).ReplaceAll(sat, []byte(`maxThreads=""`)), nil, "no valid connector"},
		"no thread info": {[]byte(`<status><connector name='"x"'/></status>`), nil, "no <threadInfo>"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Parse(tc.data, 0)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestCheckTarget(t *testing.T) {
	for target, ok := range map[string]bool{
		"http://127.0.0.1:8081/manager/status?XML=true":                          true,
		"https://u:p@tomcat:8443/manager/status?XML=true":                        true,
		"http://127.0.0.1:8081/manager/status":                                   false,
		"http://127.0.0.1:8081/manager/status?JSON=true":                         false,
		"tcp://127.0.0.1:8081/manager/status?XML=true":                           false,
		"http://127.0.0.1:8081/manager/status?XML=true&executor_max_threads=200": true,
		"http://127.0.0.1:8081/manager/status?XML=true&executor_max_threads=0":   false,
		"http://127.0.0.1:8081/manager/status?XML=true&executor_max_threads=x":   false,
		"http://127.0.0.1:8081/manager/status?XML=true&executor_max_threads=":    false,
	} {
		if err := (Source{}).CheckTarget(target); (err == nil) != ok {
			t.Errorf("CheckTarget(%q) = %v, want ok %v", target, err, ok)
		}
	}
}
