package cherrypy

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/cherrypytest"
	"github.com/poolwatch/poolwatch/internal/testproc"
)

// Re-capture the samples in testdata from a real CherryPy:
//
//	go test ./exporter/cherrypy -run TestCapture -capture
//
// The unit tests then check the values each scenario implies (see parse_test.go); a capture
// that does not show them fails here instead of being written.
var capture = flag.Bool("capture", false, "re-capture testdata/*.json from a real CherryPy")

func TestCapture(t *testing.T) {
	if !*capture {
		t.Skip("run with -capture to re-capture testdata from CherryPy")
	}
	t.Run("idle", func(t *testing.T) {
		app := cherrypytest.Start(t, 4)
		for range 3 {
			app.Get(t, "/")
		}
		// Let the last request's End Time be written before reading.
		writeWhen(t, app, "idle.json", func(p []exporter.Pool) bool {
			return len(p) == 2 && p[0].BusyWorkers == 0 && p[0].TasksCompletedTotal["success"] == 3
		})
	})
	t.Run("saturated", func(t *testing.T) {
		app := cherrypytest.Start(t, 4)
		app.Get(t, "/")
		app.Occupy(t, 4+3, 30)
		writeWhen(t, app, "saturated.json", func(p []exporter.Pool) bool {
			return len(p) == 2 && p[0].BusyWorkers == 4 && p[0].QueuedTasks == 3 &&
				*p[0].OldestRunningTaskAgeSeconds > 0.5
		})
	})
	t.Run("servers", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "app.sock")
		app := cherrypytest.Start(t, 4, "--extra-bind", "[::1]:"+itoa(testproc.FreePort(t)),
			"--extra-bind", sock)
		app.Occupy(t, 1, 30)
		writeWhen(t, app, "servers.json", func(p []exporter.Pool) bool {
			return len(p) == 4 && p[0].BusyWorkers == 1
		})
	})
}

// writeWhen writes the app's stats to testdata/name once ok accepts their pools (sorted
// with the main pool first).
func writeWhen(t *testing.T, app *cherrypytest.App, name string, ok func([]exporter.Pool) bool) {
	t.Helper()
	testproc.WriteWhen(t, filepath.Join("testdata", name), func() ([]byte, bool, string) {
		body, err := testproc.HTTPGet(context.Background(), app.StatsURL)
		if err != nil {
			t.Fatal(err)
		}
		pools, skipped, err := Parse(body)
		if err != nil || len(skipped) > 0 {
			t.Fatalf("parse: %v %v", err, skipped)
		}
		sortMainFirst(pools)
		return body, ok(pools), fmt.Sprintf("%+v", pools)
	})
}
