// Package pumatest runs examples/puma/config.ru under Debian's Puma for tests, as
// net/http/httptest runs servers: a real Puma with its control app on free loopback ports,
// in single or cluster mode, stopped when the test ends, and slow requests that hold its
// threads until the test releases them. It is meant for tests only.
package pumatest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/testproc"
)

// Binary is Debian's Puma.
const Binary = "/usr/bin/puma"

// Token is the control app's token the servers are started with.
const Token = "poolwatch-test-token"

// Require skips (or fails in CI) when Puma is missing.
func Require(t testing.TB) {
	t.Helper()
	testproc.RequireTool(t, "Puma", "apt-get install puma", Binary, "--version")
}

// AppPath is the example Rack application's file.
func AppPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "puma", "config.ru")
}

// Server is one running Puma.
type Server struct {
	// Addr is where the application listens (host:port).
	Addr string
	// StatsURL is the control app's /stats with the token: the exporter's target.
	StatsURL string

	release string
	proc    *testproc.Proc
}

// Start runs Puma with minThreads to maxThreads threads per pool (-t min:max), in single mode
// when workers is 0 or in cluster mode with that many worker processes, and waits (at most 30 s) until the control
// app answers and, in cluster mode, every worker has reported its status. Workers report
// every second (worker_check_interval 1) instead of Puma's default 5 s, to keep tests short.
func Start(t testing.TB, workers, minThreads, maxThreads int) *Server {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	s := &Server{Addr: testproc.HostPort(testproc.FreePort(t)), release: filepath.Join(dir, "release")}
	control := testproc.HostPort(testproc.FreePort(t))
	s.StatsURL = fmt.Sprintf("http://%s/stats?token=%s", control, Token)
	config := filepath.Join(dir, "puma.rb")
	if err := os.WriteFile(config, []byte("worker_check_interval 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.proc = testproc.Start(t, testproc.Spec{
		Name: "puma", Path: Binary, Dir: dir,
		Args: []string{"-C", config, "-b", "tcp://" + s.Addr,
			"-t", fmt.Sprintf("%d:%d", minThreads, maxThreads), "-w", strconv.Itoa(workers),
			"--control-url", "tcp://" + control, "--control-token", Token, AppPath()},
		Env:   []string{"POOLWATCH_RELEASE=" + s.release},
		Grace: 3 * time.Second,
	})
	s.proc.WaitUntil(t, "Puma", 30*time.Second, func() error {
		body, err := testproc.HTTPGet(t.Context(), s.StatsURL)
		if err != nil {
			return err
		}
		if workers > 0 {
			if err := checkedIn(body, workers); err != nil {
				return err
			}
		}
		return testproc.HTTPReady("http://"+s.Addr+"/", "ok")()
	})
	return s
}

// checkedIn reports whether n workers have sent their first status to the master.
func checkedIn(body []byte, n int) error {
	var doc struct {
		WorkerStatus []struct {
			LastStatus map[string]any `json:"last_status"`
		} `json:"worker_status"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return err
	}
	reported := 0
	for _, w := range doc.WorkerStatus {
		if len(w.LastStatus) > 0 {
			reported++
		}
	}
	if reported < n {
		return errors.New(strconv.Itoa(reported) + " of " + strconv.Itoa(n) + " workers reported")
	}
	return nil
}

// Stop ends Puma and returns once it is gone; calling it again does nothing.
func (s *Server) Stop(t testing.TB) { s.proc.Stop(t) }

// Log returns what Puma wrote so far.
func (s *Server) Log() string { return s.proc.Log() }

// Occupy opens n connections, each sending GET /slow?seconds=30, and does not read the
// answers. The requests end at [Server.Release]; the connections are closed in t.Cleanup.
// With settle > 0 the connections are all opened first and the requests sent settle later:
// a single-mode Puma then accepts them all into its reactor while its threads are free, and
// the requests beyond its threads wait in its backlog instead of the kernel's.
func (s *Server) Occupy(t testing.TB, n int, settle time.Duration) {
	t.Helper()
	testproc.HoldRequests(t, s.Addr, "/slow?seconds=30", n, settle)
}

// OccupyOneByOne sends n slow requests like [Server.Occupy], one at a time, gap apart. In
// cluster mode a worker whose threads are all busy stops accepting, so requests sent apart
// go to a worker with a free thread; sent in a burst, one worker may accept them all into its
// backlog while another stays idle (which its pool then shows).
func (s *Server) OccupyOneByOne(t testing.TB, n int, gap time.Duration) {
	t.Helper()
	for range n {
		testproc.HoldRequests(t, s.Addr, "/slow?seconds=30", 1, 0)
		time.Sleep(gap)
	}
}

// Release ends every slow request at once (the app polls for the release file).
func (s *Server) Release(t testing.TB) {
	t.Helper()
	if err := os.WriteFile(s.release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
