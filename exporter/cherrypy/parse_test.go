package cherrypy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/poolwatch/poolwatch/exporter"
)

// The samples in testdata are real /cpstats/data pages of examples/cherrypy/app.py (see
// capture_test.go). Ports change at every capture, so names are matched by pattern.
var tcpName = regexp.MustCompile(`^127\.0\.0\.1:[0-9]+$`)

func load(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t *testing.T, data []byte) []exporter.Pool {
	t.Helper()
	pools, skipped, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) > 0 {
		t.Fatalf("unexpected skipped: %v", skipped)
	}
	sortMainFirst(pools)
	return pools
}

func TestParseIdle(t *testing.T) {
	pools := mustParse(t, load(t, "idle.json"))
	if len(pools) != 2 {
		t.Fatalf("want the main and the stats server, got %+v", pools)
	}
	main, stats := pools[0], pools[1]
	checkGauges(t, main, 4, 0, 0)
	if !tcpName.MatchString(main.Name) {
		t.Errorf("main pool name %q", main.Name)
	}
	if got := main.TasksCompletedTotal["success"]; got != 3 {
		t.Errorf("completed = %v, want the 3 requests made", got)
	}
	if got := *main.OldestRunningTaskAgeSeconds; got != 0 {
		t.Errorf("oldest running = %v with nothing running", got)
	}
	if main.BusySecondsTotal == nil || *main.BusySecondsTotal <= 0 {
		t.Errorf("busy seconds = %v, want the time the 3 requests took", main.BusySecondsTotal)
	}
	// The stats server is serving the very read that captured it.
	checkGauges(t, stats, 2, 1, 0)
	if stats.TasksCompletedTotal != nil || stats.OldestRunningTaskAgeSeconds != nil {
		t.Errorf("application series went to the stats server: %+v", stats)
	}
	checkAbsent(t, pools)
}

func TestParseSaturated(t *testing.T) {
	pools := mustParse(t, load(t, "saturated.json"))
	if len(pools) != 2 {
		t.Fatalf("got %+v", pools)
	}
	main := pools[0]
	// 4 threads each hold a slow request, 3 more connections wait in cheroot's queue.
	checkGauges(t, main, 4, 4, 3)
	// 1 fast request finished; the 4 running ones are not completed.
	if got := main.TasksCompletedTotal["success"]; got != 1 {
		t.Errorf("completed = %v, want 1", got)
	}
	if got := *main.OldestRunningTaskAgeSeconds; got < 0.5 || got > 30 {
		t.Errorf("oldest running = %v, want the slow requests' age", got)
	}
	if *main.BusySecondsTotal < 4*0.5 {
		t.Errorf("busy seconds = %v, want at least 4 threads x 0.5 s", *main.BusySecondsTotal)
	}
	checkAbsent(t, pools)
}

func TestParseSeveralServers(t *testing.T) {
	pools := mustParse(t, load(t, "servers.json"))
	if len(pools) != 4 {
		t.Fatalf("want main, stats, IPv6 and unix socket servers, got %+v", pools)
	}
	checkGauges(t, pools[0], 4, 1, 0)
	var names []string
	for _, p := range pools {
		names = append(names, p.Name)
	}
	joined := strings.Join(names, " ")
	if !regexp.MustCompile(`\[::1\]:[0-9]+`).MatchString(joined) || !strings.Contains(joined, "/app.sock") {
		t.Errorf("names %v lack the IPv6 host:port or the socket path", names)
	}
	for _, p := range pools[1:] {
		if p.TasksCompletedTotal != nil {
			t.Errorf("application series on %s, not on the 4-thread main server", p.Name)
		}
	}
	if *pools[0].OldestRunningTaskAgeSeconds <= 0 {
		t.Errorf("the one slow request is running: oldest = %v", *pools[0].OldestRunningTaskAgeSeconds)
	}
}

func checkGauges(t *testing.T, p exporter.Pool, threads, busy, queued float64) {
	t.Helper()
	if p.MaxWorkers != threads || p.Workers != threads || p.BusyWorkers != busy || p.QueuedTasks != queued {
		t.Errorf("%s: max/workers/busy/queued = %v/%v/%v/%v, want %v/%v/%v/%v", p.Name,
			p.MaxWorkers, p.Workers, p.BusyWorkers, p.QueuedTasks, threads, threads, busy, queued)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
}

// checkAbsent: what cpstats cannot provide must not be faked.
func checkAbsent(t *testing.T, pools []exporter.Pool) {
	t.Helper()
	for _, p := range pools {
		if p.MaxQueuedTasks != nil || p.TasksSubmittedTotal != nil || p.TasksRejectedTotal != nil ||
			p.SaturatedSecondsTotal != nil || p.OldestQueuedTaskAgeSeconds != nil {
			t.Errorf("%s reports a series cpstats cannot provide: %+v", p.Name, p)
		}
		for outcome := range p.TasksCompletedTotal {
			if outcome != "success" {
				t.Errorf("%s: faked outcome %q", p.Name, outcome)
			}
		}
	}
}

// mutate applies f to the decoded saturated sample's main server (the one with 4 threads)
// and application stats, and returns the re-encoded document.
func mutate(t *testing.T, f func(doc, main, app map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(load(t, "saturated.json"), &doc); err != nil {
		t.Fatal(err)
	}
	var main map[string]any
	for k, v := range doc {
		if s, ok := v.(map[string]any); ok && strings.HasPrefix(k, serverKeyPrefix) && s["Threads"] == 4.0 {
			main = s
		}
	}
	f(doc, main, doc[appKey].(map[string]any))
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSkipsOnlyTheBadPool(t *testing.T) {
	for name, f := range map[string]func(doc, main, app map[string]any){
		"idle above threads": func(_, m, _ map[string]any) { m["Threads Idle"] = 5.0 },
		"negative queue":     func(_, m, _ map[string]any) { m["Queue"] = -1.0 },
		"null threads":       func(_, m, _ map[string]any) { m["Threads"] = nil },
		"fractional idle":    func(_, m, _ map[string]any) { m["Threads Idle"] = 1.5 },
		"string queue":       func(_, m, _ map[string]any) { m["Queue"] = "3" },
		"no bind address":    func(_, m, _ map[string]any) { delete(m, "Bind Address") },
		"garbage address":    func(_, m, _ map[string]any) { m["Bind Address"] = "<socket>" },
	} {
		t.Run(name, func(t *testing.T) {
			pools, skipped, err := Parse(mutate(t, f))
			if err != nil {
				t.Fatal(err)
			}
			if len(skipped) == 0 {
				t.Error("the bad pool was not reported as skipped")
			}
			if len(pools) != 1 || pools[0].Workers != 2 {
				t.Fatalf("want only the stats server left, got %+v", pools)
			}
			// The application's series belong to the bad main server: left out, not moved.
			if pools[0].TasksCompletedTotal != nil || pools[0].OldestRunningTaskAgeSeconds != nil {
				t.Errorf("application series moved to the stats server: %+v", pools[0])
			}
		})
	}
}

func TestParseApplicationNonsense(t *testing.T) {
	for name, f := range map[string]func(doc, main, app map[string]any){
		"current above total": func(_, _, a map[string]any) { a["Current Requests"] = 99.0 },
		"negative current":    func(_, _, a map[string]any) { a["Current Requests"] = -1.0 },
		"missing total":       func(_, _, a map[string]any) { delete(a, "Total Requests") },
		"negative age": func(_, _, a map[string]any) {
			for _, r := range a["Requests"].(map[string]any) {
				r.(map[string]any)["Processing Time"] = -3.0
			}
		},
		"requests not a dict": func(_, _, a map[string]any) { a["Requests"] = []any{1.0} },
		"collection paused":   func(_, _, a map[string]any) { a["Enabled"] = false },
	} {
		t.Run(name, func(t *testing.T) {
			pools, skipped, err := Parse(mutate(t, f))
			if err != nil {
				t.Fatal(err)
			}
			sortMainFirst(pools)
			if len(pools) != 2 || len(skipped) != 1 {
				t.Fatalf("want both pools and one complaint, got %+v %v", pools, skipped)
			}
			if pools[0].TasksCompletedTotal != nil || pools[0].OldestRunningTaskAgeSeconds != nil {
				t.Errorf("application series kept despite nonsense: %+v", pools[0])
			}
			checkGauges(t, pools[0], 4, 4, 3)
		})
	}
}

func TestParseStatisticsOff(t *testing.T) {
	// cheroot reports -1 for Work Time when server.statistics is off.
	pools, _, err := Parse(mutate(t, func(_, m, _ map[string]any) { m["Work Time"] = -1.0 }))
	if err != nil {
		t.Fatal(err)
	}
	sortMainFirst(pools)
	if pools[0].BusySecondsTotal != nil {
		t.Errorf("busy seconds = %v with statistics off, want absent", *pools[0].BusySecondsTotal)
	}
	checkGauges(t, pools[0], 4, 4, 3)
}

func TestParseIgnoresStoppedServer(t *testing.T) {
	data := mutate(t, func(doc, _, _ map[string]any) {
		doc[serverKeyPrefix+"1"] = map[string]any{"Bind Address": "('127.0.0.1', 1)", "Threads": 0.0,
			"Threads Idle": 0.0, "Queue": 0.0, "Work Time": 7.0}
	})
	pools := mustParse(t, data)
	if len(pools) != 2 {
		t.Errorf("a stopped server (0 threads) is no pool: got %+v", pools)
	}
}

func TestParseMainServerTieGoesToLowestName(t *testing.T) {
	data := mutate(t, func(doc, _, _ map[string]any) {
		doc[serverKeyPrefix+"1"] = map[string]any{"Bind Address": "('127.0.0.0', 1)", "Threads": 4.0,
			"Threads Idle": 4.0, "Queue": 0.0, "Work Time": 0.0}
	})
	pools := mustParse(t, data)
	for _, p := range pools {
		if (p.TasksCompletedTotal != nil) != (p.Name == "127.0.0.0:1") {
			t.Errorf("%s: application series %v", p.Name, p.TasksCompletedTotal)
		}
	}
}

func TestParseWholeDocumentErrors(t *testing.T) {
	for name, data := range map[string]string{
		"truncated":        string(load(t, "idle.json")[:100]),
		"not an object":    `[1, 2]`,
		"empty object":     `{}`,
		"html":             `<html>Statistics</html>`,
		"python nan":       `{"Cheroot HTTPServer 1": {"Threads": NaN}}`,
		"only bad servers": `{"Cheroot HTTPServer 1": {"Bind Address": "('h', 1)", "Threads": 2, "Threads Idle": 3, "Queue": 0}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if pools, _, err := Parse([]byte(data)); err == nil {
				t.Errorf("want an error, got %+v", pools)
			}
		})
	}
	if _, _, err := Parse([]byte(`{"CherryPy Applications": {}}`)); !errors.Is(err, ErrNotCPStats) {
		t.Errorf("err = %v, want ErrNotCPStats", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"idle.json", "saturated.json", "servers.json"} {
		f.Add(load(f, name))
	}
	f.Add([]byte(`{"Cheroot HTTPServer 1": {"Bind Address": "'\\x00abstract'", "Threads": 1, "Threads Idle": 0, "Queue": 0}}`))
	f.Add([]byte(`{"Cheroot HTTPServer 1": {"Bind Address": "('::1', 80, 0, 0)", "Threads": 1e308, "Threads Idle": 0, "Queue": 0}, "CherryPy Applications": {"Total Requests": 1, "Current Requests": 0, "Requests": {"1": {"End Time": null, "Processing Time": 1e309}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pools, _, err := Parse(data)
		if err != nil && len(pools) > 0 {
			t.Fatalf("pools %+v returned with error %v", pools, err)
		}
		for _, p := range pools {
			if err := p.Validate(); err != nil {
				t.Errorf("Parse returned a pool that breaks the contract: %v", err)
			}
		}
	})
}

// BenchmarkParse measures the exporter's own cost per scrape of one captured page.
func BenchmarkParse(b *testing.B) {
	data := load(b, "servers.json")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// A number beyond float64 (a Python int has no bound) in a value the parser does not use (an
// application's own statistics namespace, a field of a server or a request it does not read)
// changes nothing, as with json.Unmarshal before the parser streamed: only the fields of the
// contract are converted.
func TestParseIgnoresHugeNumbersItDoesNotUse(t *testing.T) {
	huge := "1" + strings.Repeat("0", 400)
	for name, doc := range map[string]string{
		"namespace":      `{"My App": ` + huge + `, %s}`,
		"namespace dict": `{"My App": {"Big": ` + huge + `}, %s}`,
		"server field":   `{%s, "Cheroot HTTPServer 2": {"Bind Address": "('127.0.0.1', 8081)", "Threads": 2, "Threads Idle": 2, "Queue": 0, "Bytes Read": ` + huge + `}}`,
	} {
		t.Run(name, func(t *testing.T) {
			server := `"Cheroot HTTPServer 1": {"Bind Address": "('127.0.0.1', 8080)", "Threads": 4, "Threads Idle": 1, "Queue": 0}`
			if !strings.Contains(doc, "Cheroot HTTPServer 2") {
				server += `, "Cheroot HTTPServer 2": {"Bind Address": "('127.0.0.1', 8081)", "Threads": 2, "Threads Idle": 2, "Queue": 0}`
			}
			server += `, "CherryPy Applications": {"Total Requests": 10, "Current Requests": 1, "Uptime": ` + huge + `, "Requests": {"1": {"End Time": null, "Processing Time": 2.5, "Bytes Read": ` + huge + `}}}`
			pools := mustParse(t, []byte(strings.Replace(doc, "%s", server, 1)))
			if len(pools) != 2 {
				t.Fatalf("%d pools, want 2: %+v", len(pools), pools)
			}
			if got := pools[0].OldestRunningTaskAgeSeconds; got == nil || *got != 2.5 {
				t.Errorf("oldest running request = %v, want 2.5", got)
			}
		})
	}
}
