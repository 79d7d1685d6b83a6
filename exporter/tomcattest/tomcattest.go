// Package tomcattest runs Debian's Tomcat 10 for tests, as net/http/httptest runs servers: a
// CATALINA_BASE of its own in a temporary directory built from examples/tomcat (server.xml,
// tomcat-users.xml, slow.jsp) and Debian's manager (tomcat10-admin), on free loopback
// ports, stopped when the test ends, and slow requests that hold its threads until the test
// releases them. It is meant for tests only.
package tomcattest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/testproc"
)

// Debian's Tomcat 10 (tomcat10, tomcat10-admin) and the Java it runs on.
const (
	Home    = "/usr/share/tomcat10"
	Manager = "/usr/share/tomcat10-admin/manager"
	Java    = "/usr/bin/java"
)

// User and Password are the manager-status user of examples/tomcat/tomcat-users.xml.
const (
	User     = "poolwatch"
	Password = "change-me"
)

// Require skips (or fails in CI) when Java, Tomcat 10 or its manager is missing.
func Require(t testing.TB) {
	t.Helper()
	const install = "apt-get install tomcat10 tomcat10-admin"
	testproc.RequireTool(t, "Java", install, Java, "-version")
	for _, f := range []string{filepath.Join(Home, "bin", "bootstrap.jar"), filepath.Join(Manager, "WEB-INF", "web.xml")} {
		if _, err := os.Stat(f); err != nil {
			testproc.MissingTool(t, "Tomcat 10 with its manager", install, err.Error())
		}
	}
}

func examples() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "tomcat")
}

// Server is one running Tomcat.
type Server struct {
	// Addr is the application's connector (host:port); StatusAddr the status connector's.
	Addr, StatusAddr string
	// Connector and StatusConnector are the connectors' names, the pools' names.
	Connector, StatusConnector string
	// StatusURL is the manager's XML status page, without credentials.
	StatusURL string

	release string
	proc    *testproc.Proc
}

// Start runs Tomcat with threads threads on the application's connector and waits (at most
// 60 s: a JVM start takes 5-15 s on a loaded machine) until the status page answers and
// slow.jsp is compiled.
func Start(t testing.TB, threads int) *Server { return start(t, threads, false) }

// StartOnExecutor is [Start] with the application's connector running on a shared
// <Executor> of threads threads instead of its own pool: the status page then shows the
// connector's maxThreads as -1.
func StartOnExecutor(t testing.TB, threads int) *Server { return start(t, threads, true) }

func start(t testing.TB, threads int, executor bool) *Server {
	t.Helper()
	Require(t)
	base := t.TempDir()
	port, statusPort := testproc.FreePort(t), testproc.FreePort(t)
	s := &Server{
		Addr:            testproc.HostPort(port),
		StatusAddr:      testproc.HostPort(statusPort),
		Connector:       fmt.Sprintf("http-nio-127.0.0.1-%d", port),
		StatusConnector: fmt.Sprintf("http-nio-127.0.0.1-%d", statusPort),
		release:         filepath.Join(base, "release"),
	}
	s.StatusURL = "http://" + s.StatusAddr + "/manager/status?XML=true"
	writeBase(t, base, executor)
	s.proc = testproc.Start(t, testproc.Spec{
		Name: "tomcat", Path: Java, Dir: base,
		Args: []string{
			// A small, quick JVM: the tests need seconds of it, not throughput.
			"-Xmx192m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
			"-Djava.security.egd=file:/dev/./urandom",
			"-Dcatalina.home=" + Home, "-Dcatalina.base=" + base,
			"-Djava.io.tmpdir=" + filepath.Join(base, "temp"),
			"-Dpoolwatch.http.port=" + strconv.Itoa(port),
			"-Dpoolwatch.status.port=" + strconv.Itoa(statusPort),
			"-Dpoolwatch.http.threads=" + strconv.Itoa(threads),
			"-cp", filepath.Join(Home, "bin", "bootstrap.jar") + ":" + filepath.Join(Home, "bin", "tomcat-juli.jar"),
			"org.apache.catalina.startup.Bootstrap", "start",
		},
		Env:   []string{"POOLWATCH_RELEASE=" + s.release},
		Grace: 5 * time.Second,
	})
	s.proc.WaitUntil(t, "Tomcat", 60*time.Second, func() error {
		if _, err := s.Status(t); err != nil {
			return err
		}
		// The first request compiles the JSP: do it now, not under the test's clock.
		return testproc.HTTPReady("http://"+s.Addr+"/slow.jsp?seconds=0", "ok")()
	})
	return s
}

// writeBase lays out a CATALINA_BASE: Debian's default conf, the example's server and users,
// Debian's manager context, and the example's slow.jsp as the ROOT application.
func writeBase(t testing.TB, base string, executor bool) {
	t.Helper()
	for _, d := range []string{"conf/Catalina/localhost", "webapps/ROOT", "logs", "temp", "work"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile := func(from, to string, extra string) {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(base, to), append(data, extra...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	etc := filepath.Join(Home, "etc")
	copyFile(filepath.Join(etc, "web.xml"), "conf/web.xml", "")
	copyFile(filepath.Join(etc, "context.xml"), "conf/context.xml", "")
	// No jar holds a TLD the tests need: skipping the scan saves seconds of start.
	copyFile(filepath.Join(etc, "catalina.properties"), "conf/catalina.properties",
		"\ntomcat.util.scan.StandardJarScanFilter.jarsToSkip=*.jar\n")
	if executor {
		data, err := os.ReadFile(filepath.Join(examples(), "server.xml"))
		if err != nil {
			t.Fatal(err)
		}
		const app = `<Connector address="127.0.0.1" port="${poolwatch.http.port:-8080}"`
		if !strings.Contains(string(data), app) {
			t.Fatalf("examples/tomcat/server.xml has no %s", app)
		}
		data = []byte(strings.Replace(string(data), app, `<Executor name="app" namePrefix="app-exec-" minSpareThreads="1"
               maxThreads="${poolwatch.http.threads:-200}"/>
    `+app+` executor="app"`, 1))
		if err := os.WriteFile(filepath.Join(base, "conf/server.xml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		copyFile(filepath.Join(examples(), "server.xml"), "conf/server.xml", "")
	}
	copyFile(filepath.Join(examples(), "tomcat-users.xml"), "conf/tomcat-users.xml", "")
	copyFile(filepath.Join(examples(), "slow.jsp"), "webapps/ROOT/slow.jsp", "")
	manager := `<?xml version="1.0" encoding="UTF-8"?>
<Context docBase="` + Manager + `" antiResourceLocking="false" privileged="true"/>
`
	if err := os.WriteFile(filepath.Join(base, "conf/Catalina/localhost/manager.xml"), []byte(manager), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Status fetches the status page as the manager-status user.
func (s *Server) Status(t testing.TB) ([]byte, error) {
	return testproc.HTTPGet(t.Context(), "http://"+User+":"+Password+"@"+s.StatusAddr+"/manager/status?XML=true")
}

// Stop ends Tomcat and returns once it is gone; calling it again does nothing.
func (s *Server) Stop(t testing.TB) { s.proc.Stop(t) }

// Occupy opens n connections, each sending GET /slow.jsp?seconds=30, and does not read the
// answers. The requests end at [Server.Release]; the connections are closed in t.Cleanup.
func (s *Server) Occupy(t testing.TB, n int) {
	t.Helper()
	testproc.HoldRequests(t, s.Addr, "/slow.jsp?seconds=30", n, 0)
}

// Release ends every slow request at once (the page polls for the release file).
func (s *Server) Release(t testing.TB) {
	t.Helper()
	if err := os.WriteFile(s.release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
