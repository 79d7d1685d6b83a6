package e2e

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
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a process may take to exit after SIGTERM before it is killed.
// Prometheus flushes its head block on shutdown, which takes a moment even when tiny.
const stopGrace = 10 * time.Second

// process is one program the test started. Its output goes to a file, not a pipe, so that no
// copying goroutine outlives the test and the log survives for the failure dump.
type process struct {
	name    string
	grace   time.Duration // between SIGTERM and SIGKILL
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed once Wait returned
	waitErr error         // valid after exited is closed
}

// startProcess starts bin with args, logs stdout and stderr to a file under dir, and registers
// a cleanup that stops it (SIGTERM, then SIGKILL after stopGrace) and, if the test failed,
// prints the tail of its log. The process gets its own process group so that a stop also
// reaches any child it started.
func startProcess(t *testing.T, dir, name, bin string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("create log for %s: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s (%s): %v", name, bin, err)
	}
	// The child holds its own descriptor now; ours is only needed to start it.
	logFile.Close()

	p := &process{name: name, grace: stopGrace, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Logf("started %s (pid %d): %s %s", name, cmd.Process.Pid, bin, strings.Join(args, " "))
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("--- last lines of %s's log (%s) ---\n%s", name, logPath, p.tail(40))
		}
	})
	return p
}

// stop asks the process group to terminate and waits for the process, killing the group if it
// does not exit within its grace period. It is safe to call more than once.
func (p *process) stop(t *testing.T) {
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
	t.Logf("%s did not exit %v after SIGTERM; killing it", p.name, p.grace)
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.exited
}

// running reports an error if the process has already exited, with the reason.
func (p *process) running() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited early: %v", p.name, p.waitErr)
	default:
		return nil
	}
}

// tail returns the last n lines of the process's log.
func (p *process) tail(n int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitUntil polls check every interval until it returns nil, the process exits, or timeout
// passes; on failure it ends the test with the last error and the process's log.
func (p *process) waitUntil(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if err := p.running(); err != nil {
			t.Fatalf("waiting for %s: %v\n%s", what, err, p.tail(40))
		}
		if last = check(); last == nil {
			t.Logf("%s ready", what)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v: %v\n%s", what, timeout, last, p.tail(40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freePort returns a TCP port on 127.0.0.1 that nothing listened on a moment ago. The small
// race with other programs is the usual price of handing a port to a child process.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// hostPort formats a loopback address.
func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// probeClient is used for readiness checks and API queries: short timeouts, because a check
// that hangs would defeat the deadline around it.
var probeClient = &http.Client{Timeout: 3 * time.Second}

// httpGet fetches url and returns its body, or an error unless the status is 200.
func httpGet(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := probeClient.Do(req)
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

// httpContains returns a check that url answers 200 with a body containing want.
func httpContains(url, want string) func() error {
	return func() error {
		body, err := httpGet(context.Background(), url)
		if err != nil {
			return err
		}
		if !bytes.Contains(body, []byte(want)) {
			return errors.New("body of " + url + " lacks " + strconv.Quote(want))
		}
		return nil
	}
}
