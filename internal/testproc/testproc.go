// Package testproc runs real programs for tests: a free loopback port, a process started in
// its own process group with its output in a file, a readiness wait with a deadline, and a
// stop (SIGTERM, then SIGKILL) registered in t.Cleanup that also runs when the test fails.
// It also decides what a test does when a program it needs is missing: skip on a developer's
// machine, fail in CI (POOLWATCH_REQUIRE_TOOLS=1), so that nothing passes by being skipped.
//
// Every test in the project that starts a process or picks a port uses this package, so that
// there is one place where processes are started and, above all, stopped.
package testproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireEnv is the variable that turns a missing program from a skip into a failure.
const RequireEnv = "POOLWATCH_REQUIRE_TOOLS"

// DefaultGrace is how long a process may take to exit after SIGTERM before it is killed.
// Prometheus flushes its head block on shutdown, which takes a moment even when tiny.
const DefaultGrace = 10 * time.Second

// Required reports whether missing programs must fail tests (CI) rather than skip them.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// RequireTool runs program with args (a cheap command such as --version) and, if that fails,
// skips t naming what is missing and how to get it, or fails t when [Required]. install is
// the hint shown to the user, e.g. "apt-get install prometheus" or "make tools".
func RequireTool(t testing.TB, what, install, program string, args ...string) {
	t.Helper()
	out, err := exec.Command(program, args...).CombinedOutput()
	if err == nil {
		return
	}
	MissingTool(t, what, install, fmt.Sprintf("%s %s: %v: %s", program, strings.Join(args, " "), err, bytes.TrimSpace(out)))
}

// MissingTool skips t (or fails it when [Required]) for a missing program, with the reason.
func MissingTool(t testing.TB, what, install, reason string) {
	t.Helper()
	msg := fmt.Sprintf("%s is not available (%s)", what, reason)
	if install != "" {
		msg += "; install it: " + install
	}
	if Required() {
		t.Fatal(msg)
	}
	t.Skip(msg + "; " + RequireEnv + "=1 makes this a failure")
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a moment ago and that
// this test binary has not handed out before. The kernel offers the port it just freed again
// about once in 7,000 calls, and a server started with two ports (its own and its stats
// page's) then fails to bind the second; the race with other programs is the usual price of
// handing a port to a child process.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if _, taken := handedOut.LoadOrStore(port, true); !taken {
			return port
		}
	}
	t.Fatal("find a free port: the kernel offered only ports handed out before")
	return 0
}

// handedOut holds every port FreePort returned in this process.
var handedOut sync.Map

// HostPort formats a loopback address for port.
func HostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// Spec says what to start.
type Spec struct {
	// Name identifies the process in logs and names its log file.
	Name string
	// Path is the program; Args its arguments.
	Path string
	Args []string
	// Dir is the working directory and where the log file goes; t.TempDir() when empty.
	Dir string
	// Env is added to the test's environment.
	Env []string
	// Grace is the time between SIGTERM and SIGKILL; DefaultGrace when zero.
	Grace time.Duration
}

// Proc is one program a test started. Its output goes to a file, not a pipe, so that no
// copying goroutine outlives the test and the log survives for the failure dump.
type Proc struct {
	Name    string
	LogPath string

	cmd     *exec.Cmd
	grace   time.Duration
	exited  chan struct{} // closed once Wait returned
	waitErr error         // valid after exited is closed
}

// Start starts the program and registers a cleanup that stops it and, if the test failed,
// logs the tail of its output. The process gets its own process group so that a stop also
// reaches any child it started (php-fpm, apache and tomcat fork workers).
func Start(t testing.TB, s Spec) *Proc {
	t.Helper()
	if s.Dir == "" {
		s.Dir = t.TempDir()
	}
	if s.Grace == 0 {
		s.Grace = DefaultGrace
	}
	logPath := filepath.Join(s.Dir, s.Name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("create log for %s: %v", s.Name, err)
	}
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = s.Dir
	if len(s.Env) > 0 {
		cmd.Env = append(os.Environ(), s.Env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s (%s): %v", s.Name, s.Path, err)
	}
	// The child holds its own descriptor now; ours was only needed to start it.
	logFile.Close()

	p := &Proc{Name: s.Name, LogPath: logPath, cmd: cmd, grace: s.Grace, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Logf("started %s (pid %d): %s %s", s.Name, cmd.Process.Pid, s.Path, strings.Join(s.Args, " "))
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("--- last lines of %s's log (%s) ---\n%s", s.Name, logPath, p.Tail(40))
		}
	})
	return p
}

// Pid is the process's id (and its process group's).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Stop asks the process group to terminate and waits for the process, killing the group if
// it does not exit within its grace period. It is safe to call more than once.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(p.grace):
	}
	t.Logf("%s did not exit %v after SIGTERM; killing it", p.Name, p.grace)
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.exited
}

// Signal sends sig to the process alone (not its group), e.g. SIGHUP for a reload.
func (p *Proc) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Running returns an error if the process has already exited, with the reason.
func (p *Proc) Running() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited early: %v", p.Name, p.waitErr)
	default:
		return nil
	}
}

// Log returns everything the process wrote so far.
func (p *Proc) Log() string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	return string(data)
}

// Tail returns the last n lines of the process's log.
func (p *Proc) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitUntil polls check every 100 ms until it returns nil, the process exits, or timeout
// passes; on failure it ends the test with the last error and the process's log.
func (p *Proc) WaitUntil(t testing.TB, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if err := p.Running(); err != nil {
			t.Fatalf("waiting for %s: %v\n%s", what, err, p.Tail(40))
		}
		last := check()
		if last == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v: %v\n%s", what, timeout, last, p.Tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// client is used for readiness checks: short timeouts, because a check that hangs would
// defeat the deadline around it, and no keep-alive, so that no idle connection (nor its
// goroutines) outlives the check and goleak sees a clean test.
var client = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// HTTPGet fetches url and returns its body, or an error unless the status is 200.
func HTTPGet(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// HTTPReady returns a check that url answers 200 (and, if want is not empty, a body that
// contains want).
func HTTPReady(url, want string) func() error {
	return func() error {
		body, err := HTTPGet(context.Background(), url)
		if err != nil {
			return err
		}
		if want != "" && !bytes.Contains(body, []byte(want)) {
			return errors.New("body of " + url + " lacks " + strconv.Quote(want))
		}
		return nil
	}
}

// TCPReady returns a check that addr accepts a TCP connection.
func TCPReady(addr string) func() error {
	return func() error {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

// HoldRequests holds n GET requests of path on addr with [Hold] (HTTP/1.1, Connection:
// close), each holding a worker of the server, or waiting for one, for as long as the server
// takes to answer it.
func HoldRequests(t testing.TB, addr, path string, n int, settle time.Duration) {
	t.Helper()
	Hold(t, "tcp", addr, n, settle, []byte(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr)))
}

// Hold opens n connections to addr over network ("tcp" or "unix"), waits settle, then sends
// request on each, and reads the answers in the background, closing each connection once the
// server has closed its side, as the web server in front of a pool does (a PHP-FPM child
// that has answered waits for that close before it takes the next request). Each request
// takes a worker, or waits for one in the server's queue or the listen backlog.
//
// Connecting first lets a server that accepts connections before it reads them (Puma's
// reactor) take them all in before any request arrives. A connect that the server's full
// accept queue leaves unanswered fails the test after 5 s. Connections still open at the end
// of the test are closed in t.Cleanup, which then waits for their readers.
func Hold(t testing.TB, network, addr string, n int, settle time.Duration, request []byte) {
	t.Helper()
	var readers sync.WaitGroup
	t.Cleanup(readers.Wait) // registered first, so it runs after the closes below
	conns := make([]net.Conn, 0, n)
	for range n {
		conn, err := net.DialTimeout(network, addr, 5*time.Second)
		if err != nil {
			t.Fatalf("hold a request to %s: %v", addr, err)
		}
		t.Cleanup(func() { conn.Close() })
		conns = append(conns, conn)
	}
	time.Sleep(settle)
	for _, conn := range conns {
		if _, err := conn.Write(request); err != nil {
			t.Fatalf("hold a request to %s: %v", addr, err)
		}
		readers.Go(func() {
			_, _ = io.Copy(io.Discard, conn)
			conn.Close()
		})
	}
}

// WriteWhen calls read every 200 ms, for at most 10 s, until it reports done, then writes the
// body it returned to path: a capture of a real server's page is written only once the page
// shows the state the capture is for. read fails the test itself on a bad read; state
// describes what the page showed, for the failure once the deadline passes.
func WriteWhen(t testing.TB, path string, read func() (body []byte, done bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, done, state := read()
		if done {
			if err := os.WriteFile(path, body, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the server never reached the capture's state; last read: %s", path, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
