// Package apachetest runs a real Apache httpd (Debian's apache2 package) for tests: one
// server on a free loopback port with a minimal configuration written to a temporary
// directory (an MPM, mod_status, mod_cgid and nothing else), a slow CGI script, and requests
// that occupy its workers. It is meant for tests only.
package apachetest

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/testproc"
)

// Binary is Debian's httpd; ModulesDir holds its modules.
const (
	Binary     = "/usr/sbin/apache2"
	ModulesDir = "/usr/lib/apache2/modules"
)

// RequireApache skips (or fails in CI) when Debian's apache2 is missing.
func RequireApache(t testing.TB) {
	t.Helper()
	testproc.RequireTool(t, "Apache httpd", "apt-get install apache2", Binary, "-v")
}

// Options shape the server.
type Options struct {
	// MPM is "event" (Debian's default) or "prefork".
	MPM string
	// Workers is MaxRequestWorkers: threads for event, processes for prefork.
	Workers int
	// ThreadsPerChild splits the event MPM's workers into Workers/ThreadsPerChild processes,
	// of which one is started; 0 means one process of Workers threads.
	ThreadsPerChild int
	// NoExtendedStatus turns ExtendedStatus off, which drops "Total Accesses".
	NoExtendedStatus bool
	// Extra is appended to the configuration, e.g. a proxy to PHP-FPM; ModulesDir is where
	// its LoadModule lines find their modules.
	Extra string
}

// Server is one running Apache httpd.
type Server struct {
	// Addr is the host:port it listens on; StatusURL its mod_status page (without ?auto).
	Addr      string
	StatusURL string

	proc *testproc.Proc
}

// Start runs httpd in the foreground with opts and waits (at most 15 s) until its status
// page answers. It is stopped in t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	RequireApache(t)
	dir := t.TempDir()
	s := &Server{Addr: testproc.HostPort(testproc.FreePort(t))}
	s.StatusURL = "http://" + s.Addr + "/server-status"

	var mpm string
	switch opts.MPM {
	case "event":
		perChild := opts.ThreadsPerChild
		if perChild == 0 {
			perChild = opts.Workers
		}
		mpm = fmt.Sprintf(`ServerLimit %[3]d
StartServers 1
ThreadLimit %[2]d
ThreadsPerChild %[2]d
MaxRequestWorkers %[1]d
MinSpareThreads 1
MaxSpareThreads %[1]d
`, opts.Workers, perChild, opts.Workers/perChild)
	case "prefork":
		mpm = fmt.Sprintf(`ServerLimit %[1]d
StartServers %[1]d
MinSpareServers 1
MaxSpareServers %[1]d
MaxRequestWorkers %[1]d
`, opts.Workers)
	default:
		t.Fatalf("apachetest: unknown MPM %q", opts.MPM)
	}
	user := ""
	if os.Geteuid() == 0 {
		// httpd started as root serves as User; the CGI script must be readable by it, and
		// t.TempDir's directories are private to root.
		user = "User nobody\nGroup nogroup\n"
		for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	extended := "On"
	if opts.NoExtendedStatus {
		extended = "Off"
	}
	htdocs := filepath.Join(dir, "htdocs")
	if err := os.Mkdir(htdocs, 0o755); err != nil {
		t.Fatal(err)
	}
	// The query string is the number of seconds to sleep.
	script := "#!/bin/sh\nsleep \"${QUERY_STRING:-0}\"\nprintf 'Content-Type: text/plain\\r\\n\\r\\ndone\\n'\n"
	if err := os.WriteFile(filepath.Join(htdocs, "slow"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`ServerRoot %[1]s
ServerName 127.0.0.1
PidFile %[1]s/httpd.pid
Listen %[2]s
ErrorLog /proc/self/fd/2
LogLevel warn
LoadModule mpm_%[3]s_module %[4]s/mod_mpm_%[3]s.so
LoadModule authz_core_module %[4]s/mod_authz_core.so
LoadModule status_module %[4]s/mod_status.so
LoadModule cgid_module %[4]s/mod_cgid.so
%[5]sScriptSock %[1]s/cgid.sock
%[6]sExtendedStatus %[7]s
DocumentRoot %[8]s
<Directory %[8]s>
  Options +ExecCGI
  SetHandler cgi-script
  Require all granted
</Directory>
<Location /server-status>
  SetHandler server-status
  Require all granted
</Location>
%[9]s
`, dir, s.Addr, opts.MPM, ModulesDir, user, mpm, extended, htdocs, opts.Extra)
	confPath := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s.proc = testproc.Start(t, testproc.Spec{Name: "apache2", Path: Binary,
		Args: []string{"-f", confPath, "-DFOREGROUND"}, Dir: dir, Grace: 5 * time.Second})
	s.proc.WaitUntil(t, "Apache httpd", 15*time.Second, testproc.HTTPReady(s.StatusURL+"?auto", "Scoreboard"))
	return s
}

// Log returns what httpd wrote so far.
func (s *Server) Log() string { return s.proc.Log() }

// Stop ends httpd and returns once it is gone; calling it again does nothing.
func (s *Server) Stop(t testing.TB) { s.proc.Stop(t) }

// Occupy sends n requests for the CGI script that sleeps seconds, each on its own connection,
// with [testproc.Hold]. Each takes a worker, or waits in the listen backlog when every worker
// is taken.
func (s *Server) Occupy(t testing.TB, n int, seconds float64) {
	t.Helper()
	testproc.Hold(t, "tcp", s.Addr, n, 0, []byte(fmt.Sprintf("GET /slow?%g HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", seconds)))
}

// Get runs the CGI script for 0 s and waits for its answer, so that the count of ended
// requests moves.
func (s *Server) Get(t testing.TB) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET /slow?0 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), " 200 OK") || !strings.HasSuffix(string(out), "done\n") {
		t.Fatalf("the CGI script did not answer: %q", out)
	}
}
