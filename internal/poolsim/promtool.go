package poolsim

import (
	"bytes"
	"context"
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
)

// TestFile is a `promtool test rules` file. It is written as JSON, which is YAML.
type TestFile struct {
	RuleFiles          []string    `json:"rule_files"`
	EvaluationInterval string      `json:"evaluation_interval"`
	Tests              []TestGroup `json:"tests"`
}

// TestGroup is one test of a promtool test file: input series and assertions.
type TestGroup struct {
	Name        string        `json:"name"`
	Interval    string        `json:"interval"`
	InputSeries []InputSeries `json:"input_series"`
	ExprTests   []ExprTest    `json:"promql_expr_test"`
}

// ExprTest asserts the result of a PromQL expression at one time.
type ExprTest struct {
	Expr       string      `json:"expr"`
	EvalTime   string      `json:"eval_time"`
	ExpSamples []ExpSample `json:"exp_samples"`
}

// ExpSample is one expected sample; labels in PromQL notation.
type ExpSample struct {
	Labels string  `json:"labels"`
	Value  float64 `json:"value"`
}

// alertSelector selects the firing alerts of the scenario's instance; pages restricts it to
// the severities that reach a person (info goes nowhere).
func alertSelector(sc *Scenario, pages bool) string {
	sel := fmt.Sprintf(`ALERTS{alertstate="firing",instance=%q`, sc.Instance)
	if pages {
		sel += `,severity=~"warning|critical"`
	}
	return sel + "}"
}

func minutes(sec float64) string { return strconv.Itoa(int(math.Round(sec/60))) + "m" }

// firedBy is an assertion that a paging alert fired at some point in the first by seconds
// (want true) or never did (want false).
func firedBy(sc *Scenario, by float64, want bool) ExprTest {
	t := ExprTest{
		Expr:       fmt.Sprintf("clamp_max(count(max_over_time(%s[%s])), 1)", alertSelector(sc, true), minutes(by)),
		EvalTime:   minutes(by),
		ExpSamples: []ExpSample{},
	}
	if want {
		t.ExpSamples = append(t.ExpSamples, ExpSample{Labels: "{}", Value: 1})
	}
	return t
}

// Checks are the assertions of the scenario's kind (see Kind), at whole minutes: the rules
// are evaluated once a minute, so an alert "by" a time means by the last evaluation before it.
func Checks(sc *Scenario, res *Result) ([]ExprTest, error) {
	floorMin := func(s float64) float64 { return 60 * math.Floor(s/60) }
	switch sc.Kind {
	case Healthy:
		return []ExprTest{firedBy(sc, floorMin(sc.Horizon.Seconds()), false)}, nil
	case Exhaustion, Detect:
		if math.IsNaN(res.Stall) {
			return nil, fmt.Errorf("%s: the simulated pool never stalled; a %s scenario needs load that exhausts it", sc.Name, sc.Kind)
		}
	}
	var tests []ExprTest
	var by float64
	if sc.Kind == Exhaustion {
		if sc.QuietUntil != nil && *sc.QuietUntil >= 60 {
			tests = append(tests, firedBy(sc, sc.QuietUntil.Seconds(), false))
		}
		by = floorMin(res.Stall - sc.Lead.Seconds())
	} else {
		by = floorMin(math.Min(res.Stall+sc.DetectWithin.Seconds(), sc.Horizon.Seconds()))
	}
	if by < 60 {
		// Rules are evaluated once a minute: no alert can be asked for before the first.
		if sc.Kind == Exhaustion {
			return nil, fmt.Errorf("%s: the pool stalls at %.1fm, too early for an alert %v before it", sc.Name, res.Stall/60, *sc.Lead)
		}
		return nil, fmt.Errorf("%s: the pool stalls at %.1fm, too early for an alert within %v of it (no rule is evaluated before 1m)", sc.Name, res.Stall/60, *sc.DetectWithin)
	}
	return append(tests, firedBy(sc, by, true)), nil
}

// Build writes the promtool test of a scenario: its input series from the run, and the
// assertions of its kind. Rule files are made absolute, so that the test can be run from
// anywhere.
func Build(sc *Scenario, res *Result, rules []string) (*TestFile, error) {
	checks, err := Checks(sc, res)
	if err != nil {
		return nil, err
	}
	return testFile(sc, res, rules, checks)
}

func testFile(sc *Scenario, res *Result, rules []string, tests []ExprTest) (*TestFile, error) {
	abs := make([]string, len(rules))
	for i, r := range rules {
		a, err := filepath.Abs(r)
		if err != nil {
			return nil, err
		}
		abs[i] = a
	}
	return &TestFile{
		RuleFiles:          abs,
		EvaluationInterval: sc.EvaluationInterval.String(),
		Tests: []TestGroup{{
			Name:        sc.Name,
			Interval:    sc.Scrape.String(),
			InputSeries: Series(sc, res.Samples),
			ExprTests:   tests,
		}},
	}, nil
}

// Firing is the first time an alert fired during a run.
type Firing struct {
	Alert, Severity string
	At              float64 // seconds since the start
}

// Verdict is one scenario run through one promtool.
type Verdict struct {
	Scenario *Scenario
	Promtool string // the promtool's version, or its path when it reports none
	Stall    float64
	// Pass is promtool's verdict on the scenario's assertions; Output is what it printed
	// when they failed.
	Pass   bool
	Output string
	// Alerts is the first firing of every alert about the instance, in time order.
	// FirstPage is the first of those with a paging severity (warning or critical); NaN
	// when none fired.
	Alerts    []Firing
	FirstPage float64
}

// Lead is how long before the stall the first paging alert fired (negative: after it);
// NaN without a stall or an alert.
func (v *Verdict) Lead() float64 { return v.Stall - v.FirstPage }

// Line is the verdict as one line: PASS or FAIL, the scenario, its stall, first alert,
// lead, and the promtool.
func (v *Verdict) Line() string {
	word := "FAIL"
	if v.Pass {
		word = "PASS"
	}
	stall, first, lead := "-", "never", ""
	if !math.IsNaN(v.Stall) {
		stall = fmt.Sprintf("%.1fm", v.Stall/60)
	}
	if !math.IsNaN(v.FirstPage) {
		first = minutes(v.FirstPage)
		if !math.IsNaN(v.Stall) {
			lead = fmt.Sprintf(" lead=%+.1fm", v.Lead()/60)
		}
	}
	return fmt.Sprintf("%s %s kind=%s stall=%s first_alert=%s%s promtool=%s",
		word, v.Scenario.Name, v.Scenario.Kind, stall, first, lead, v.Promtool)
}

// Promtool is one promtool binary, with the version it reports.
type Promtool struct {
	Path, Version string
}

var versionRE = regexp.MustCompile(`version ([^ ]+)`)

// NewPromtool checks that path runs and reads its version (promtool built without version
// information reports none: then the path stands for it).
func NewPromtool(ctx context.Context, path string) (Promtool, error) {
	out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	if err != nil {
		return Promtool{}, fmt.Errorf("%s --version: %v: %s", path, err, bytes.TrimSpace(out))
	}
	p := Promtool{Path: path, Version: path}
	if m := versionRE.FindSubmatch(out); m != nil {
		p.Version = string(m[1])
	}
	return p, nil
}

// Run judges a scenario under one promtool, in one run over the scenario's series: the
// assertions of its kind (Checks), and a probe that reads when each alert first fired. It
// also writes the assertions alone to dir/<name>.test.yaml, a test promtool passes or fails
// by itself, for whoever wants to rerun it.
func Run(ctx context.Context, sc *Scenario, res *Result, rules []string, pt Promtool, dir string) (*Verdict, error) {
	v := &Verdict{Scenario: sc, Promtool: pt.Version, Stall: res.Stall, FirstPage: math.NaN()}
	checks, err := Checks(sc, res)
	if err != nil {
		return nil, err
	}
	tf, err := testFile(sc, res, rules, checks)
	if err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(dir, sc.Name+".test.yaml"), tf); err != nil {
		return nil, err
	}
	probe := probeTest(sc)
	tf.Tests[0].ExprTests = append(tf.Tests[0].ExprTests, probe)
	path := filepath.Join(dir, sc.Name+".run.yaml")
	if err := writeJSON(path, tf); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, pt.Path, "test", "rules", path).CombinedOutput()
	failures := parseFailures(string(out))
	var rest []string
	found := false
	for _, f := range failures {
		if f.expr == probe.Expr {
			found = true
			if v.Alerts, err = parseProbe(f.got); err != nil {
				return nil, err
			}
			continue
		}
		rest = append(rest, f.text)
	}
	switch {
	case strings.Contains(string(out), "no file match"):
		// promtool only warns about a rule file it cannot find, and tests without it.
		return nil, fmt.Errorf("%s test rules %s: a rule file is missing\n%s", pt.Path, path, out)
	case !found:
		// The probe cannot pass: without its failure, promtool did not judge the test.
		return nil, fmt.Errorf("%s test rules %s: %v\n%s", pt.Path, path, err, out)
	}
	v.Pass = len(rest) == 0
	v.Output = strings.Join(rest, "\n")
	for _, f := range v.Alerts {
		if f.Severity == "warning" || f.Severity == "critical" {
			v.FirstPage = f.At
			break
		}
	}
	return v, nil
}

// probeMarker is the value the probe asserts; no timestamp can equal it, so the assertion
// always fails and promtool prints what it got.
const probeMarker = -1

// probeTest asks promtool for the earliest timestamp of every alert's firing series about
// the scenario's instance over the whole run.
func probeTest(sc *Scenario) ExprTest {
	end := 60 * math.Floor(sc.Horizon.Seconds()/60)
	return ExprTest{
		Expr: fmt.Sprintf("min by (alertname, severity) (min_over_time(timestamp(%s)[%s:%s]))",
			alertSelector(sc, false), minutes(end), sc.EvaluationInterval),
		EvalTime:   minutes(end),
		ExpSamples: []ExpSample{{Labels: "{}", Value: probeMarker}},
	}
}

// failure is one failed expression test as promtool prints it:
//
//	expr: "<expr, Go-quoted>", time: 25m,
//	    exp: {} -1E+00
//	    got: {alertname="A", severity="warning"} 1.8E+02, ...
type failure struct {
	expr, time, got, text string
}

var exprRE = regexp.MustCompile(`(?m)^\s*expr: ("(?:[^"\\]|\\.)*"), time: ([^,\s]+),?\s*$`)

func parseFailures(out string) []failure {
	var fs []failure
	locs := exprRE.FindAllStringSubmatchIndex(out, -1)
	for i, l := range locs {
		end := len(out)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		text := out[l[0]:end]
		if j := strings.Index(text, "FAILED:"); j >= 0 {
			text = text[:j]
		}
		expr, err := strconv.Unquote(out[l[2]:l[3]])
		if err != nil {
			continue
		}
		f := failure{expr: expr, time: out[l[4]:l[5]], text: strings.TrimRight(text, " \n")}
		if m := gotRE.FindStringSubmatch(text); m != nil {
			f.got = m[1]
		}
		fs = append(fs, f)
	}
	return fs
}

var (
	gotRE    = regexp.MustCompile(`(?m)^\s*got:\s*(.*)$`)
	sampleRE = regexp.MustCompile(`\{([^{}]*)\}\s*([-+0-9.eE]+|[-+]?Inf|NaN)`)
	labelRE  = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
)

// parseProbe reads the samples promtool printed after "got:", as
// `{alertname="A", severity="warning"} 1.8E+02, ...`, or `nil` when no alert fired.
func parseProbe(got string) ([]Firing, error) {
	var fs []Firing
	for _, s := range sampleRE.FindAllStringSubmatch(got, -1) {
		at, err := strconv.ParseFloat(s[2], 64)
		if err != nil {
			return nil, fmt.Errorf("probe value %q: %v", s[2], err)
		}
		f := Firing{At: at}
		for _, l := range labelRE.FindAllStringSubmatch(s[1], -1) {
			switch l[1] {
			case "alertname":
				f.Alert = l[2]
			case "severity":
				f.Severity = l[2]
			}
		}
		fs = append(fs, f)
	}
	if len(fs) == 0 && strings.TrimSpace(got) != "nil" && strings.TrimSpace(got) != "[]" {
		return nil, fmt.Errorf("cannot read the probe's result %q", got)
	}
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].At != fs[j].At {
			return fs[i].At < fs[j].At
		}
		return fs[i].Alert < fs[j].Alert
	})
	return fs, nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
