package tomcat

import (
	"reflect"
	"testing"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/internal/route"
)

// The real Tomcat's capture gives the route series: the workers in service, by method and
// currentUri, aged by their requestProcessingTime.
func TestRoutesFromCaptures(t *testing.T) {
	sat, _, err := Parse(load(t, "saturated.xml"), 0)
	if err != nil {
		t.Fatal(err)
	}
	p := appPool(t, sat)
	got, dropped, err := exporter.Routes(p.Running, p.BusyWorkers, exporter.RouteOptions{})
	if err != nil || dropped != 0 {
		t.Fatalf("Routes: %v, %d dropped", err, dropped)
	}
	want := []route.Stat{{Route: "GET /slow.jsp", Busy: 4, Oldest: 1.112}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("routes %+v, want %+v", got, want)
	}
	idle, _, err := Parse(load(t, "idle.xml"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if p := appPool(t, idle); p.Running == nil || len(p.Running) != 0 {
		t.Errorf("idle: running %+v", p.Running)
	}
	// A worker whose request is not known yet ("?") is counted in "other".
	p = appPool(t, mustParse(t, sub(t, `method="GET" currentUri="/slow.jsp"`, `method="&#63;" currentUri="&#63;"`)))
	got, _, _ = exporter.Routes(p.Running, p.BusyWorkers, exporter.RouteOptions{})
	if len(got) != 2 || got[1].Route != route.Other || got[1].Busy != 1 {
		t.Errorf("with one unknown request: %+v", got)
	}
}

func mustParse(t *testing.T, data []byte) []exporter.Pool {
	t.Helper()
	pools, _, err := Parse(data, 0)
	if err != nil {
		t.Fatal(err)
	}
	return pools
}
