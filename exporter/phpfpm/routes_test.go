package phpfpm

import (
	"reflect"
	"testing"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/internal/route"
)

// The captures of the real PHP-FPM give the route series: every process in a request, by
// its method and URI, as many as the busy workers.
func TestRoutesFromCaptures(t *testing.T) {
	for _, tc := range []struct {
		file  string
		route string
		busy  int
		age   float64 // at least
	}{
		{"saturated.json", "GET /slow.php", 3, 0.3},
		{"unix.json", "GET /slow.php", 2, 1},
		// Served by the main pool, the status request is the one request running.
		{"mainpool.json", "GET /status", 1, 0},
	} {
		t.Run(tc.file, func(t *testing.T) {
			p, err := Parse(readCapture(t, tc.file), capacity(3))
			if err != nil {
				t.Fatal(err)
			}
			got, dropped, err := exporter.Routes(p.Running, p.BusyWorkers, exporter.RouteOptions{})
			if err != nil || dropped != 0 {
				t.Fatalf("Routes: %v, %d dropped", err, dropped)
			}
			if len(got) != 1 || got[0].Route != tc.route || got[0].Busy != tc.busy || got[0].Oldest < tc.age ||
				got[0].Oldest != *p.OldestRunningTaskAgeSeconds {
				t.Errorf("routes %+v, want %s holding %d, oldest >= %v and the pool's oldest %v",
					got, tc.route, tc.busy, tc.age, *p.OldestRunningTaskAgeSeconds)
			}
		})
	}
	// Idle: no request, no route.
	p, err := Parse(readCapture(t, "idle.json"), capacity(3))
	if err != nil || p.Running == nil || len(p.Running) != 0 {
		t.Errorf("idle: running %+v (nil: %v), %v", p.Running, p.Running == nil, err)
	}
}

// Requests without a URI count in "other"; a child in "Reading headers" runs nothing (a kept
// connection waiting for its next request) and is in no route.
func TestRoutesWithoutURI(t *testing.T) {
	p, err := Parse([]byte(minimal), capacity(4))
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := exporter.Routes(p.Running, p.BusyWorkers, exporter.RouteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []route.Stat{{Route: route.Other, Busy: 2, Oldest: 2.5}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("routes %+v, want %+v", got, want)
	}
}
