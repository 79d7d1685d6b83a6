// Package cherrypytest runs examples/cherrypy/app.py for tests, as net/http/httptest runs
// servers: a real CherryPy on free loopback ports, stopped when the test ends, and raw slow
// requests that occupy its threads. It is meant for tests only.
package cherrypytest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Python is Debian's interpreter, the one that has python3-cherrypy3 (the python3 on PATH
// may be another one without it).
const Python = "/usr/bin/python3"

// RequireTools skips t when program cannot run, unless POOLWATCH_REQUIRE_TOOLS=1 (CI), where
// a missing tool must fail rather than let a test pass by being skipped.
func RequireTools(t testing.TB, what string, program string, args ...string) {
	t.Helper()
	out, err := exec.Command(program, args...).CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%s is not available (%s %v: %v: %s)", what, program, args, err, out)
	if os.Getenv("POOLWATCH_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; install it or set POOLWATCH_REQUIRE_TOOLS=1 to make this a failure")
}

// RequireCherryPy skips (or fails in CI) when Debian's python3-cherrypy3 is missing.
func RequireCherryPy(t testing.TB) {
	t.Helper()
	RequireTools(t, "CherryPy under "+Python, Python, "-c", "import cherrypy, cheroot")
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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

	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// Start runs the example app with a main pool of threads, and extra arguments, and waits
// (at most 20 s) until its stats page answers. It is stopped in t.Cleanup.
func Start(t testing.TB, threads int, extra ...string) *App {
	t.Helper()
	RequireCherryPy(t)
	a := &App{Port: FreePort(t), StatsPort: FreePort(t), done: make(chan struct{})}
	a.StatsURL = fmt.Sprintf("http://127.0.0.1:%d/cpstats/data", a.StatsPort)
	a.log = filepath.Join(t.TempDir(), "app.log")
	logFile, err := os.Create(a.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	args := append([]string{AppPath(), "--host", "127.0.0.1",
		"--port", strconv.Itoa(a.Port), "--stats-port", strconv.Itoa(a.StatsPort),
		"--threads", strconv.Itoa(threads)}, extra...)
	a.cmd = exec.Command(Python, args...)
	// A file, not a buffer: exec then needs no copying goroutine.
	a.cmd.Stdout, a.cmd.Stderr = logFile, logFile
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() { a.Stop(t) })

	deadline := time.Now().Add(20 * time.Second)
	client := &http.Client{Timeout: time.Second, Transport: noKeepAlive()}
	for {
		// Both servers: the engine starts them one after the other.
		resp, err := client.Get(a.StatsURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				var conn net.Conn
				if conn, err = net.DialTimeout("tcp", a.mainAddr(), time.Second); err == nil {
					conn.Close()
					return a
				}
			}
		}
		select {
		case <-a.done:
			t.Fatalf("CherryPy exited before it was ready:\n%s", a.Log())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("CherryPy not ready after 20s (last error %v):\n%s", err, a.Log())
		}
	}
}

// Log returns what the app wrote so far.
func (a *App) Log() string {
	b, _ := os.ReadFile(a.log)
	return string(b)
}

// Stop sends SIGTERM and, if the app has not exited 10 s later, kills it. It returns once
// the process is gone; calling it again does nothing.
func (a *App) Stop(t testing.TB) {
	t.Helper()
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		t.Errorf("CherryPy ignored SIGTERM for 10s; killing it:\n%s", a.Log())
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}

// Occupy opens n connections to the main server, each sending GET /slow?seconds=s, and
// does not read the answers. They are closed in t.Cleanup. Each connection takes a thread,
// or waits in cheroot's queue when every thread is taken.
func (a *App) Occupy(t testing.TB, n int, seconds float64) {
	t.Helper()
	for range n {
		conn, err := net.DialTimeout("tcp", a.mainAddr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_, err = fmt.Fprintf(conn, "GET /slow?seconds=%g HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", seconds)
		if err != nil {
			t.Fatal(err)
		}
	}
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
