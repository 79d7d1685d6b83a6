package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/poolwatch/poolwatch/internal/testproc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Several scenarios through the command's parallel runs: verdicts in the order of the
// files, a failed scenario counted, the alerts listed against the stall.
func TestRunPrintsVerdictsInOrder(t *testing.T) {
	const promtool = "/usr/bin/promtool"
	testproc.RequireTool(t, "promtool 2.42", "apt-get install prometheus (or make deps)", promtool, "--version")
	dir := t.TempDir()
	rules := write(t, dir, "rules.yaml", `groups:
- name: sim
  rules:
  - alert: Busy
    expr: workerpool_busy_workers >= workerpool_max_workers
    for: 2m
    labels: {severity: warning}
`)
	const base = `"kind": "detect", "instance": "i", "horizon": "30m", "workers": 4,
		"arrival": [[0, 2], [15, 2], [15.01, 12]], "service": 0.5, "sigma": 0.1`
	step := write(t, dir, "step.json", `{"name": "step", `+base+`}`)
	// The same pool said to be healthy: the alert that fires is a failure.
	wrong := write(t, dir, "wrong.json", `{"name": "wrong", `+strings.Replace(base, `"detect"`, `"healthy"`, 1)+`}`)
	calm := write(t, dir, "calm.json", `{"name": "calm", "kind": "healthy", "instance": "c", "horizon": "20m",
		"workers": 4, "arrival": 2, "service": 0.5}`)

	var out bytes.Buffer
	failed, err := run(context.Background(), &out, config{
		rules: []string{rules}, promtools: []string{promtool}, parallel: 3,
		files: []string{step, wrong, calm}, outDir: filepath.Join(dir, "out"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if failed != 1 {
		t.Errorf("%d failed, want 1 (wrong):\n%s", failed, out.String())
	}
	var verdicts []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "PASS ") || strings.HasPrefix(l, "FAIL ") {
			verdicts = append(verdicts, strings.Join(strings.Fields(l)[:2], " "))
		}
	}
	if strings.Join(verdicts, ", ") != "PASS step, FAIL wrong, PASS calm" {
		t.Errorf("verdicts %v:\n%s", verdicts, out.String())
	}
	if !strings.Contains(out.String(), "Busy") || !strings.Contains(out.String(), "after the stall") ||
		!strings.Contains(out.String(), "no alert fired") {
		t.Errorf("alerts not listed against the stall:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "promtool-0", "step.test.yaml")); err != nil {
		t.Errorf("--out kept no test file: %v", err)
	}

	// Two scenarios of one name would overwrite each other's files: refused.
	if _, err := run(context.Background(), &out, config{rules: []string{rules}, promtools: []string{promtool},
		parallel: 1, files: []string{step, step}}); err == nil {
		t.Error("two scenarios named alike were accepted")
	}
}
