package uwsgi

import (
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/uwsgitest"
	"github.com/poolwatch/poolwatch/internal/testproc"
)

// Re-capture the samples in testdata from a real uWSGI:
//
//	go test ./exporter/uwsgi -run TestCapture -capture
//
// The unit tests then check the values each scenario implies (see parse_test.go); a capture
// that does not show them fails here instead of being written.
var capture = flag.Bool("capture", false, "re-capture testdata/*.json from a real uWSGI")

func TestCapture(t *testing.T) {
	if !*capture {
		t.Skip("run with -capture to re-capture testdata from uWSGI")
	}
	t.Run("idle", func(t *testing.T) {
		srv := uwsgitest.Start(t, uwsgitest.Options{Workers: 2, Threads: 2, Listen: 4})
		srv.Get(t)
		srv.Get(t)
		writeWhen(t, srv, "idle.json", func(p exporter.Pool) bool {
			return p.BusyWorkers == 0 && !p.QueueNotMeasured && p.TasksCompletedTotal["success"] >= 2
		})
	})
	t.Run("saturated", func(t *testing.T) {
		srv := uwsgitest.Start(t, uwsgitest.Options{Workers: 2, Threads: 2, Listen: 4})
		srv.Occupy(t, 4+5)
		time.Sleep(1100 * time.Millisecond)
		writeWhen(t, srv, "saturated.json", func(p exporter.Pool) bool {
			return p.BusyWorkers == 4 && p.QueuedTasks == 5 && *p.OldestRunningTaskAgeSeconds >= 1
		})
		srv.Release(t)
	})
}

// writeWhen writes the stats to testdata/name once ok accepts their pool.
func writeWhen(t *testing.T, srv *uwsgitest.Server, name string, ok func(exporter.Pool) bool) {
	t.Helper()
	addr := strings.TrimPrefix(srv.StatsTarget, "tcp://")
	testproc.WriteWhen(t, filepath.Join("testdata", name), func() ([]byte, bool, string) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(conn)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(body, addr, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return body, ok(p), fmt.Sprintf("%+v", p)
	})
}
