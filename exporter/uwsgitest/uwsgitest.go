// Package uwsgitest runs examples/uwsgi/app.py under Debian's uWSGI for tests, as
// net/http/httptest runs servers: a real uWSGI on free loopback ports, stopped when the test
// ends, and slow requests that hold its threads until the test releases them. It is meant
// for tests only.
package uwsgitest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/testproc"
)

// Binary is Debian's uWSGI; its python3 plugin comes from uwsgi-plugin-python3.
const Binary = "/usr/bin/uwsgi"

// Require skips (or fails in CI) when uWSGI or its python3 plugin is missing.
func Require(t testing.TB) {
	t.Helper()
	testproc.RequireTool(t, "uWSGI with the python3 plugin", "apt-get install uwsgi uwsgi-plugin-python3",
		Binary, "--plugin", "python3", "--python-version")
}

// AppPath is the example WSGI application's file.
func AppPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "uwsgi", "app.py")
}

// Options size the server. Listen is the socket's backlog (uWSGI's --listen).
type Options struct {
	Workers, Threads, Listen int
	// StatsUnix serves stats on a unix socket instead of TCP; StatsHTTP serves them over HTTP.
	StatsUnix, StatsHTTP bool
	// IPv6 binds the workers' HTTP socket on [::1] instead of 127.0.0.1.
	IPv6 bool
	// Cheaper, when > 0, starts uWSGI's cheaper mode with that many workers running at least
	// (--cheaper), the others stopped ("cheap") until load calls for them.
	Cheaper int
	// Harakiri, when > 0, has the master kill a worker whose request runs longer than that
	// many seconds (--harakiri), and start it again.
	Harakiri int
}

// Server is one running uWSGI.
type Server struct {
	// Addr is the HTTP socket the workers serve (host:port).
	Addr string
	// StatsTarget is the exporter's target for the stats server: tcp://, unix:// or http://.
	StatsTarget string

	release string
	proc    *testproc.Proc
}

// Start runs uWSGI with a master, o's workers and threads, serving HTTP on a free loopback
// port, and waits (at most 20 s) until the stats server and the workers answer.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	s := &Server{
		Addr:    testproc.HostPort(testproc.FreePort(t)),
		release: filepath.Join(dir, "release"),
	}
	if o.IPv6 {
		s.Addr = net.JoinHostPort("::1", strconv.Itoa(testproc.FreePort(t)))
	}
	stats := testproc.HostPort(testproc.FreePort(t))
	switch {
	case o.StatsUnix:
		stats = filepath.Join(dir, "stats.sock")
		s.StatsTarget = "unix://" + stats
	case o.StatsHTTP:
		s.StatsTarget = "http://" + stats + "/"
	default:
		s.StatsTarget = "tcp://" + stats
	}
	args := []string{"--plugin", "python3", "--master", "--die-on-term",
		"--wsgi-file", AppPath(), "--http-socket", s.Addr,
		"--processes", strconv.Itoa(o.Workers), "--threads", strconv.Itoa(o.Threads),
		"--listen", strconv.Itoa(o.Listen), "--stats", stats,
		"--worker-reload-mercy", "1", "--reload-mercy", "1"}
	if o.StatsHTTP {
		args = append(args, "--stats-http")
	}
	if o.Cheaper > 0 {
		args = append(args, "--cheaper", strconv.Itoa(o.Cheaper))
	}
	if o.Harakiri > 0 {
		args = append(args, "--harakiri", strconv.Itoa(o.Harakiri))
	}
	s.proc = testproc.Start(t, testproc.Spec{
		Name: "uwsgi", Path: Binary, Args: args, Dir: dir,
		Env:   []string{"POOLWATCH_RELEASE=" + s.release},
		Grace: 3 * time.Second,
	})
	// The workers load the app after the sockets are bound: wait for an answer, not a port.
	s.proc.WaitUntil(t, "uWSGI", 20*time.Second, func() error {
		if o.StatsUnix {
			c, err := net.DialTimeout("unix", stats, time.Second)
			if err != nil {
				return err
			}
			c.Close()
		} else if err := testproc.TCPReady(stats)(); err != nil {
			return err
		}
		return testproc.HTTPReady("http://"+s.Addr+"/", "ok")()
	})
	return s
}

// Stop ends uWSGI and returns once it is gone; calling it again does nothing.
func (s *Server) Stop(t testing.TB) { s.proc.Stop(t) }

// Log returns what uWSGI wrote so far.
func (s *Server) Log() string { return s.proc.Log() }

// Occupy opens n connections, each sending GET /slow?seconds=30, and does not read the
// answers: each takes a thread, or waits in the socket's accept queue when every thread is
// taken. The requests end at [Server.Release]; the connections are closed in t.Cleanup.
func (s *Server) Occupy(t testing.TB, n int) {
	t.Helper()
	testproc.HoldRequests(t, s.Addr, "/slow?seconds=30", n, 0)
}

// Release ends every slow request at once (the app polls for the release file).
func (s *Server) Release(t testing.TB) {
	t.Helper()
	if err := os.WriteFile(s.release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Get makes one fast request, so that the completed count moves.
func (s *Server) Get(t testing.TB) {
	t.Helper()
	if _, err := testproc.HTTPGet(t.Context(), fmt.Sprintf("http://%s/", s.Addr)); err != nil {
		t.Fatal(err)
	}
}
