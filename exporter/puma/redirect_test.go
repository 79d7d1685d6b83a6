package puma

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/pumatest"
)

// A module whose pattern allows more than Puma's /stats (here any path on loopback) must
// still never follow a redirect to another action of the control app: a real Puma is sent
// to /stop by a server the module allows, and must still be running afterwards.
func TestRedirectToStopRefused(t *testing.T) {
	srv := pumatest.Start(t, 0, 1, 1)
	stop := strings.Replace(srv.StatsURL, "/stats?", "/stop?", 1)
	redirector := httptest.NewServer(http.RedirectHandler(stop, http.StatusFound))
	t.Cleanup(redirector.Close)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "poolwatch.yml")
	if err := os.WriteFile(cfg, []byte("modules:\n  puma:\n    source: puma\n    target_patterns: ['http://127\\.0\\.0\\.1:[0-9]+/.*']\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := exporter.NewConfigStore(cfg, map[string]exporter.Source{Name: &Source{}})
	if err != nil {
		t.Fatal(err)
	}
	probe := exporter.NewProbeHandler(store, slog.New(slog.DiscardHandler))
	target := redirector.URL + "/stats?token=x"
	rec := httptest.NewRecorder()
	probe.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/probe?"+url.Values{"module": {"puma"}, "target": {target}}.Encode(), nil))
	if !strings.Contains(rec.Body.String(), `poolwatch_up{source="puma"} 0`) {
		t.Errorf("probe through a redirect to /stop:\n%s", rec.Body.String())
	}
	// Puma stops gracefully, a moment after /stop answers: give it that moment.
	time.Sleep(time.Second)
	if _, err := read(t, srv.StatsURL); err != nil || strings.Contains(srv.Log(), "stopping") {
		t.Errorf("Puma stopped after a probe redirected to /stop (read: %v); its log:\n%s", err, srv.Log())
	}
}
