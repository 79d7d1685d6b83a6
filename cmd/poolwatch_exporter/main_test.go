package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/poolwatch/poolwatch/internal/testproc"
)

// binary is the exporter built once for every test here: the tests run the real command
// with its real flags, as a user would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "poolwatch_exporter_test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "poolwatch_exporter")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the exporter: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// exporterProc is one running poolwatch_exporter.
type exporterProc struct {
	*testproc.Proc
	addr string
}

// startExporter runs the exporter on a free loopback port with args, waits (at most 10 s)
// until it accepts connections, and stops it in t.Cleanup.
func startExporter(t *testing.T, args ...string) *exporterProc {
	t.Helper()
	addr := testproc.HostPort(testproc.FreePort(t))
	p := testproc.Start(t, testproc.Spec{
		Name:  "exporter",
		Path:  binary,
		Args:  append([]string{"--web.listen-address=" + addr, "--log.level=debug"}, args...),
		Grace: 5 * time.Second,
	})
	p.WaitUntil(t, "exporter listening", 10*time.Second, testproc.TCPReady(addr))
	return &exporterProc{Proc: p, addr: addr}
}

// httpClient leaves no idle connection behind (goleak); tlsConfig may be nil.
func httpClient(tlsConfig *tls.Config) *http.Client {
	return &http.Client{Timeout: 15 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: tlsConfig}}
}

// get fetches url and returns the status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape is one parsed /metrics or /probe answer.
type scrape map[string]*dto.MetricFamily

func parse(t *testing.T, body string) scrape {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing exposition: %v\n%s", err, body)
	}
	return mfs
}

// value returns the value of the series name{labels...}, and whether it exists.
func (s scrape) value(name string, labels ...string) (float64, bool) {
	mf, ok := s[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.Metric {
		match := 0
		for i := 0; i+1 < len(labels); i += 2 {
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					match++
				}
			}
		}
		if match*2 != len(labels) {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		}
	}
	return 0, false
}

// workerpoolSeries lists the workerpool_* families present.
func (s scrape) workerpoolSeries() []string {
	var names []string
	for name := range s {
		if strings.HasPrefix(name, "workerpool_") {
			names = append(names, name)
		}
	}
	return names
}

// promtoolCheck runs `promtool check metrics` (Debian's /usr/bin/promtool) on body.
func promtoolCheck(t *testing.T, body string) {
	t.Helper()
	const promtool = "/usr/bin/promtool"
	testproc.RequireTool(t, "promtool 2.42", "apt-get install prometheus", promtool, "--version")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
