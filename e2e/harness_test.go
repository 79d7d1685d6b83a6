package e2e

// Tests of the harness itself. They run in every `go test ./...` (no POOLWATCH_E2E needed) and
// take a few seconds: a harness that misreports a timeout or a stop would make the end-to-end
// verdict worthless.

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/testproc"
)

func TestScaleDuration(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"5m", "20s"}, {"2m", "8s"}, {"1m", "4s"}, {"1h", "240s"}, {"4h", "960s"},
		{"6h", "1440s"}, {"30m", "120s"}, {"0s", "0s"}, {"10s", "1s"}, {"1s", "1s"}, {"500ms", "1s"},
	} {
		got, err := scaleDuration(c.in, 15)
		if err != nil || got != c.want {
			t.Errorf("scaleDuration(%q, 15) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "5", "1h30m", "m", "-1m", "1y"} {
		if got, err := scaleDuration(bad, 15); err == nil {
			t.Errorf("scaleDuration(%q) = %q, want an error", bad, got)
		}
	}
}

func TestScaledOverridesTakesOnlyDurationKnobs(t *testing.T) {
	got, err := scaledOverrides(map[string]any{
		"rateWindow": "5m", "predictHorizon": "15m", "exhaustedFor": "1m", "statsDownFor": "0s",
		"predictLevel": 0.75, "exhaustedQueueAgeSeconds": 10, "waitObjectiveSeconds": "1",
		"poolSelector": `job!=""`,
	}, 15)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"rateWindow": "20s", "predictHorizon": "60s", "exhaustedFor": "4s", "statsDownFor": "0s"}
	if len(got) != len(want) {
		t.Errorf("scaledOverrides = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("scaledOverrides[%s] = %q, want %q", k, got[k], v)
		}
	}
	if _, err := scaledOverrides(map[string]any{"rateWindow": 300}, 15); err == nil {
		t.Error("a numeric window was accepted")
	}
	if _, err := scaledOverrides(map[string]any{"predictLevel": 0.75}, 15); err == nil {
		t.Error("a config without any window was accepted")
	}
}

func TestTaskWindowOverridesKeepProductionRatio(t *testing.T) {
	config := map[string]any{
		"predictNoiseChanceFactor": 4.0, "predictNoiseChanceFloorFactor": 1.0, "predictNowNoise": 0.05,
		"predictLevel": 0.75, "rateWindow": "5m",
	}
	got, err := taskWindowOverrides(config, 15)
	if err != nil {
		t.Fatal(err)
	}
	// k * d / W and d / (noise^2 * W) with W divided by 15 and d not: the same values as the
	// shipped factors give on production's windows.
	for name, want := range map[string]float64{
		"predictNoiseChanceFactor": 4.0 / 15, "predictNoiseChanceFloorFactor": 1.0 / 15, "predictNowNoise": 0.05 * math.Sqrt(15),
	} {
		if math.Abs(got[name]-want) > 1e-12 {
			t.Errorf("taskWindowOverrides[%s] = %v, want %v", name, got[name], want)
		}
	}
	if len(got) != 3 {
		t.Errorf("taskWindowOverrides = %v, want the three knobs only", got)
	}
	if one, _ := taskWindowOverrides(config, 1); one["predictNowNoise"] != 0.05 || one["predictNoiseChanceFactor"] != 4 {
		t.Errorf("at scale 1 the shipped values must stand, got %v", one)
	}
	delete(config, "predictNowNoise")
	if _, err := taskWindowOverrides(config, 15); err == nil {
		t.Error("a config without predictNowNoise was accepted")
	}
}

func TestDescribeOverrides(t *testing.T) {
	got := describeOverrides(map[string]any{"rateWindow": "5m", "predictNowNoise": 0.05},
		map[string]any{"rateWindow": "20s", "predictNowNoise": 0.05 * math.Sqrt(15)})
	if want := "predictNowNoise=0.05→0.1936 rateWindow=5m→20s"; got != want {
		t.Errorf("describeOverrides = %q, want %q", got, want)
	}
}

// The knobs the test renders are the mixin's own: a renamed one would otherwise surface only
// in the half-hour end-to-end run.
func TestRenderedKnobsExistInMixin(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	config := mixinConfig(t, root)
	if _, err := scaledOverrides(config, defaultTimeScale); err != nil {
		t.Error(err)
	}
	if _, err := taskWindowOverrides(config, defaultTimeScale); err != nil {
		t.Error(err)
	}
}

func TestRampProfile(t *testing.T) {
	l := rampLoad{profile: []ratePoint{{0, 3}, {100 * time.Second, 13}}}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{{0, 3}, {50 * time.Second, 8}, {100 * time.Second, 13}, {time.Hour, 13}} {
		if got := l.rateAt(c.at); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("rateAt(%v) = %g, want %g", c.at, got, c.want)
		}
	}
	if got := timeToRate(l.profile, 8); got != 50*time.Second {
		t.Errorf("timeToRate(8) = %v, want 50s", got)
	}
	// The test's own ramp must cross the pool's capacity well within its time bound.
	if at := timeToRate(load.profile, capacity); at <= 0 || at >= load.maxDuration/2 {
		t.Errorf("the e2e ramp reaches capacity at %v; want early in its %v", at, load.maxDuration)
	}
}

// slowServer answers after delay, or as soon as the client goes away.
func slowServer(t *testing.T, delay time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLoadStopsAtMaxRequests(t *testing.T) {
	srv := slowServer(t, 10*time.Millisecond)
	l := rampLoad{url: srv.URL, timeout: time.Second, profile: []ratePoint{{0, 200}},
		maxRequests: 25, maxInFlight: 100, maxDuration: time.Minute}
	run := l.start(context.Background())
	select {
	case <-run.done:
	case <-time.After(10 * time.Second):
		run.Stop()
		t.Fatal("the load did not end after its request bound")
	}
	if s := run.Stats(); s.Sent != 25 || s.OK != 25 || s.InFlight != 0 || s.TimedOut+s.Failed != 0 {
		t.Errorf("stats %+v, want exactly 25 sent and ok", s)
	}
	if _, failed := run.FirstFailure(); failed {
		t.Error("a failure was recorded on a healthy server")
	}
}

func TestLoadRecordsFirstTimeout(t *testing.T) {
	srv := slowServer(t, 2*time.Second)
	l := rampLoad{url: srv.URL, timeout: 200 * time.Millisecond, profile: []ratePoint{{0, 20}},
		maxRequests: 5, maxInFlight: 100, maxDuration: time.Minute}
	began := time.Now()
	run := l.start(context.Background())
	defer run.Stop()
	select {
	case <-run.failed:
	case <-time.After(5 * time.Second):
		t.Fatal("no failure recorded against a server slower than the timeout")
	}
	f, ok := run.FirstFailure()
	if !ok || !f.Timeout {
		t.Fatalf("first failure %+v, want a timeout", f)
	}
	if took := f.At.Sub(began); took < l.timeout || took > l.timeout+time.Second {
		t.Errorf("first timeout recorded %v after the start, want about %v", took, l.timeout)
	}
	<-run.done
	if s := run.Stats(); s.TimedOut != 5 || s.Failed != 0 {
		t.Errorf("stats %+v, want 5 timed out", s)
	}
}

func TestLoadBoundsConcurrencyAndStopIsNoFailure(t *testing.T) {
	srv := slowServer(t, time.Minute)
	l := rampLoad{url: srv.URL, timeout: time.Minute, profile: []ratePoint{{0, 100}},
		maxRequests: 1000, maxInFlight: 3, maxDuration: time.Minute}
	run := l.start(context.Background())
	time.Sleep(300 * time.Millisecond)
	s := run.Stats()
	run.Stop()
	if s.Sent != 3 || s.InFlight != 3 || s.Skipped == 0 {
		t.Errorf("stats %+v, want 3 in flight and the rest skipped", s)
	}
	if f, failed := run.FirstFailure(); failed {
		t.Errorf("requests cut short by Stop counted as a failure: %+v", f)
	}
}

func TestLoadRecordsOtherFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	l := rampLoad{url: srv.URL, timeout: time.Second, profile: []ratePoint{{0, 50}},
		maxRequests: 3, maxInFlight: 10, maxDuration: time.Minute}
	run := l.start(context.Background())
	<-run.done
	f, ok := run.FirstFailure()
	if !ok || f.Timeout || !strings.Contains(f.Err, "503") {
		t.Errorf("first failure %+v, want a non-timeout 503", f)
	}
}

// A notification exactly as Alertmanager 0.25 posted it to a receiver routed like the test's
// (the alert itself was posted to its API by hand).
const sampleNotification = "testdata/webhook-notification.json"

func TestWebhookKeepsFiringAlertsInOrder(t *testing.T) {
	hook := newWebhook(t)
	body, err := os.ReadFile(sampleNotification)
	if err != nil {
		t.Fatal(err)
	}
	post := func(path string, body []byte) int {
		resp, err := http.Post(hook.URL(path), "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/warning", body); code != http.StatusOK {
		t.Fatalf("status %d for a real notification", code)
	}
	select {
	case <-hook.arrived:
	default:
		t.Error("arrival not signalled")
	}
	resolved := bytes.ReplaceAll(body, []byte(`"status":"firing"`), []byte(`"status":"resolved"`))
	post("/warning", resolved)
	if code := post("/warning", []byte("{not json")); code != http.StatusBadRequest {
		t.Errorf("status %d for malformed JSON, want 400", code)
	}
	alerts, malformed := hook.all()
	if len(alerts) == 0 || len(malformed) != 1 {
		t.Fatalf("got %d alerts and %d malformed, want the sample's firing alerts and 1 malformed", len(alerts), len(malformed))
	}
	a := alerts[0]
	if a.Labels["alertname"] == "" || a.Labels["severity"] == "" || a.Receiver == "" || a.StartsAt.IsZero() {
		t.Errorf("alert decoded incompletely: %+v", a)
	}
	if _, ok := hook.first(map[string]string{"alertname": a.Labels["alertname"]}); !ok {
		t.Error("first() does not find the alert by its name")
	}
	if _, ok := hook.first(map[string]string{"alertname": "NoSuchAlert"}); ok {
		t.Error("first() found an alert that never came")
	}
	if got := hook.unseen(); len(got) != len(alerts) {
		t.Errorf("unseen() = %d alerts, want %d", len(got), len(alerts))
	}
	if got := hook.unseen(); len(got) != 0 {
		t.Errorf("unseen() again = %d alerts, want 0", len(got))
	}
}

func TestConfigTemplatesAreValid(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte("groups: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := writeTemplate(t, dir, "prometheus.yml", promConfig{
		ScrapeInterval: "1s", EvaluationInterval: "1s", RuleFiles: []string{rules},
		Alertmanager: "127.0.0.1:9093", CherryPyJob: cherrypyJob, Exporter: "127.0.0.1:9999",
		DemoJob: demoJob, Demo: "127.0.0.1:9998", NativeJob: nativeJob, Native: "127.0.0.1:9997",
	})
	// The Prometheus 3 run's config, with native histogram scraping, checked by promtool 3.
	prom3Dir := filepath.Join(dir, "3")
	mkdir(t, prom3Dir)
	prom3 := writeTemplate(t, prom3Dir, "prometheus.yml", promConfig{
		ScrapeInterval: "1s", EvaluationInterval: "1s", RuleFiles: []string{rules},
		Alertmanager: "127.0.0.1:9093", CherryPyJob: cherrypyJob, Exporter: "127.0.0.1:9999",
		DemoJob: demoJob, Demo: "127.0.0.1:9998", NativeJob: nativeJob, Native: "127.0.0.1:9997",
		NativeHistograms: true,
	})
	if b, err := os.ReadFile(prom3); err != nil || !strings.Contains(string(b), "scrape_native_histograms: true") {
		t.Errorf("the Prometheus 3 config does not scrape native histograms (%v)", err)
	}
	am := writeTemplate(t, dir, "alertmanager.yml", amConfig{
		CriticalURL: "http://127.0.0.1:1/critical", WarningURL: "http://127.0.0.1:1/warning",
	})
	for _, c := range []struct {
		bin  string
		args []string
	}{
		{"/usr/bin/promtool", []string{"check", "config", prom}},
		{filepath.Join("..", "bin", "promtool"), []string{"check", "config", prom3}},
		{"/usr/bin/amtool", []string{"check-config", am}},
	} {
		if !fileExists(c.bin) {
			testproc.MissingTool(t, c.bin, installHint, "not installed")
		}
		if out, err := exec.Command(c.bin, c.args...).CombinedOutput(); err != nil {
			t.Errorf("%s %v: %v\n%s", c.bin, c.args, err, out)
		}
	}
}
