package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"text/template"
)

// promConfig fills testdata/prometheus.yml.tmpl.
type promConfig struct {
	ScrapeInterval     string
	EvaluationInterval string
	RuleFiles          []string
	Alertmanager       string // host:port
	CherryPyJob        string
	Exporter           string // host:port
	DemoJob            string
	Demo               string // host:port
	NativeJob          string
	Native             string // host:port
	// NativeHistograms turns on scrape_native_histograms (Prometheus 3).
	NativeHistograms bool
}

// amConfig fills testdata/alertmanager.yml.tmpl.
type amConfig struct {
	CriticalURL string
	WarningURL  string
}

// writeTemplate renders testdata/<name>.tmpl with data into dir/<name> and returns its path.
func writeTemplate(t *testing.T, dir, name string, data any) string {
	t.Helper()
	tmpl, err := template.New(name + ".tmpl").Option("missingkey=error").
		ParseFiles(filepath.Join("testdata", name+".tmpl"))
	if err != nil {
		t.Fatalf("parse template %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	if err := tmpl.Execute(f, data); err != nil {
		f.Close()
		t.Fatalf("render %s: %v", name, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}
