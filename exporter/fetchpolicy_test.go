package exporter

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowTarget is a loopback status page that takes delay to answer (or until its client goes
// away) and counts requests, reads in flight at once, and connections.
type slowTarget struct {
	*httptest.Server
	requests, inFlight, maxInFlight, conns, closedByClient atomic.Int32
	// canceled gets the time each request's context ended before its answer was written.
	canceled chan time.Time
}

func newSlowTarget(t *testing.T, delay time.Duration) *slowTarget {
	t.Helper()
	s := &slowTarget{canceled: make(chan time.Time, 100)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if r.Close {
			s.closedByClient.Add(1)
		}
		n := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		for {
			m := s.maxInFlight.Load()
			if n <= m || s.maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-time.After(delay):
			io.WriteString(w, "main:8080")
		case <-r.Context().Done():
			s.canceled <- time.Now()
		}
	}))
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func slowTargetModule(target string, extra string) string {
	return "modules:\n  m:\n    source: fake\n    timeout: 5s\n    targets: [" + target + "]\n" + extra
}

// Scrapes of one target that arrive while a read is in flight share it: the target never
// serves two reads of the same module at once, whatever the number of scrapers.
func TestProbeCoalescesConcurrentScrapesOfOneTarget(t *testing.T) {
	target := newSlowTarget(t, 500*time.Millisecond)
	exp := probeExporter(t, slowTargetModule(target.URL, ""))
	const scrapers = 20
	var wg sync.WaitGroup
	bodies := make([]string, scrapers)
	for i := range scrapers {
		wg.Go(func() { _, bodies[i] = get(t, probeURL(exp, "m", target.URL)) })
	}
	wg.Wait()
	for i, body := range bodies {
		if !strings.Contains(body, `poolwatch_up{source="fake"} 1`) || !strings.Contains(body, `pool="main:8080"`) {
			t.Fatalf("scrape %d did not get the shared read:\n%s", i, body)
		}
	}
	if n := target.maxInFlight.Load(); n != 1 {
		t.Errorf("the target served %d reads at once, want 1", n)
	}
	// Scrapes that arrive after a read ended start the next one, hence a few reads at most.
	if n := target.requests.Load(); n > scrapers/4 {
		t.Errorf("%d scrapes made %d reads of the target, want them coalesced", scrapers, n)
	}
}

// A scrape that gives up (a shorter scrape timeout) does not fail the read it shares with
// another scrape: one read serves both, and the patient one gets its answer.
func TestProbeScrapeTimeoutDoesNotCancelTheSharedRead(t *testing.T) {
	target := newSlowTarget(t, 1500*time.Millisecond)
	exp := probeExporter(t, slowTargetModule(target.URL, ""))
	impatient := make(chan string, 1)
	go func() {
		// 1 s scrape timeout: 0.5 s to read.
		_, body := get(t, probeURL(exp, "m", target.URL), "X-Prometheus-Scrape-Timeout-Seconds", "1")
		impatient <- body
	}()
	for target.requests.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	_, patient := get(t, probeURL(exp, "m", target.URL))
	if !strings.Contains(<-impatient, `poolwatch_up{source="fake"} 0`) {
		t.Error("the impatient scrape did not give up at its timeout")
	}
	if !strings.Contains(patient, `poolwatch_up{source="fake"} 1`) {
		t.Errorf("the patient scrape lost the shared read:\n%s", patient)
	}
	if n := target.requests.Load(); n != 1 {
		t.Errorf("%d reads of the target, want the one both scrapes shared", n)
	}
}

// A shared read nobody waits for any more is canceled: it does not run on to the module's
// timeout against a target that is slow already.
func TestProbeSharedReadEndsWithItsLastScrape(t *testing.T) {
	target := newSlowTarget(t, time.Minute)
	exp := probeExporter(t, slowTargetModule(target.URL, ""))
	start := time.Now()
	_, body := get(t, probeURL(exp, "m", target.URL), "X-Prometheus-Scrape-Timeout-Seconds", "1")
	if !strings.Contains(body, `poolwatch_up{source="fake"} 0`) {
		t.Errorf("%s", body)
	}
	select {
	case end := <-target.canceled:
		if d := end.Sub(start); d > 3*time.Second {
			t.Errorf("the read went on %v after its only scrape gave up at 0.5 s", d)
		}
	case <-time.After(10 * time.Second):
		t.Error("the read was never canceled")
	}
}

// Each read closes its connection: no idle keep-alive connection is left to hold one of a
// small stats server's threads. keep_alive: true in a module opts back in.
func TestProbeClosesTheConnectionAfterEachRead(t *testing.T) {
	for _, keepAlive := range []bool{false, true} {
		name := map[bool]string{false: "default", true: "keep_alive"}[keepAlive]
		t.Run(name, func(t *testing.T) {
			target := newSlowTarget(t, 0)
			extra := ""
			if keepAlive {
				extra = "    keep_alive: true\n"
			}
			exp, store := probeExporterStore(t, slowTargetModule(target.URL, extra))
			if keepAlive {
				// The only idle connections a test may leave behind (goleak).
				t.Cleanup(func() {
					m, _ := store.Module("m")
					m.client.CloseIdleConnections()
				})
			}
			const reads = 3
			for range reads {
				if _, body := get(t, probeURL(exp, "m", target.URL)); !strings.Contains(body, `poolwatch_up{source="fake"} 1`) {
					t.Fatal(body)
				}
			}
			conns, closing := target.conns.Load(), target.closedByClient.Load()
			if !keepAlive && (conns != reads || closing != reads) {
				t.Errorf("%d reads: %d connections, %d asked to close; want one closed connection per read", reads, conns, closing)
			}
			if keepAlive && (conns != 1 || closing != 0) {
				t.Errorf("keep_alive: %d reads used %d connections (%d asked to close), want 1 kept open", reads, conns, closing)
			}
		})
	}
}

// dialSource reads its target over a connection of its own (as uWSGI's stats server is read):
// what the server writes before it closes.
type dialSource struct{}

func (dialSource) Name() string { return "fake" }

func (dialSource) Read(ctx context.Context, r Reader, target string, _ *slog.Logger) ([]Pool, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	conn, err := r.Dial(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	body, err := io.ReadAll(conn)
	if err != nil {
		return nil, err
	}
	return []Pool{{Name: string(body), MaxWorkers: 1, Workers: 1}}, nil
}

// A shared read over Reader.Dial that no scrape waits for any more ends too: canceling it
// closes its connection at once, not at the module's timeout, which is what bounds it
// otherwise (the only scrape wanted 0.5 s; the module allows 5 s).
func TestProbeSharedDialReadEndsWithItsLastScrape(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	closed := make(chan time.Time, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		// Never answers; returns when the exporter closes the connection.
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, conn)
		closed <- time.Now()
	}()
	target := "http://" + ln.Addr().String() + "/"
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(slowTargetModule(target, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := NewConfigStore(path, map[string]Source{"fake": dialSource{}})
	if err != nil {
		t.Fatal(err)
	}
	exp := httptest.NewServer(NewProbeHandler(store, discard()))
	t.Cleanup(exp.Close)

	start := time.Now()
	if _, body := get(t, probeURL(exp.URL, "m", target), "X-Prometheus-Scrape-Timeout-Seconds", "1"); !strings.Contains(body, `poolwatch_up{source="fake"} 0`) {
		t.Errorf("%s", body)
	}
	select {
	case end := <-closed:
		if d := end.Sub(start); d > 2*time.Second {
			t.Errorf("the connection stayed open %v after its only scrape gave up at 0.5 s", d)
		}
	case <-time.After(15 * time.Second):
		t.Error("the connection was never closed")
	}
}
