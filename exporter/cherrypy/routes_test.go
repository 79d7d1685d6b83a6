package cherrypy

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/cherrypytest"
	"github.com/poolwatch/poolwatch/internal/route"
)

func TestParseRequestLine(t *testing.T) {
	for _, c := range []struct{ line, method, target string }{
		{"GET /slow?seconds=30 HTTP/1.1", "GET", "/slow?seconds=30"},
		{"POST /users/42 HTTP/1.0", "POST", "/users/42"},
		{"GET /", "GET", "/"}, // HTTP/0.9
		{"OPTIONS * HTTP/1.1", "OPTIONS", "*"},
		{"GET http://example.com/a HTTP/1.1", "GET", "http://example.com/a"},
		{"", "", ""},
		{"GET", "", ""},
		{"GET  /two-spaces HTTP/1.1", "", ""},
		{"GET /a b HTTP/1.1", "", ""},
		{"GET /a FTP/1.0", "", ""},
		{"G(T /a HTTP/1.1", "", ""},
		{"GET /a\tb", "", ""},
	} {
		m, tg, err := ParseRequestLine(c.line)
		if m != c.method || tg != c.target || (err != nil) != (c.method == "") {
			t.Errorf("ParseRequestLine(%q) = %q, %q, %v; want %q, %q", c.line, m, tg, err, c.method, c.target)
		}
	}
}

// appEntry returns the "CherryPy Applications" entry of a captured page.
func appEntry(t testing.TB, page []byte) json.RawMessage {
	t.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(page, &doc); err != nil {
		t.Fatal(err)
	}
	return doc[appKey]
}

// routes.json: a real CherryPy with 4 threads holding two requests on /slow and one on
// /slow/users/42 (see TestCaptureRoutes), after a fast request on / that finished.
func TestRoutesCaptured(t *testing.T) {
	page := load(t, "routes.json")
	pools := mustParse(t, page)
	main := pools[0]
	checkGauges(t, main, 4, 3, 0)
	reqs, err := RunningRequests(appEntry(t, page))
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 3 {
		t.Fatalf("running requests %+v, want the 3 held ones (the finished / is not running)", reqs)
	}
	ages := map[string]float64{}
	for _, r := range reqs {
		if r.Method != "GET" {
			t.Errorf("method %q", r.Method)
		}
		ages[r.Target] = max(ages[r.Target], r.AgeSeconds)
		if r.AgeSeconds <= 0 || r.AgeSeconds > *main.OldestRunningTaskAgeSeconds {
			t.Errorf("age %v, want in (0, oldest running %v]", r.AgeSeconds, *main.OldestRunningTaskAgeSeconds)
		}
	}
	got, err := exporter.Routes(reqs, main.BusyWorkers, exporter.RouteOptions{Max: route.DefaultMax})
	if err != nil {
		t.Fatal(err)
	}
	want := []route.Stat{
		{Route: "GET /slow", Busy: 2, Oldest: ages["/slow?seconds=60"]},
		{Route: "GET /slow/users/:id", Busy: 1, Oldest: ages["/slow/users/42?seconds=60"]},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("routes = %+v, want %+v", got, want)
	}
	// With room for one route, the other is summed into "other".
	got, _ = exporter.Routes(reqs, main.BusyWorkers, exporter.RouteOptions{Max: 1})
	want = []route.Stat{want[0], {Route: route.Other, Busy: 1, Oldest: want[1].Oldest}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("routes with max 1 = %+v, want %+v", got, want)
	}
	// Rewrite rules run first.
	rules, err := route.Compile([]route.RuleConfig{{Match: "^/slow/users/.*", Replacement: "/slow/users"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = exporter.Routes(reqs, main.BusyWorkers, exporter.RouteOptions{Normalizer: route.NewNormalizer(rules...), Max: 5})
	if got[1].Route != "GET /slow/users" {
		t.Errorf("rewritten routes = %+v", got)
	}
}

func TestRunningRequestsErrors(t *testing.T) {
	for name, c := range map[string]struct {
		app     string
		wantErr bool
		want    []exporter.Request
	}{
		"none":        {`{"Requests": {}}`, false, nil},
		"finished":    {`{"Requests": {"1": {"End Time": 5.0, "Processing Time": 1, "Request-Line": "GET / HTTP/1.1"}}}`, false, nil},
		"bad line":    {`{"Requests": {"1": {"End Time": null, "Processing Time": 1, "Request-Line": "garbage"}}}`, false, []exporter.Request{{AgeSeconds: 1}}},
		"no line":     {`{"Requests": {"1": {"End Time": null, "Processing Time": 2}}}`, false, []exporter.Request{{AgeSeconds: 2}}},
		"no time":     {`{"Requests": {"1": {"End Time": null, "Request-Line": "GET / HTTP/1.1"}}}`, true, nil},
		"negative":    {`{"Requests": {"1": {"End Time": null, "Processing Time": -1, "Request-Line": "GET / HTTP/1.1"}}}`, true, nil},
		"wrong types": {`{"Requests": {"1": {"End Time": null, "Processing Time": "x"}}}`, true, nil},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := RunningRequests(json.RawMessage(c.app))
			if (err != nil) != c.wantErr || !reflect.DeepEqual(got, c.want) {
				t.Errorf("RunningRequests = %+v, %v; want %+v, error %v", got, err, c.want, c.wantErr)
			}
		})
	}
	// A request that cpstats could not name still holds a worker: it is counted in "other".
	got, err := exporter.Routes([]exporter.Request{{AgeSeconds: 1}, {Method: "GET", Target: "/", AgeSeconds: 2}}, 2, exporter.RouteOptions{Max: 5})
	if err != nil || !reflect.DeepEqual(got, []route.Stat{{Route: "GET /", Busy: 1, Oldest: 2}, {Route: route.Other, Busy: 1, Oldest: 1}}) {
		t.Errorf("Routes = %+v, %v", got, err)
	}
	// More requests than busy workers: the records are not this pool's; nothing is exposed.
	if _, err := exporter.Routes([]exporter.Request{{AgeSeconds: 1}, {AgeSeconds: 1}}, 1, exporter.RouteOptions{Max: 5}); err == nil {
		t.Error("2 requests on 1 busy worker accepted")
	}
}

// Against a real CherryPy whose pool one slow route exhausts: three requests on
// /slow/users/<id> (three ids, one route) and one on /slow take the 4 threads, two more wait
// in the queue. The routes must be exactly those, with ages that match the time the requests
// have been held.
func TestRoutesFromCherryPy(t *testing.T) {
	const threads = 4
	app := cherrypytest.Start(t, threads)
	sent := time.Now()
	for _, id := range []string{"42", "43", "507f1f77bcf86cd799439011"} {
		app.Hold(t, 1, "/slow/users/"+id+"?seconds=60")
	}
	app.Hold(t, 1, "/slow?seconds=60")
	app.Hold(t, 2, "/slow/queued?seconds=60") // wait in the queue: not running, no route
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	time.Sleep(time.Second) // so that ages are well above the scheduling noise
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := time.Since(sent).Seconds()
		page, err := exporter.Fetch(context.Background(), client, app.StatsURL, exporter.MaxBodyBytes)
		after := time.Since(sent).Seconds()
		if err != nil {
			t.Fatal(err)
		}
		main := mustParse(t, page)[0]
		reqs, err := RunningRequests(appEntry(t, page))
		if err != nil {
			t.Fatal(err)
		}
		// At least the 2 held ones are queued (the readiness probe's connection may be too).
		if main.BusyWorkers == threads && main.QueuedTasks >= 2 && len(reqs) == threads {
			got, err := exporter.Routes(reqs, main.BusyWorkers, exporter.RouteOptions{Max: route.DefaultMax})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].Route != "GET /slow/users/:id" || got[0].Busy != 3 ||
				got[1].Route != "GET /slow" || got[1].Busy != 1 {
				t.Fatalf("routes %+v, want GET /slow/users/:id holding 3 workers and GET /slow 1", got)
			}
			for _, s := range got {
				// Each request started after it was sent and has run until the page was made.
				if s.Oldest > after || s.Oldest < before-0.5 {
					t.Errorf("%s: oldest %v s, want within [%v, %v]", s.Route, s.Oldest, before-0.5, after)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw %d running requests on %d busy threads; last: %+v %+v", threads, threads, main, reqs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Re-captures testdata/routes.json (go test ./exporter/cherrypy -run TestCaptureRoutes -capture).
func TestCaptureRoutes(t *testing.T) {
	if !*capture {
		t.Skip("run with -capture to re-capture testdata from CherryPy")
	}
	app := cherrypytest.Start(t, 4)
	app.Get(t, "/")
	app.Hold(t, 2, "/slow?seconds=60")
	app.Hold(t, 1, "/slow/users/42?seconds=60")
	time.Sleep(500 * time.Millisecond)
	writeWhen(t, app, "routes.json", func(p []exporter.Pool) bool {
		return len(p) == 2 && p[0].BusyWorkers == 3 && *p[0].OldestRunningTaskAgeSeconds > 0.5
	})
}

func FuzzRequestLine(f *testing.F) {
	// Seeds: every request line of the captured pages, and a few broken ones.
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var doc map[string]json.RawMessage
		if json.Unmarshal(b, &doc) != nil {
			continue
		}
		var a struct{ Requests map[string]requestRecord }
		if json.Unmarshal(doc[appKey], &a) != nil {
			continue
		}
		for _, r := range a.Requests {
			if r.RequestLine != nil {
				f.Add(*r.RequestLine)
			}
		}
	}
	for _, s := range []string{"", "GET", "GET /", "GET  /", "GET /a b HTTP/1.1", "\xff /\xfe HTTP/1.1", "OPTIONS * HTTP/1.1"} {
		f.Add(s)
	}
	n := &route.Normalizer{}
	f.Fuzz(func(t *testing.T, line string) {
		method, target, err := ParseRequestLine(line)
		if err != nil {
			if method != "" || target != "" {
				t.Fatalf("ParseRequestLine(%q) failed but returned %q %q", line, method, target)
			}
			return
		}
		if method == "" || target == "" || strings.ContainsAny(method+target, " \t\r\n") {
			t.Fatalf("ParseRequestLine(%q) = %q, %q", line, method, target)
		}
		if !strings.HasPrefix(line, method+" "+target) {
			t.Fatalf("ParseRequestLine(%q) = %q, %q: not the line's parts", line, method, target)
		}
		r := n.Route(method, target)
		if len(r) > route.MaxRoute || !utf8.ValidString(r) {
			t.Fatalf("route of %q is %q", line, r)
		}
		if again := n.Route(method, n.Path(target)); again != r {
			t.Fatalf("route of %q not idempotent: %q then %q", line, r, again)
		}
	})
}
