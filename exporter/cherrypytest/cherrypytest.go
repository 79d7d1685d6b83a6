// Package cherrypytest runs examples/cherrypy/app.py for tests, as net/http/httptest runs
// servers: a real CherryPy on free loopback ports, stopped when the test ends, and raw slow
// requests that occupy its threads. It is meant for tests only.
package cherrypytest

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/testproc"
)

// Python is Debian's interpreter, the one that has python3-cherrypy3 (the python3 on PATH
// may be another one without it).
const Python = "/usr/bin/python3"

// RequireCherryPy skips (or fails in CI) when Debian's python3-cherrypy3 is missing.
func RequireCherryPy(t testing.TB) {
	t.Helper()
	testproc.RequireTool(t, "CherryPy under "+Python, "apt-get install python3-cherrypy3", Python, "-c", "import cherrypy, cheroot")
}

// AppPath is the example application's file.
func AppPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "cherrypy", "app.py")
}

// App is one running example application.
type App struct {
	Port      int
	StatsPort int
	// StatsURL is the cpstats JSON served by the small stats server.
	StatsURL string

	proc *testproc.Proc
}

// Start runs the example app with a main pool of threads, and extra arguments, and waits
// (at most 20 s) until both its servers answer. It is stopped in t.Cleanup.
func Start(t testing.TB, threads int, extra ...string) *App {
	t.Helper()
	RequireCherryPy(t)
	a := &App{Port: testproc.FreePort(t), StatsPort: testproc.FreePort(t)}
	a.StatsURL = fmt.Sprintf("http://127.0.0.1:%d/cpstats/data", a.StatsPort)
	a.proc = testproc.Start(t, testproc.Spec{
		Name: "cherrypy",
		Path: Python,
		Args: append([]string{AppPath(), "--host", "127.0.0.1",
			"--port", strconv.Itoa(a.Port), "--stats-port", strconv.Itoa(a.StatsPort),
			"--threads", strconv.Itoa(threads)}, extra...),
	})
	// Both servers: the engine starts them one after the other.
	statsReady, mainReady := testproc.HTTPReady(a.StatsURL, ""), testproc.TCPReady(a.mainAddr())
	a.proc.WaitUntil(t, "CherryPy", 20*time.Second, func() error {
		if err := statsReady(); err != nil {
			return err
		}
		return mainReady()
	})
	return a
}

// Log returns what the app wrote so far.
func (a *App) Log() string { return a.proc.Log() }

// Stop ends the app (SIGTERM, then SIGKILL after 10 s) and returns once it is gone; calling
// it again does nothing.
func (a *App) Stop(t testing.TB) { a.proc.Stop(t) }

// Occupy is [App.Hold] on /slow?seconds=s: each of the n requests takes a thread, or waits
// in cheroot's queue when every thread is taken.
func (a *App) Occupy(t testing.TB, n int, seconds float64) {
	t.Helper()
	a.Hold(t, n, fmt.Sprintf("/slow?seconds=%g", seconds))
}

// Get makes one fast request to the main server, so that the completed count moves.
func (a *App) Get(t testing.TB, path string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: noKeepAlive()}).Get(fmt.Sprintf("http://127.0.0.1:%d%s", a.Port, path))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
}

// noKeepAlive makes a transport that leaves no idle connection (nor its goroutines) behind,
// so that goleak sees a clean test.
func noKeepAlive() *http.Transport {
	return &http.Transport{DisableKeepAlives: true}
}

func (a *App) mainAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port)) }
