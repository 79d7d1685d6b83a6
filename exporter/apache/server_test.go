package apache

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/apachetest"
)

// Re-capture the samples in testdata from a real Apache httpd:
//
//	go test ./exporter/apache -run TestRealApache -capture
var capture = flag.Bool("capture", false, "write the status pages the real-server tests read to testdata/")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func client() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

// read reads the status page once and parses it as Source.Read does.
func read(t *testing.T, srv *apachetest.Server, timeout time.Duration) (exporter.Pool, []byte, error) {
	t.Helper()
	u, pool, err := statusURL(srv.StatusURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	body, err := exporter.NewReader(client()).Get(ctx, u)
	if err != nil {
		return exporter.Pool{}, nil, err
	}
	p, err := Parse(body, pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p, body, nil
}

// readUntil reads every 100 ms until ok accepts the pool, at most 10 s; with -capture and a
// name it saves the page that showed the state as testdata/name.
func readUntil(t *testing.T, srv *apachetest.Server, name string, ok func(exporter.Pool) bool) exporter.Pool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, body, err := read(t, srv, 3*time.Second)
		if err == nil && ok(p) {
			if *capture && name != "" {
				if err := os.WriteFile(filepath.Join("testdata", name), body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("Apache never reached the expected state; last: %+v, %v", p, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Event MPM, one process of 3 threads. Idle, the status request is the one busy worker. With
// 2 slow requests running, the status request takes the last worker: busy = max, the pool is
// exhausted. With a third, nothing is left to answer the status page: the read times out,
// which the exporter turns into poolwatch_up 0. Once the requests have ended the pool is back
// to the status request alone, with every request counted.
func TestRealApacheExhaustionAndRecovery(t *testing.T) {
	const workers = 3
	srv := apachetest.Start(t, apachetest.Options{MPM: "event", Workers: workers})
	p := readUntil(t, srv, "event-idle.txt", func(p exporter.Pool) bool { return p.Workers == workers && p.BusyWorkers == 1 })
	if p.MaxWorkers != workers || p.Name != srv.Addr || !p.QueueNotMeasured {
		t.Errorf("idle pool %+v, want max %d named %s with no queue", p, workers, srv.Addr)
	}
	srv.Get(t)
	srv.Get(t)
	p = readUntil(t, srv, "", func(exporter.Pool) bool { return true })
	c0 := p.TasksCompletedTotal["success"]

	srv.Occupy(t, workers-1, 3)
	start := time.Now()
	p = readUntil(t, srv, "event-exhausted.txt", func(p exporter.Pool) bool { return p.BusyWorkers == workers })
	if p.MaxWorkers != workers || p.Workers != workers {
		t.Errorf("exhausted pool %+v, want busy = workers = max = %d", p, workers)
	}
	// The status requests just read ended before this one; the slow ones are running.
	if got := p.TasksCompletedTotal["success"]; got < c0 || got > c0+float64(time.Since(start)/(100*time.Millisecond))+2 {
		t.Errorf("completed %v, want %v plus the status reads since, not the running requests", got, c0)
	}

	// A third slow request takes the last worker once it is accepted; from then on the status
	// request finds none until the first slow ones end, 3 s after they began.
	srv.Occupy(t, 1, 2)
	silent := false
	for deadline := time.Now().Add(1500 * time.Millisecond); !silent && time.Now().Before(deadline); {
		_, _, err := read(t, srv, time.Second)
		silent = err != nil
	}
	if !silent {
		t.Error("the status page kept answering with every worker busy")
	}

	p = readUntil(t, srv, "", func(p exporter.Pool) bool { return p.BusyWorkers == 1 })
	if got := p.TasksCompletedTotal["success"]; got < c0+workers {
		t.Errorf("completed %v after recovery, want at least %v + %d", got, c0, workers)
	}
}

// Prefork, 2 processes; and ExtendedStatus off, which leaves the completed count out.
func TestRealApachePrefork(t *testing.T) {
	srv := apachetest.Start(t, apachetest.Options{MPM: "prefork", Workers: 2})
	srv.Occupy(t, 1, 3)
	p := readUntil(t, srv, "prefork-exhausted.txt", func(p exporter.Pool) bool { return p.BusyWorkers == 2 })
	if p.MaxWorkers != 2 || p.Workers != 2 {
		t.Errorf("pool %+v, want 2 of 2 busy", p)
	}
	if _, ok := p.TasksCompletedTotal["success"]; !ok {
		t.Error("no completed count with ExtendedStatus on")
	}
}

func TestRealApacheWithoutExtendedStatus(t *testing.T) {
	srv := apachetest.Start(t, apachetest.Options{MPM: "event", Workers: 2, NoExtendedStatus: true})
	p := readUntil(t, srv, "event-noextended.txt", func(p exporter.Pool) bool { return p.Workers == 2 })
	if p.TasksCompletedTotal != nil {
		t.Errorf("completed %v without ExtendedStatus, which is what counts accesses", p.TasksCompletedTotal)
	}
}

// Source.Read end to end, on a target without ?auto.
func TestRealApacheSourceRead(t *testing.T) {
	srv := apachetest.Start(t, apachetest.Options{MPM: "event", Workers: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	pools, err := Source{}.Read(ctx, exporter.NewReader(client()), srv.StatusURL, slog.New(slog.DiscardHandler))
	if err != nil || len(pools) != 1 || pools[0].MaxWorkers != 2 || pools[0].Name != srv.Addr {
		t.Errorf("Read = %+v, %v", pools, err)
	}
}

// Event MPM allowed 2 processes of 2 threads and started with 1: the scoreboard has the 4
// slots MaxRequestWorkers allows, 2 of them open ("."), so capacity is 4 and workers 2 until
// load makes httpd start the second process.
func TestRealApacheOpenSlots(t *testing.T) {
	srv := apachetest.Start(t, apachetest.Options{MPM: "event", Workers: 4, ThreadsPerChild: 2})
	p := readUntil(t, srv, "event-openslots.txt", func(p exporter.Pool) bool { return p.Workers == 2 && p.BusyWorkers == 1 })
	if p.MaxWorkers != 4 {
		t.Errorf("capacity %v, want MaxRequestWorkers 4", p.MaxWorkers)
	}
	srv.Occupy(t, 2, 3)
	p = readUntil(t, srv, "", func(p exporter.Pool) bool { return p.Workers == 4 })
	if p.MaxWorkers != 4 || p.BusyWorkers < 2 {
		t.Errorf("pool %+v once the second process started", p)
	}
}

// The example status configuration is one httpd accepts.
func TestExampleStatusConfig(t *testing.T) {
	apachetest.RequireApache(t)
	abs, err := filepath.Abs("../../examples/apache/status.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "httpd.conf")
	m := apachetest.ModulesDir
	text := "ServerRoot " + dir + "\nServerName 127.0.0.1\nListen 127.0.0.1:1\nErrorLog /dev/null\n" +
		"LoadModule mpm_event_module " + m + "/mod_mpm_event.so\n" +
		"LoadModule authz_core_module " + m + "/mod_authz_core.so\n" +
		"LoadModule authz_host_module " + m + "/mod_authz_host.so\n" +
		"LoadModule status_module " + m + "/mod_status.so\nInclude " + abs + "\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(apachetest.Binary, "-t", "-f", conf).CombinedOutput(); err != nil {
		t.Errorf("apache2 -t rejects the example: %v\n%s", err, out)
	}
}
