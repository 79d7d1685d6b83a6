package main

import (
	"os/exec"
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

// The example configurations of the PHP-FPM and Apache sources load with the exporter's
// sources, and their Prometheus configurations are ones Prometheus accepts.
func TestExampleConfigsOfOtherSources(t *testing.T) {
	for _, dir := range []string{"phpfpm", "apache"} {
		if _, err := exporter.LoadConfig("../../examples/"+dir+"/poolwatch_exporter.yml", sources); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
	const promtool = "/usr/bin/promtool"
	testproc.RequireTool(t, "promtool 2.42", "apt-get install prometheus", promtool, "--version")
	for _, dir := range []string{"phpfpm", "apache"} {
		out, err := exec.Command(promtool, "check", "config", "--syntax-only", "../../examples/"+dir+"/prometheus.yml").CombinedOutput()
		if err != nil {
			t.Errorf("promtool check config %s: %v\n%s", dir, err, out)
		}
	}
}
