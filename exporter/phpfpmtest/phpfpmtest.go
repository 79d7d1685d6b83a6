// Package phpfpmtest runs a real PHP-FPM (Debian's php-fpm package) for tests: one pool on
// free loopback ports with a configuration written to a temporary directory, a slow PHP
// script, and raw FastCGI requests that occupy its workers. It is meant for tests only.
package phpfpmtest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/testproc"
)

// Pool is the name of the pool the tests run.
const Pool = "www"

// Binary finds Debian's php-fpm, whose name carries the PHP version (php-fpm8.2), or skips
// (fails in CI) without it.
func Binary(t testing.TB) string {
	t.Helper()
	found, _ := filepath.Glob("/usr/sbin/php-fpm*")
	sort.Strings(found)
	if len(found) == 0 {
		testproc.MissingTool(t, "PHP-FPM", "apt-get install php-fpm", "no /usr/sbin/php-fpm*")
	}
	bin := found[len(found)-1]
	testproc.RequireTool(t, "PHP-FPM", "apt-get install php-fpm", bin, "-v")
	return bin
}

// Options shape the pool.
type Options struct {
	// MaxChildren is pm.max_children.
	MaxChildren int
	// OnDemand makes the pool start children only for requests (pm = ondemand) instead of
	// all of them at once (pm = static).
	OnDemand bool
	// Backlog is listen.backlog of the main pool's socket.
	Backlog int
	// Unix makes the main pool and the status pool listen on unix sockets instead of TCP.
	Unix bool
}

// Server is one running PHP-FPM.
type Server struct {
	// ConfPath is the configuration file, with the [www] pool in it.
	ConfPath string
	// Network is "tcp" or "unix"; Addr is the main pool's listener and StatusAddr the
	// pm.status_listen one, which serves the main pool's status from its own small pool.
	Network, Addr, StatusAddr string
	// Dir holds the configuration, the scripts and the sockets.
	Dir string

	proc *testproc.Proc
}

// Start runs PHP-FPM in the foreground with a pool of at most opts.MaxChildren children and
// waits (at most 15 s) until both of its listeners accept connections. The status path is
// /status on both. It is stopped in t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Binary(t)
	s := &Server{Dir: t.TempDir(), Network: "tcp"}
	if opts.Unix {
		s.Network = "unix"
		s.Addr, s.StatusAddr = filepath.Join(s.Dir, "www.sock"), filepath.Join(s.Dir, "status.sock")
	} else {
		s.Addr, s.StatusAddr = testproc.HostPort(testproc.FreePort(t)), testproc.HostPort(testproc.FreePort(t))
	}
	s.ConfPath = filepath.Join(s.Dir, "php-fpm.conf")
	pm := "static"
	if opts.OnDemand {
		pm = "ondemand"
	}
	conf := fmt.Sprintf(`[global]
pid = %[1]s/php-fpm.pid
error_log = /proc/self/fd/2
daemonize = no

[%[2]s]
listen = %[3]s
listen.backlog = %[4]d
pm = %[7]s
pm.max_children = %[5]d
pm.process_idle_timeout = 1s
pm.status_path = /status
pm.status_listen = %[6]s
catch_workers_output = yes
`, s.Dir, Pool, s.Addr, opts.Backlog, opts.MaxChildren, s.StatusAddr, pm)
	write(t, s.ConfPath, conf)
	write(t, filepath.Join(s.Dir, "slow.php"), "<?php usleep((int)(1e6 * (float)($_GET['seconds'] ?? 1))); echo \"done\\n\";\n")

	args := []string{"-F", "-y", s.ConfPath, "-p", s.Dir}
	if os.Geteuid() == 0 {
		// As root PHP-FPM wants a user for its children; -R lets them run as root instead,
		// which can read the test's private temporary directory.
		args = append(args, "-R")
	}
	s.proc = testproc.Start(t, testproc.Spec{Name: "php-fpm", Path: bin, Args: args, Dir: s.Dir, Grace: 5 * time.Second})
	// Ready once the status listener accepts: PHP-FPM's master binds and listens on every
	// socket before it starts any pool, so the main one is listening too. Only the status
	// listener is probed, because a connection to the main pool counts as an accepted request
	// once a child takes it, and would shift the tests' counts at a time of its choosing.
	s.proc.WaitUntil(t, "PHP-FPM", 15*time.Second, func() error {
		conn, err := net.DialTimeout(s.Network, s.StatusAddr, time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	})
	return s
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// StatusTarget is the exporter target for the status pool's listener, with the capacity.
func (s *Server) StatusTarget(maxChildren int) string {
	if s.Network == "unix" {
		return fmt.Sprintf("fastcgi+unix://%s?path=/status&max_children=%d", s.StatusAddr, maxChildren)
	}
	return fmt.Sprintf("fastcgi://%s/status?max_children=%d", s.StatusAddr, maxChildren)
}

// MainTarget is the exporter target for the main pool's own listener: its status is then
// served by one of the workers it counts.
func (s *Server) MainTarget(maxChildren int) string {
	if s.Network == "unix" {
		return fmt.Sprintf("fastcgi+unix://%s?path=/status&max_children=%d", s.Addr, maxChildren)
	}
	return fmt.Sprintf("fastcgi://%s/status?max_children=%d", s.Addr, maxChildren)
}

// Log returns what PHP-FPM wrote so far.
func (s *Server) Log() string { return s.proc.Log() }

// Stop ends PHP-FPM and returns once it is gone; calling it again does nothing.
func (s *Server) Stop(t testing.TB) { s.proc.Stop(t) }

// Occupy sends n requests for slow.php?seconds=seconds to the main pool with
// [testproc.Hold], which closes each connection once PHP-FPM has answered, as a web server
// does. Each request takes a child, or waits in the listen queue when every child is taken.
func (s *Server) Occupy(t testing.TB, n int, seconds float64) {
	t.Helper()
	testproc.Hold(t, s.Network, s.Addr, n, 0, s.request("/slow.php", "seconds="+strconv.FormatFloat(seconds, 'f', -1, 64)))
}

// Get runs slow.php for 0 s and waits for its answer, so that the count of ended requests
// moves.
func (s *Server) Get(t testing.TB) {
	t.Helper()
	if err := s.Request(0); err != nil {
		t.Fatal(err)
	}
}

// Request runs slow.php for seconds and waits (at most seconds + 10 s) for its answer. It
// reports failure as an error, so that load goroutines can use it.
func (s *Server) Request(seconds float64) error {
	conn, err := net.DialTimeout(s.Network, s.Addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Duration((seconds + 10) * float64(time.Second))))
	if _, err := conn.Write(s.request("/slow.php", "seconds="+strconv.FormatFloat(seconds, 'f', -1, 64))); err != nil {
		return err
	}
	// Without FCGI_KEEP_CONN PHP-FPM closes the connection once the request has ended.
	out, err := io.ReadAll(conn)
	if err != nil {
		return err
	}
	if !bytes.Contains(out, []byte("done")) {
		return fmt.Errorf("slow.php did not answer: %q", out)
	}
	return nil
}

// request encodes one FastCGI responder request (spec section 5) for script with query, on
// its own, independent of the exporter's client so that each checks the other.
func (s *Server) request(script, query string) []byte {
	var b bytes.Buffer
	record := func(typ byte, content []byte) {
		b.Write([]byte{1, typ, 0, 1, byte(len(content) >> 8), byte(len(content)), 0, 0})
		b.Write(content)
	}
	record(1, []byte{0, 1, 0, 0, 0, 0, 0, 0}) // BEGIN_REQUEST, responder, no keep-alive
	var params bytes.Buffer
	for _, kv := range [][2]string{
		{"REQUEST_METHOD", "GET"},
		{"SCRIPT_FILENAME", filepath.Join(s.Dir, script)},
		{"SCRIPT_NAME", script},
		{"REQUEST_URI", script + "?" + query},
		{"QUERY_STRING", query},
	} {
		// Names and values shorter than 128 bytes take one length byte each.
		if len(kv[1]) >= 128 {
			panic("phpfpmtest: FastCGI parameter too long for this encoder: " + kv[1])
		}
		params.Write([]byte{byte(len(kv[0])), byte(len(kv[1]))})
		params.WriteString(kv[0] + kv[1])
	}
	record(4, params.Bytes()) // PARAMS
	record(4, nil)            // end of PARAMS
	record(5, nil)            // empty STDIN
	return b.Bytes()
}
