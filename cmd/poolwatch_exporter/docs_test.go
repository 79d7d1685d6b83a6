package main

import (
	"os/exec"
	"testing"

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
