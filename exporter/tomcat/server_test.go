package tomcat

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/tomcattest"
)

// Re-capture the samples in testdata from a real Tomcat while TestServer runs:
//
//	go test ./exporter/tomcat -run TestServer -capture
//
// The unit tests then check the values each scenario implies (see parse_test.go).
var capture = flag.Bool("capture", false, "re-capture testdata/*.xml from a real Tomcat")

func read(t *testing.T, target string) ([]exporter.Pool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	return Source{}.Read(ctx, exporter.NewReader(client), target, slog.New(slog.DiscardHandler))
}

func find(pools []exporter.Pool, name string) (exporter.Pool, bool) {
	for _, p := range pools {
		if p.Name == name {
			return p, true
		}
	}
	return exporter.Pool{}, false
}

// waitFor reads target until ok accepts the application's pool, for at most 10 s, and
// writes the page to testdata/capture when -capture is given.
func waitFor(t *testing.T, srv *tomcattest.Server, target, what, capture string, ok func(exporter.Pool) bool) exporter.Pool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pools, err := read(t, target)
		p, found := find(pools, srv.Connector)
		if err == nil && found && ok(p) {
			writeCapture(t, srv, capture)
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s; last read: %+v, err %v", what, pools, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func writeCapture(t *testing.T, srv *tomcattest.Server, name string) {
	t.Helper()
	if !*capture || name == "" {
		return
	}
	body, err := srv.Status(t)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", name), body, 0o644); err != nil {
		t.Fatal(err)
	}
}

// One Tomcat (a JVM start is slow) with 4 threads on the application's connector: 6 slow
// requests take the 4 threads (the other 2 wait in the executor's queue, which the page does
// not show); the pool reads exhausted with an aging oldest request, then recovers once the
// requests are released; the status connector is a pool of its own; a stopped Tomcat fails
// the read.
func TestServer(t *testing.T) {
	const threads = 4
	srv := tomcattest.Start(t, threads)
	target := "http://" + tomcattest.User + ":" + tomcattest.Password + "@" + srv.StatusAddr + "/manager/status?XML=true"

	idle := waitFor(t, srv, target, "an idle pool", "idle.xml", func(p exporter.Pool) bool { return p.BusyWorkers == 0 })
	done := idle.TasksCompletedTotal["success"]
	if idle.MaxWorkers != threads || !idle.QueueNotMeasured || *idle.OldestRunningTaskAgeSeconds != 0 || done < 1 {
		t.Errorf("idle pool = %+v", idle)
	}

	srv.Occupy(t, threads+2)
	exhausted := func(p exporter.Pool) bool { return p.BusyWorkers == threads && p.Workers == threads }
	waitFor(t, srv, target, "4 busy of 4", "", exhausted)
	// Only once every thread is taken: on a loaded machine the requests may take a while to
	// reach their threads, and the age below counts from there.
	time.Sleep(1100 * time.Millisecond)
	p := waitFor(t, srv, target, "4 busy of 4", "saturated.xml", exhausted)
	if age := *p.OldestRunningTaskAgeSeconds; age < 1 || age > 10 {
		t.Errorf("oldest running age %v s after > 1 s of slow requests", age)
	}
	if p.TasksCompletedTotal["success"] != done {
		t.Errorf("completed moved from %v to %v while requests only started", done, p.TasksCompletedTotal["success"])
	}
	pools, err := read(t, target)
	if err != nil {
		t.Fatal(err)
	}
	if status, ok := find(pools, srv.StatusConnector); !ok || status.MaxWorkers != 2 || status.BusyWorkers < 1 {
		t.Errorf("status connector pool = %+v (found %v), want 2 threads, the status request busy", status, ok)
	}

	srv.Release(t)
	waitFor(t, srv, target, "the pool idle again", "", func(p exporter.Pool) bool {
		return p.BusyWorkers == 0 && *p.OldestRunningTaskAgeSeconds == 0 &&
			p.TasksCompletedTotal["success"] == done+threads+2
	})

	if _, err := read(t, strings.Replace(target, tomcattest.Password, "wrong", 1)); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong password: err %v, want a 401", err)
	}
	srv.Stop(t)
	if _, err := read(t, target); err == nil {
		t.Error("reading a stopped Tomcat succeeded")
	}
}

// A connector on a shared <Executor> shows maxThreads -1 on the status page (Tomcat's
// AbstractEndpoint.getMaxThreads has no bound to give for an executor it does not own): its
// capacity comes from the target's executor_max_threads, and without it the connector is
// left out, the other connectors still read.
func TestServerOnExecutor(t *testing.T) {
	const threads = 4
	srv := tomcattest.StartOnExecutor(t, threads)
	base := "http://" + tomcattest.User + ":" + tomcattest.Password + "@" + srv.StatusAddr + "/manager/status?XML=true"
	target := base + "&executor_max_threads=4"

	pools, err := read(t, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := find(pools, srv.Connector); ok {
		t.Errorf("the executor's connector read without a capacity: %+v", pools)
	}
	if _, ok := find(pools, srv.StatusConnector); !ok {
		t.Errorf("the status connector is missing: %+v", pools)
	}

	srv.Occupy(t, threads+2)
	p := waitFor(t, srv, target, "4 busy of 4", "executor.xml", func(p exporter.Pool) bool {
		return p.BusyWorkers == threads
	})
	if p.MaxWorkers != threads || p.Workers != threads || !p.QueueNotMeasured {
		t.Errorf("exhausted pool on the executor = %+v", p)
	}
	srv.Release(t)
	waitFor(t, srv, target, "the pool idle again", "", func(p exporter.Pool) bool { return p.BusyWorkers == 0 })
}
