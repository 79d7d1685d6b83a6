package puma

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/pumatest"
	"github.com/poolwatch/poolwatch/internal/testproc"
)

// Re-capture the samples in testdata from a real Puma:
//
//	go test ./exporter/puma -run TestCapture -capture
//
// The unit tests then check the values each scenario implies (see parse_test.go); a capture
// that does not show them fails here instead of being written.
var capture = flag.Bool("capture", false, "re-capture testdata/*.json from a real Puma")

func TestCapture(t *testing.T) {
	if !*capture {
		t.Skip("run with -capture to re-capture testdata from Puma")
	}
	t.Run("single idle", func(t *testing.T) {
		srv := pumatest.Start(t, 0, 2, 2)
		writeWhen(t, srv, "single-idle.json", func(p []exporter.Pool) bool {
			return len(p) == 1 && p[0].BusyWorkers == 0
		})
	})
	t.Run("single saturated", func(t *testing.T) {
		srv := pumatest.Start(t, 0, 2, 2)
		srv.Occupy(t, 5, time.Second)
		writeWhen(t, srv, "single-saturated.json", func(p []exporter.Pool) bool {
			return len(p) == 1 && p[0].BusyWorkers == 2 && p[0].QueuedTasks == 3
		})
		srv.Release(t)
	})
	t.Run("cluster saturated", func(t *testing.T) {
		srv := pumatest.Start(t, 2, 2, 2)
		srv.OccupyOneByOne(t, 6, 200*time.Millisecond)
		writeWhen(t, srv, "cluster-saturated.json", func(p []exporter.Pool) bool {
			return len(p) == 2 && p[0].BusyWorkers == 2 && p[1].BusyWorkers == 2
		})
		srv.Release(t)
	})
}

// writeWhen writes the stats to testdata/name once ok accepts their pools.
func writeWhen(t *testing.T, srv *pumatest.Server, name string, ok func([]exporter.Pool) bool) {
	t.Helper()
	u, err := url.Parse(srv.StatsURL)
	if err != nil {
		t.Fatal(err)
	}
	testproc.WriteWhen(t, filepath.Join("testdata", name), func() ([]byte, bool, string) {
		body, err := testproc.HTTPGet(context.Background(), srv.StatsURL)
		if err != nil {
			t.Fatal(err)
		}
		pools, skipped, err := Parse(body, u.Host)
		if err != nil || len(skipped) > 0 {
			t.Fatalf("parse: %v %v", err, skipped)
		}
		return body, ok(pools), fmt.Sprintf("%+v", pools)
	})
}
