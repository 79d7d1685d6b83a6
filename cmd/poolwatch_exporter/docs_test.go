package main

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/internal/testproc"
)

// The scrape configuration the README points to must be one Prometheus accepts.
func TestExamplePrometheusConfig(t *testing.T) {
	const promtool = "/usr/bin/promtool"
	testproc.RequireTool(t, "promtool 2.42", "apt-get install prometheus", promtool, "--version")
	out, err := exec.Command(promtool, "check", "config", "--syntax-only", "../../examples/cherrypy/prometheus.yml").CombinedOutput()
	if err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
}

// The example configurations of every source load with the exporter's sources (each with
// its module), and their Prometheus configurations are ones Prometheus accepts.
func TestExampleConfigsOfOtherSources(t *testing.T) {
	dirs := []string{"phpfpm", "apache", "uwsgi", "puma", "tomcat"}
	for _, dir := range append([]string{"cherrypy"}, dirs...) {
		path := filepath.Join("..", "..", "examples", dir, "poolwatch_exporter.yml")
		cfg, err := exporter.LoadConfig(path, sources)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if m, ok := cfg.Modules[dir]; !ok || m.Source != dir {
			t.Errorf("%s: no module %q of source %q", path, dir, dir)
		}
	}
	const promtool = "/usr/bin/promtool"
	testproc.RequireTool(t, "promtool 2.42", "apt-get install prometheus", promtool, "--version")
	for _, dir := range dirs {
		out, err := exec.Command(promtool, "check", "config", "--syntax-only", "../../examples/"+dir+"/prometheus.yml").CombinedOutput()
		if err != nil {
			t.Errorf("promtool check config %s: %v\n%s", dir, err, out)
		}
	}
}
