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
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fetchSource really reads the target: one pool named after the body.
type fetchSource struct{}

func (fetchSource) Name() string { return "fake" }

func (fetchSource) Read(ctx context.Context, r Reader, target string, _ *slog.Logger) ([]Pool, error) {
	body, err := r.Get(ctx, target)
	if err != nil {
		return nil, err
	}
	return []Pool{{Name: string(body), MaxWorkers: 2, Workers: 2, BusyWorkers: 1}}, nil
}

func probeServer(t *testing.T, patterns ...string) (exporterURL string, allowedTarget string) {
	t.Helper()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "main:8080")
	}))
	t.Cleanup(target.Close)
	yml := "modules:\n  m:\n    source: fake\n    timeout: 2s\n    targets: [" + target.URL + "/cpstats/data]\n" +
		"    target_patterns: ['" + strings.Join(append(patterns, "NONE"), "', '") + "']\n"
	return probeExporter(t, yml), target.URL
}

// probeExporter serves /probe with the modules of yml (the fake source) and returns its URL.
func probeExporter(t *testing.T, yml string) string {
	t.Helper()
	u, _ := probeExporterStore(t, yml)
	return u
}

// probeExporterStore is probeExporter that also returns the configuration.
func probeExporterStore(t *testing.T, yml string) (string, *ConfigStore) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := NewConfigStore(path, map[string]Source{"fake": fetchSource{}})
	if err != nil {
		t.Fatal(err)
	}
	exp := httptest.NewServer(NewProbeHandler(store, discard()))
	t.Cleanup(exp.Close)
	return exp.URL, store
}

func get(t *testing.T, u string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := noKeepAlive().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func probeURL(base, module, target string) string {
	return base + "/probe?" + url.Values{"module": {module}, "target": {target}}.Encode()
}

func TestProbe(t *testing.T) {
	exp, target := probeServer(t)
	code, body := get(t, probeURL(exp, "m", target+"/cpstats/data"))
	if code != 200 || !strings.Contains(body, `poolwatch_up{source="fake"} 1`) ||
		!strings.Contains(body, `workerpool_busy_workers{pool="main:8080"} 1`) {
		t.Errorf("allowed probe: %d\n%s", code, body)
	}
}

func TestProbeRefusals(t *testing.T) {
	exp, target := probeServer(t)
	for name, tc := range map[string]struct {
		url  string
		code int
	}{
		"missing module": {exp + "/probe?target=" + url.QueryEscape(target+"/cpstats/data"), 400},
		"unknown module": {probeURL(exp, "nope", target+"/cpstats/data"), 400},
		"missing target": {exp + "/probe?module=m", 400},
		// Another path on an allowed host is another target: refused.
		"disallowed path": {probeURL(exp, "m", target+"/admin"), 403},
		"disallowed host": {probeURL(exp, "m", "http://169.254.169.254/latest/meta-data"), 403},
	} {
		t.Run(name, func(t *testing.T) {
			code, body := get(t, tc.url)
			if code != tc.code {
				t.Errorf("status %d, want %d: %s", code, tc.code, body)
			}
			if strings.Contains(body, "poolwatch_up") {
				t.Errorf("a refused probe read the target: %s", body)
			}
		})
	}
}

func TestProbeTargetPattern(t *testing.T) {
	exp, target := probeServer(t, `http://127\.0\.0\.1:[0-9]+/other`)
	if code, body := get(t, probeURL(exp, "m", target+"/other")); code != 200 || !strings.Contains(body, "poolwatch_up") {
		t.Errorf("pattern-allowed target: %d %s", code, body)
	}
}

// The probe follows Prometheus' scrape timeout, not just the module's 2 s.
func TestProbeFollowsScrapeTimeoutHeader(t *testing.T) {
	exp, target := probeServer(t, `http://127\.0\.0\.1:[0-9]+/hang`)
	start := time.Now()
	code, body := get(t, probeURL(exp, "m", target+"/hang"), "X-Prometheus-Scrape-Timeout-Seconds", "1")
	elapsed := time.Since(start)
	if code != 200 || !strings.Contains(body, `poolwatch_up{source="fake"} 0`) {
		t.Errorf("%d %s", code, body)
	}
	if elapsed < 400*time.Millisecond || elapsed > 1500*time.Millisecond {
		t.Errorf("answered after %v, want about 0.5 s (1 s scrape timeout minus the offset)", elapsed)
	}
}

func TestMetricsHandlerSingleTarget(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0") // never accepts: a hung target
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	base := prometheus.NewRegistry()
	base.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "own_metric"}))
	target := &Target{Source: fetchSource{}, Reader: NewReader(noKeepAlive()), URL: "http://" + l.Addr().String(), Timeout: 300 * time.Millisecond}
	srv := httptest.NewServer(NewMetricsHandler(base, target, discard()))
	defer srv.Close()
	start := time.Now()
	code, body := get(t, srv.URL)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("a hung target held the scrape for %v", elapsed)
	}
	if code != 200 || !strings.Contains(body, "own_metric 0") || !strings.Contains(body, `poolwatch_up{source="fake"} 0`) ||
		strings.Contains(body, "workerpool_") {
		t.Errorf("%d\n%s", code, body)
	}
	// Without a target, only the exporter's own metrics.
	srv2 := httptest.NewServer(NewMetricsHandler(base, nil, discard()))
	defer srv2.Close()
	if _, body := get(t, srv2.URL); strings.Contains(body, "poolwatch_up") {
		t.Errorf("no target configured, yet:\n%s", body)
	}
}

// An allowed target that answers with a redirect cannot send the exporter to a target the
// module does not allow; a redirect to an allowed one is followed.
func TestProbeRedirectsStayInsideTheAllowList(t *testing.T) {
	var admin atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/out":
			http.Redirect(w, r, "/admin", http.StatusFound)
		case "/in":
			http.Redirect(w, r, "/cpstats/data", http.StatusFound)
		case "/admin":
			admin.Add(1)
			io.WriteString(w, "admin:1")
		default:
			io.WriteString(w, "main:8080")
		}
	}))
	t.Cleanup(target.Close)
	yml := "modules:\n  m:\n    source: fake\n    timeout: 2s\n    targets: [" +
		target.URL + "/out, " + target.URL + "/in, " + target.URL + "/cpstats/data]\n"
	exp := probeExporter(t, yml)

	if code, body := get(t, probeURL(exp, "m", target.URL+"/out")); code != 200 ||
		!strings.Contains(body, `poolwatch_up{source="fake"} 0`) || strings.Contains(body, "admin:1") {
		t.Errorf("redirect to a disallowed target: %d\n%s", code, body)
	}
	if n := admin.Load(); n != 0 {
		t.Errorf("the exporter followed a redirect to a disallowed target %d times", n)
	}
	if code, body := get(t, probeURL(exp, "m", target.URL+"/in")); code != 200 ||
		!strings.Contains(body, `workerpool_busy_workers{pool="main:8080"} 1`) {
		t.Errorf("redirect to an allowed target: %d\n%s", code, body)
	}
}

// A refused probe is logged with its target redacted: Prometheus may send a target the module
// no longer allows on every scrape, with a token or a password in it.
func TestRefusedProbeLogRedacted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte("modules:\n  m:\n    source: fake\n    targets: [http://127.0.0.1:1/stats]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := NewConfigStore(path, map[string]Source{"fake": fetchSource{}})
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	h := NewProbeHandler(store, slog.New(slog.NewTextHandler(&log, nil)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, probeURL("", "m", "http://u:s3cret@127.0.0.1:2/stats?token=s3cret"), nil))
	if rec.Code != http.StatusForbidden || !strings.Contains(log.String(), "refused probe") || strings.Contains(log.String(), "s3cret") {
		t.Errorf("status %d, log:\n%s", rec.Code, log.String())
	}
}

// As node_exporter: OpenMetrics for a scraper that asks for it, on /probe and on /metrics.
func TestOpenMetricsNegotiated(t *testing.T) {
	exp, target := probeServer(t)
	base := prometheus.NewRegistry()
	base.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "own_metric"}))
	metrics := httptest.NewServer(NewMetricsHandler(base, nil, discard()))
	t.Cleanup(metrics.Close)
	const accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
	for name, u := range map[string]string{
		"probe":   probeURL(exp, "m", target+"/cpstats/data"),
		"metrics": metrics.URL,
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("Accept", accept)
			resp, err := noKeepAlive().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
				t.Errorf("Content-Type %q, want OpenMetrics", ct)
			}
			if !strings.HasSuffix(string(body), "# EOF\n") {
				t.Errorf("no # EOF:\n%s", body)
			}
			// Without the header: the text format, as before.
			if _, plain := get(t, u); strings.Contains(plain, "# EOF") {
				t.Error("OpenMetrics without asking for it")
			}
		})
	}
}
