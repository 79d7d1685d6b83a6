package phpfpm

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/apachetest"
	"github.com/poolwatch/poolwatch/exporter/phpfpmtest"
)

// Re-capture the samples in testdata from a real PHP-FPM:
//
//	go test ./exporter/phpfpm -run TestRealPHPFPM -capture
var capture = flag.Bool("capture", false, "write the status pages the real-server tests read to testdata/")

func TestMain(m *testing.M) {
	flag.Parse()
	goleakMain(m)
}

func reader() exporter.Reader {
	return exporter.NewReader(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}})
}

// readUntil reads target every 100 ms until ok accepts the pool (at most 10 s) and returns
// it; with -capture it also saves that very page as testdata/name. It reads over FastCGI and
// parses as Source.Read does, so that the capture is the page the pool came from.
func readUntil(t *testing.T, target, name string, ok func(exporter.Pool) bool) exporter.Pool {
	t.Helper()
	tg, err := parseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		body, err := tg.readFastCGI(ctx, reader())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(body, tg.capacity)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		if ok(p) {
			if *capture && name != "" {
				if err := os.WriteFile(filepath.Join("testdata", name), body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("PHP-FPM never reached the expected state; last pool: %s", describe(p))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A static pool of 3 children, backlog 4, status from pm.status_listen over TCP. Idle, then
// 3 slow requests take every child and 2 more wait in the listen queue: the source shows the
// pool exhausted (busy = max), the queue, and the oldest request's age; once the requests
// have ended it shows the pool idle again with every request counted as ended.
func TestRealPHPFPMExhaustionAndRecovery(t *testing.T) {
	const children, backlog, waiting = 3, 4, 2
	srv := phpfpmtest.Start(t, phpfpmtest.Options{MaxChildren: children, Backlog: backlog})
	target := srv.StatusTarget(children)

	p := readUntil(t, target, "idle.json", func(p exporter.Pool) bool { return p.Workers == children })
	want(t, p, children, children, 0, 0)
	if *p.MaxQueuedTasks != backlog+1 {
		t.Errorf("queue capacity %v, want the backlog %d + 1", *p.MaxQueuedTasks, backlog)
	}
	// Nothing has reached the pool yet; the status requests do not count, since the status
	// pool serves them.
	const c0 = 0
	if c := p.TasksCompletedTotal["success"]; c != c0 {
		t.Errorf("completed %v on a fresh pool", c)
	}

	srv.Get(t)
	srv.Get(t)
	start := time.Now()
	srv.Occupy(t, children+waiting, 2)
	p = readUntil(t, target, "saturated.json", func(p exporter.Pool) bool {
		return p.BusyWorkers == children && !p.QueueNotMeasured && p.QueuedTasks == waiting &&
			*p.OldestRunningTaskAgeSeconds > 0.3
	})
	want(t, p, children, children, children, waiting)
	if c := p.TasksCompletedTotal["success"]; c != c0+2 {
		t.Errorf("completed = %v, want %v + the 2 fast requests (running ones are not counted)", c, c0)
	}
	if age := *p.OldestRunningTaskAgeSeconds; age > time.Since(start).Seconds() {
		t.Errorf("oldest running age %v s is older than the load (%v)", age, time.Since(start))
	}

	// The first 3 end after 2 s, the 2 queued ones 2 s later.
	p = readUntil(t, target, "", func(p exporter.Pool) bool {
		return p.BusyWorkers == 0 && p.TasksCompletedTotal["success"] == c0+2+children+waiting
	})
	want(t, p, children, children, 0, 0)
	if *p.OldestRunningTaskAgeSeconds != 0 {
		t.Errorf("oldest running age %v with nothing running", *p.OldestRunningTaskAgeSeconds)
	}
}

// Served by the main pool itself, the status request is one of the busy workers it counts,
// and is counted as accepted: busy is never below 1.
func TestRealPHPFPMStatusFromTheMainPool(t *testing.T) {
	srv := phpfpmtest.Start(t, phpfpmtest.Options{MaxChildren: 2, Backlog: 8})
	for range 5 {
		p := readUntil(t, srv.MainTarget(2), "", func(p exporter.Pool) bool { return true })
		if p.BusyWorkers < 1 {
			t.Errorf("busy %v while a worker was serving the status request", p.BusyWorkers)
		}
	}
	p := readUntil(t, srv.MainTarget(2), "mainpool.json", func(p exporter.Pool) bool { return p.BusyWorkers == 1 })
	want(t, p, 2, 2, 1, 0)
}

// On unix sockets PHP-FPM does not measure its listen queue ("listen queue len" 0): the queue
// series are absent even while requests wait, not 0.
func TestRealPHPFPMUnixSocketHasNoQueue(t *testing.T) {
	srv := phpfpmtest.Start(t, phpfpmtest.Options{MaxChildren: 2, Backlog: 8, Unix: true})
	srv.Occupy(t, 4, 3)
	p := readUntil(t, srv.StatusTarget(2), "unix.json", func(p exporter.Pool) bool { return p.BusyWorkers == 2 })
	if !p.QueueNotMeasured {
		t.Errorf("queue %v / %v reported for a unix socket, whose queue PHP-FPM does not measure",
			p.QueuedTasks, deref(p.MaxQueuedTasks))
	}
	if p.MaxWorkers != 2 || p.Workers != 2 {
		t.Errorf("pool %s", describe(p))
	}
}

// The capacity can come from the pool's own configuration file instead of the target.
func TestRealPHPFPMCapacityFromPoolConfig(t *testing.T) {
	srv := phpfpmtest.Start(t, phpfpmtest.Options{MaxChildren: 3, Backlog: 8})
	target := "fastcgi://" + srv.StatusAddr + "/status?pool_config=" + srv.ConfPath
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pools, err := Source{}.Read(ctx, reader(), target, slog.New(slog.DiscardHandler))
	if err != nil || len(pools) != 1 {
		t.Fatalf("Read = %v, %v", pools, err)
	}
	if p := pools[0]; p.MaxWorkers != 3 || p.Name != phpfpmtest.Pool {
		t.Errorf("pool %s, want %s with max 3 from %s", describe(p), phpfpmtest.Pool, srv.ConfPath)
	}
}

// A wrong status path reaches PHP-FPM, which answers 404: the error says so.
func TestRealPHPFPMWrongStatusPath(t *testing.T) {
	srv := phpfpmtest.Start(t, phpfpmtest.Options{MaxChildren: 1, Backlog: 8})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := Source{}.Read(ctx, reader(), "fastcgi://"+srv.Addr+"/nope?max_children=1", slog.New(slog.DiscardHandler))
	if err == nil || !contains(err.Error(), "404") || !contains(err.Error(), "pm.status_path") {
		t.Errorf("err = %v, want a 404 that names pm.status_path", err)
	}
}

// A listener that accepts and never answers: the read ends with the context.
func TestFastCGITargetThatNeverAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Source{}.Read(ctx, reader(), "fastcgi://"+l.Addr().String()+"/status?max_children=1", slog.New(slog.DiscardHandler))
	if err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("err = %v after %v, want a timeout after 0.5 s", err, time.Since(start))
	}
}

// The example pool file is one PHP-FPM accepts, and the exporter reads its capacity.
func TestExamplePoolConfig(t *testing.T) {
	const example = "../../examples/phpfpm/www.conf"
	if n, err := readMaxChildren(example, "www"); err != nil || n != 50 {
		t.Errorf("readMaxChildren(%s) = %v, %v; want 50", example, n, err)
	}
	bin := phpfpmtest.Binary(t)
	abs, err := filepath.Abs(example)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "php-fpm.conf")
	if err := os.WriteFile(conf, []byte("[global]\npid = "+dir+"/pid\nerror_log = "+dir+"/log\ninclude = "+abs+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-y", conf, "-p", dir).CombinedOutput(); err != nil {
		t.Errorf("%s -t rejects %s: %v\n%s", bin, example, err, out)
	}
}

// pm = ondemand starts children for requests only: the capacity stays max_children while the
// workers alive go from 0 up and, once idle for pm.process_idle_timeout, back down. PHP-FPM
// forks one child per wake-up of its master, so of 2 requests that arrive together one can
// wait in the listen queue below capacity: every request is running or queued, never lost.
func TestRealPHPFPMOnDemand(t *testing.T) {
	srv := phpfpmtest.Start(t, phpfpmtest.Options{MaxChildren: 3, Backlog: 8, OnDemand: true})
	target := srv.StatusTarget(3)
	p := readUntil(t, target, "ondemand-idle.json", func(p exporter.Pool) bool { return p.Workers == 0 })
	want(t, p, 3, 0, 0, 0)
	c0 := p.TasksCompletedTotal["success"]
	srv.Occupy(t, 2, 2)
	p = readUntil(t, target, "", func(p exporter.Pool) bool { return p.BusyWorkers >= 1 && p.BusyWorkers+p.QueuedTasks == 2 })
	if p.MaxWorkers != 3 || p.Workers < 1 {
		t.Errorf("pool %s, want a child started of 3", describe(p))
	}
	readUntil(t, target, "", func(p exporter.Pool) bool {
		return p.Workers == 0 && p.TasksCompletedTotal["success"] == c0+2
	})
}

// recordingConn keeps every byte read from the connection.
type recordingConn struct {
	net.Conn
	read bytes.Buffer
}

func (c *recordingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Write(b[:n])
	return n, err
}

// The FastCGI client against the real PHP-FPM, record by record: the raw stream it read is
// the seed of FuzzReadResponse (saved with -capture as testdata/status.fcgi).
func TestRealPHPFPMFastCGIStream(t *testing.T) {
	srv := phpfpmtest.Start(t, phpfpmtest.Options{MaxChildren: 1, Backlog: 8})
	conn, err := net.DialTimeout("tcp", srv.StatusAddr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rec := &recordingConn{Conn: conn}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := fcgiGet(ctx, rec, "/status", "json&full", exporter.MaxBodyBytes)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("status %d, headers %v", resp.Status, resp.Header)
	}
	if _, err := Parse(resp.Body, capacity(1)); err != nil {
		t.Errorf("the body is no status page: %v\n%s", err, resp.Body)
	}
	if *capture {
		if err := os.WriteFile(filepath.Join("testdata", "status.fcgi"), rec.read.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Children starting and ending under load (pm = ondemand, 2 clients for 3 s, one with 0.2 s
// requests, one with 0.01 s ones): every read
// keeps busy <= workers <= max, the completed count never goes back, and once the load is
// over it has counted every request exactly once.
func TestRealPHPFPMCountersUnderChurn(t *testing.T) {
	srv := phpfpmtest.Start(t, phpfpmtest.Options{MaxChildren: 3, Backlog: 16, OnDemand: true})
	target := srv.StatusTarget(3)
	c0 := readUntil(t, target, "", func(p exporter.Pool) bool { return p.BusyWorkers == 0 }).TasksCompletedTotal["success"]

	var wg sync.WaitGroup
	var mu sync.Mutex
	requests, failed := 0, error(nil)
	stop := time.Now().Add(3 * time.Second)
	for _, seconds := range []float64{0.2, 0.01} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				err := srv.Request(seconds)
				mu.Lock()
				if err != nil && failed == nil {
					failed = err
				}
				if err == nil {
					requests++
				}
				mu.Unlock()
			}
		}()
	}
	last, reads := c0, 0
	for time.Now().Before(stop) {
		p := readUntil(t, target, "", func(exporter.Pool) bool { return true }) // Validate checks busy <= workers <= max
		c := p.TasksCompletedTotal["success"]
		if c < last {
			t.Errorf("completed went back from %v to %v", last, c)
		}
		last = c
		reads++
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	p := readUntil(t, target, "", func(p exporter.Pool) bool { return p.BusyWorkers == 0 })
	if got := p.TasksCompletedTotal["success"]; got != c0+float64(requests) {
		t.Errorf("completed %v after the load, want %v + the %d requests", got, c0, requests)
	}
	t.Logf("%d reads during %d requests", reads, requests)
}

// The HTTP form of a target, through a real Apache httpd that hands /fpm-status to PHP-FPM's
// status listener with mod_proxy_fcgi, as PHP-FPM's documentation shows: the exporter's own
// parameters stay home, json and full reach PHP-FPM.
func TestRealPHPFPMThroughApache(t *testing.T) {
	srv := phpfpmtest.Start(t, phpfpmtest.Options{MaxChildren: 2, Backlog: 8})
	m := apachetest.ModulesDir
	web := apachetest.Start(t, apachetest.Options{MPM: "event", Workers: 2, Extra: "LoadModule proxy_module " + m + "/mod_proxy.so\n" +
		"LoadModule proxy_fcgi_module " + m + "/mod_proxy_fcgi.so\n" +
		"<Location /status>\n  SetHandler \"proxy:fcgi://" + srv.StatusAddr + "\"\n</Location>\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pools, err := Source{}.Read(ctx, reader(), "http://"+web.Addr+"/status?max_children=2", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p := pools[0]
	if p.Name != phpfpmtest.Pool || p.MaxWorkers != 2 || p.Workers != 2 || p.OldestRunningTaskAgeSeconds == nil {
		t.Errorf("pool %s through Apache", describe(p))
	}
}

// A full listen queue: 2 children, backlog 2, 5 requests. Linux holds backlog + 1 = 3
// connections in the accept queue (a 6th would wait for its SYN to be retried), which is the
// capacity the source reports: queued = max_queued = 3, a valid pool, not a skipped one.
func TestRealPHPFPMFullQueue(t *testing.T) {
	const children, backlog = 2, 2
	srv := phpfpmtest.Start(t, phpfpmtest.Options{MaxChildren: children, Backlog: backlog})
	srv.Occupy(t, children+backlog+1, 2)
	p := readUntil(t, srv.StatusTarget(children), "queuefull.json", func(p exporter.Pool) bool {
		return p.BusyWorkers == children && p.QueuedTasks == backlog+1
	})
	if p.MaxQueuedTasks == nil || *p.MaxQueuedTasks != backlog+1 {
		t.Errorf("queue capacity %s, want the backlog %d + 1", deref(p.MaxQueuedTasks), backlog)
	}
}

// A web server that keeps its FastCGI connections open (nginx fastcgi_keep_conn, Apache
// mod_proxy_fcgi enablereuse) leaves the child that answered in "Reading headers", waiting
// for the next request, with a "request duration" that grows while the connection idles.
// That child is held (busy), but it runs no task: the oldest running age stays 0, or an idle
// connection kept past hungTaskAgeSeconds would raise WorkerPoolHungWorkers.
func TestRealPHPFPMKeptConnectionIsNoRunningTask(t *testing.T) {
	srv := phpfpmtest.Start(t, phpfpmtest.Options{MaxChildren: 2, Backlog: 8})
	conn, err := net.DialTimeout("tcp", srv.Addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var req, params bytes.Buffer
	writeRecord(&req, typeBeginRequest, []byte{0, roleResponder, 1 /* FCGI_KEEP_CONN */, 0, 0, 0, 0, 0})
	for _, kv := range [][2]string{{"REQUEST_METHOD", "GET"}, {"SCRIPT_FILENAME", filepath.Join(srv.Dir, "slow.php")},
		{"SCRIPT_NAME", "/slow.php"}, {"REQUEST_URI", "/slow.php?seconds=0"}, {"QUERY_STRING", "seconds=0"}} {
		writePair(&params, kv[0], kv[1])
	}
	writeRecord(&req, typeParams, params.Bytes())
	writeRecord(&req, typeParams, nil)
	writeRecord(&req, typeStdin, nil)
	if _, err := conn.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	if out, err := readResponse(conn, 1<<20); err != nil || !bytes.Contains(out, []byte("done")) {
		t.Fatalf("slow.php: %q, %v", out, err)
	}
	start := time.Now()
	p := readUntil(t, srv.StatusTarget(2), "", func(p exporter.Pool) bool {
		return p.BusyWorkers == 1 && time.Since(start) > 1500*time.Millisecond
	})
	if *p.OldestRunningTaskAgeSeconds != 0 {
		t.Errorf("oldest running %v s with no request running, only a connection kept open", *p.OldestRunningTaskAgeSeconds)
	}
	if c := p.TasksCompletedTotal["success"]; c != 1 {
		t.Errorf("completed %v, want the 1 request that ended", c)
	}
}
