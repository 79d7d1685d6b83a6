package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/testproc"
)

// defaultTimeScale is how much faster than a real deployment the test runs: every window,
// forecast horizon and `for` of the mixin's _config is divided by it, and Prometheus scrapes
// and evaluates every second instead of every 15 s. One second of the test is 15 s of
// production, so the shipped tuning is what is tested, only sped up. Thresholds in seconds of
// wait or run time (exhaustedQueueAgeSeconds, hungTaskAgeSeconds, waitObjectiveSeconds) are
// not scaled: they are about what a user waits, and the test's users wait in real seconds.
// Nor are task durations; the knobs that compare one with a window are (taskWindowKnobs).
// POOLWATCH_E2E_TIMESCALE changes it (1 runs the shipped windows in real time, for about half
// an hour, with the load's ramp stretched to match).
const defaultTimeScale = 15

// timeScale is defaultTimeScale, or POOLWATCH_E2E_TIMESCALE (a divisor of 15, from 1 to 15).
func timeScale(t *testing.T) int {
	t.Helper()
	v := os.Getenv("POOLWATCH_E2E_TIMESCALE")
	if v == "" {
		return defaultTimeScale
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 15 || 15%n != 0 {
		t.Fatalf("POOLWATCH_E2E_TIMESCALE=%q: want 1, 3, 5 or 15", v)
	}
	return n
}

// scaledKnob matches the _config fields that are durations of the rules' own clock: windows,
// forecast horizons and `for` durations (see mixin/config.libsonnet).
var scaledKnob = regexp.MustCompile(`(Window|Horizon|For)$`)

// promDuration matches the one-unit Prometheus durations the mixin's config uses.
var promDuration = regexp.MustCompile(`^([0-9]+)(ms|s|m|h|d|w)$`)

var durationUnits = map[string]time.Duration{
	"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
	"d": 24 * time.Hour, "w": 7 * 24 * time.Hour,
}

// scaleDuration divides a Prometheus duration by factor and returns it in whole seconds,
// never rounding a non-zero duration down to 0 (Prometheus rejects a zero range).
func scaleDuration(d string, factor int) (string, error) {
	m := promDuration.FindStringSubmatch(d)
	if m == nil {
		return "", fmt.Errorf("duration %q: want one number and one unit", d)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return "", fmt.Errorf("duration %q: %w", d, err)
	}
	total := time.Duration(n) * durationUnits[m[2]]
	secs := int((total/time.Duration(factor) + time.Second/2) / time.Second)
	if secs == 0 && total > 0 {
		secs = 1
	}
	return strconv.Itoa(secs) + "s", nil
}

// scaledOverrides returns, for every duration knob of config, the value divided by factor.
func scaledOverrides(config map[string]any, factor int) (map[string]string, error) {
	out := map[string]string{}
	for name, v := range config {
		if !scaledKnob.MatchString(name) {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("_config.%s is %T, want a duration string", name, v)
		}
		scaled, err := scaleDuration(s, factor)
		if err != nil {
			return nil, fmt.Errorf("_config.%s: %w", name, err)
		}
		out[name] = scaled
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no window, horizon or for in _config: did the mixin rename them?")
	}
	return out, nil
}

// taskWindowKnobs are the _config fields that compare a task's duration d with a window W,
// and the power of the time scale that keeps their meaning. The test shrinks every window by
// the time scale but not its tasks (a CherryPy request holds its thread for a real second),
// so d / W is that many times production's: at 15, ten threads of 1 s tasks would be judged as
// ten threads of 15 s tasks are in production, by the chance terms of the noise gate
// (variance k * u / c * d / W: the chance bound and the chance floor, whose factors are
// divided by the scale) and by the short trend's noise test (d / c under predictNowNoise^2 *
// W: the noise level is multiplied by the square root of the scale). Rendered so, the rules
// see the test's pools with production's d / W: exactly for the bound and the noise test,
// which are linear in d / W; the floor's variance, d / W * (1 - d / 3W), is not, and comes out
// short by the factor (1 - scale * d / 3W) / (1 - d / 3W): 4% for the CherryPy pool's 1 s
// tasks on the 2m window (a gate of 82.3% for 82.5%), under 1% for the demo's. The noise the
// rules measure is the test's own. exhaustedWindow is shrunk with the other windows, but
// WorkerPoolExhausted's exhausted span (421 mean task durations per worker, in seconds: how long
// a healthy pool of the test's tasks can be all busy by chance) is not, and is no knob: the
// CherryPy pool's 1 s requests on 10 threads get a span of 42 s, so the pool is judged over
// the 48 s window (12m in production), where a production pool of 1 s requests keeps 2m. The
// critical comes later than a production pool's, which only tightens the check that it comes
// within criticalWithin.
// statsSilentLookback (1h) is not shrunk: no stats read fails here.
var taskWindowKnobs = map[string]float64{
	"predictNoiseChanceFactor":      -1,
	"predictNoiseChanceFloorFactor": -1,
	"predictNowNoise":               0.5,
}

// taskWindowOverrides returns every taskWindowKnobs field of config times scale to its power.
func taskWindowOverrides(config map[string]any, scale int) (map[string]float64, error) {
	out := map[string]float64{}
	for name, power := range taskWindowKnobs {
		v, ok := config[name].(float64)
		if !ok {
			return nil, fmt.Errorf("_config.%s is %T, want a number: did the mixin rename it?", name, config[name])
		}
		out[name] = v * math.Pow(float64(scale), power)
	}
	return out, nil
}

// jsonnetBin finds the jsonnet binary the way mixin/generate.sh does.
func jsonnetBin(t *testing.T, root string) string {
	t.Helper()
	if j := os.Getenv("JSONNET"); j != "" {
		return j
	}
	if j := filepath.Join(root, "bin", "jsonnet"); fileExists(j) {
		return j
	}
	if j, err := exec.LookPath("jsonnet"); err == nil {
		return j
	}
	testproc.MissingTool(t, "jsonnet", "make tools", "not in $JSONNET, bin/jsonnet or PATH")
	return ""
}

// mixinConfig is the mixin's _config as it ships, so that the test follows any retuning.
func mixinConfig(t *testing.T, root string) map[string]any {
	t.Helper()
	out, err := exec.Command(jsonnetBin(t, root), "-J", filepath.Join(root, "mixin"),
		"-e", "(import 'mixin.libsonnet')._config").Output()
	if err != nil {
		t.Fatalf("read the mixin's _config: %v\n%s", err, stderrOf(err))
	}
	var config map[string]any
	if err := json.Unmarshal(out, &config); err != nil {
		t.Fatalf("parse the mixin's _config: %v", err)
	}
	return config
}

// renderMixin renders the mixin with every duration knob divided by scale, and the knobs
// comparing a task's duration with a window kept to production's meaning, into dir, through
// the mixin's own override mechanism (generate.sh --all), and returns the rule files, the
// directory of the dashboards (whose queries name the recording rules by their shrunk
// windows, as a user's overridden _config would) and a description of the overrides it used.
func renderMixin(t *testing.T, root, dir string, scale int) (files []string, dashboards, shrunk string) {
	t.Helper()
	jsonnet := jsonnetBin(t, root)
	config := mixinConfig(t, root)
	durations, err := scaledOverrides(config, scale)
	if err != nil {
		t.Fatal(err)
	}
	ratios, err := taskWindowOverrides(config, scale)
	if err != nil {
		t.Fatal(err)
	}
	overrides := map[string]any{}
	for n, v := range durations {
		overrides[n] = v
	}
	for n, v := range ratios {
		overrides[n] = v
	}
	// A JSON object is a jsonnet object: generate.sh merges it into _config.
	overridesJSON, err := json.MarshalIndent(overrides, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	overridesPath := filepath.Join(dir, "e2e-overrides.libsonnet")
	if err := os.WriteFile(overridesPath, overridesJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "mixin")
	rulesDir := filepath.Join(outDir, "alerts")
	cmd := exec.Command(filepath.Join(root, "mixin", "generate.sh"), "--all", outDir, overridesPath)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "JSONNET="+jsonnet)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mixin/generate.sh --all: %v\n%s", err, out)
	}
	files, err = filepath.Glob(filepath.Join(rulesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("generate.sh wrote no rule files into %s (%v)", rulesDir, err)
	}
	return files, filepath.Join(outDir, "dashboards"), describeOverrides(config, overrides)
}

// describeOverrides formats the overrides as "name=default→scaled" for the log.
func describeOverrides(defaults, overrides map[string]any) string {
	names := make([]string, 0, len(overrides))
	for n := range overrides {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%v→%s ", n, defaults[n], formatKnob(overrides[n]))
	}
	return strings.TrimSpace(b.String())
}

// formatKnob prints a duration as it is and a number to four significant digits.
func formatKnob(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'g', 4, 64)
	}
	return fmt.Sprint(v)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// stderrOf returns the stderr an exec.Cmd.Output error carries, if any.
func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
