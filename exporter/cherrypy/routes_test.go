package cherrypy

import (
	"context"
	"encoding/json"
	"errors"
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

// routes.json: a real CherryPy with 4 threads holding two requests on /slow and one on
// /slow/users/42 (see TestCaptureRoutes), after a fast request on / that finished.
func TestRoutesCaptured(t *testing.T) {
	page := load(t, "routes.json")
	pools := mustParse(t, page)
	main := pools[0]
	checkGauges(t, main, 4, 3, 0)
	reqs := main.Running
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
	got, _, err := exporter.Routes(reqs, main.BusyWorkers, exporter.RouteOptions{Max: route.DefaultMax})
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
	got, _, _ = exporter.Routes(reqs, main.BusyWorkers, exporter.RouteOptions{Max: 1})
	want = []route.Stat{want[0], {Route: route.Other, Busy: 1, Oldest: want[1].Oldest}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("routes with max 1 = %+v, want %+v", got, want)
	}
	// Rewrite rules run first.
	rules, err := route.Compile([]route.RuleConfig{{Match: "^/slow/users/.*", Replacement: "/slow/users"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ = exporter.Routes(reqs, main.BusyWorkers, exporter.RouteOptions{Normalizer: route.NewNormalizer(rules...), Max: 5})
	if got[1].Route != "GET /slow/users" {
		t.Errorf("rewritten routes = %+v", got)
	}
}

// cpstatsPage is a cpstats page with one 4-thread server, 2 of them busy, and the given Requests.
func cpstatsPage(requests string) []byte {
	return []byte(`{"Cheroot HTTPServer 1": {"Bind Address": "('127.0.0.1', 8080)", "Threads": 4,
		"Threads Idle": 2, "Queue": 0, "Work Time": 1.5},
	"CherryPy Applications": {"Enabled": true, "Total Requests": 5, "Current Requests": 2,
		"Requests": ` + requests + `}}`)
}

func TestRunningRequests(t *testing.T) {
	for name, c := range map[string]struct {
		requests string
		bad      bool // the application's entry is left out (and explained), Running with it
		want     []exporter.Request
	}{
		"none":     {`{}`, false, []exporter.Request{}},
		"finished": {`{"1": {"End Time": 5.0, "Processing Time": 1, "Request-Line": "GET / HTTP/1.1"}}`, false, []exporter.Request{}},
		"running":  {`{"1": {"End Time": null, "Processing Time": 1.5, "Request-Line": "POST /a/7?x HTTP/1.1"}}`, false, []exporter.Request{{Method: "POST", Target: "/a/7?x", AgeSeconds: 1.5}}},
		// A request whose line cannot be read still holds a worker: route "other".
		"bad line":    {`{"1": {"End Time": null, "Processing Time": 1, "Request-Line": "garbage"}}`, false, []exporter.Request{{AgeSeconds: 1}}},
		"no line":     {`{"1": {"End Time": null, "Processing Time": 2}}`, false, []exporter.Request{{AgeSeconds: 2}}},
		"no time":     {`{"1": {"End Time": null, "Request-Line": "GET / HTTP/1.1"}}`, true, nil},
		"negative":    {`{"1": {"End Time": null, "Processing Time": -1, "Request-Line": "GET / HTTP/1.1"}}`, true, nil},
		"wrong types": {`{"1": {"End Time": null, "Processing Time": "x"}}`, true, nil},
	} {
		t.Run(name, func(t *testing.T) {
			pools, skipped, err := Parse(cpstatsPage(c.requests))
			if err != nil || len(pools) != 1 {
				t.Fatalf("Parse: %d pools, %v", len(pools), err)
			}
			if got := pools[0].Running; (len(skipped) > 0) != c.bad || !reflect.DeepEqual(got, c.want) {
				t.Errorf("running %+v, skipped %v; want %+v, left out %v", got, skipped, c.want, c.bad)
			}
		})
	}
	// A request that cpstats could not name still holds a worker: it is counted in "other".
	got, _, err := exporter.Routes([]exporter.Request{{AgeSeconds: 1}, {Method: "GET", Target: "/", AgeSeconds: 2}}, 2, exporter.RouteOptions{Max: 5})
	if err != nil || !reflect.DeepEqual(got, []route.Stat{{Route: "GET /", Busy: 1, Oldest: 2}, {Route: route.Other, Busy: 1, Oldest: 1}}) {
		t.Errorf("Routes = %+v, %v", got, err)
	}
	// More requests than busy workers: the youngest are left out, so that the routes never
	// hold more workers than are busy.
	if got, dropped, _ := exporter.Routes([]exporter.Request{{AgeSeconds: 1}, {AgeSeconds: 3}}, 1, exporter.RouteOptions{Max: 5}); dropped != 1 || len(got) != 1 || got[0].Oldest != 3 {
		t.Errorf("2 requests on 1 busy worker: %+v, %d dropped", got, dropped)
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
		reqs := main.Running
		// At least the 2 held ones are queued (the readiness probe's connection may be too).
		if main.BusyWorkers == threads && main.QueuedTasks >= 2 && len(reqs) == threads {
			got, _, err := exporter.Routes(reqs, main.BusyWorkers, exporter.RouteOptions{Max: route.DefaultMax})
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
		var doc map[string]struct {
			Requests map[string]struct {
				RequestLine *string `json:"Request-Line"`
			}
		}
		// The servers' "Requests" is a number, not this shape: that type error is expected,
		// and the decoder still fills in the application's entry.
		var syntax *json.SyntaxError
		if err := json.Unmarshal(b, &doc); errors.As(err, &syntax) {
			continue
		}
		for _, r := range doc[appKey].Requests {
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
