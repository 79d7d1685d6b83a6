// Command poolwatch-simulate runs the poolwatch alerts against simulated pools, before any
// real pool meets them. A scenario file describes a pool (workers, queue), its load over
// time and what the alerts must do about it; the command simulates the pool task by task,
// writes what Prometheus would have scraped as a `promtool test rules` file, runs promtool
// on it, and prints, per scenario and promtool, the verdict and when each alert fired against
// when the pool stalled. Render the rules with your `_config` (mixin/generate.sh
// --rules-only) and compare the lead times.
//
//	poolwatch-simulate --rules alerts/poolwatch.yaml mixin/scenarios/public/ramp-arrivals.json
package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"

	"github.com/poolwatch/poolwatch/internal/buildinfo"
	"github.com/poolwatch/poolwatch/internal/poolsim"
)

const program = "poolwatch-simulate"

func main() {
	buildinfo.Fill()
	app := kingpin.New(program, "Simulate pools from scenario files, run the alert rules against them with promtool, and print when each alert fires against when the pool stalls.")
	var (
		rules     = app.Flag("rules", "Rule file to test (repeatable); render yours with mixin/generate.sh --rules-only.").Default("alerts/poolwatch.yaml").Strings()
		promtools = app.Flag("promtool", "promtool binary to run the tests with (repeatable: a scenario passes only under every one).").Default("promtool").Strings()
		parallel  = app.Flag("parallel", "Simulations and promtool runs at once.").Short('j').Default(fmt.Sprint(runtime.NumCPU())).Int()
		outDir    = app.Flag("out", "Keep the promtool test files in this directory (default: a temporary one, removed).").String()
		seed      = app.Flag("seed", "Run every scenario with this seed instead of its own: another sample path of the same load, to see how much a lead time owes to chance.").Uint64()
		brief     = app.Flag("brief", "One verdict line per scenario and promtool, without the alerts.").Bool()
		files     = app.Arg("scenario", "Scenario files (JSON; see docs/simulator.md).").Required().ExistingFiles()
	)
	app.Version(version.Print(program))
	app.HelpFlag.Short('h')
	kingpin.MustParse(app.Parse(os.Args[1:]))

	failed, err := run(context.Background(), os.Stdout, config{
		rules: *rules, promtools: *promtools, parallel: max(*parallel, 1),
		outDir: *outDir, brief: *brief, files: *files, seed: *seed,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", program, err)
		os.Exit(2)
	}
	if failed > 0 {
		os.Exit(1)
	}
}

type config struct {
	rules, promtools []string
	parallel         int
	outDir           string
	brief            bool
	files            []string
	seed             uint64 // 0: each scenario's own
}

// run simulates every scenario, runs every promtool on each, and prints the verdicts in the
// order of the files and promtools given. It returns how many runs failed; an error means
// a run could not be judged at all (bad scenario, missing rules, promtool not working).
func run(ctx context.Context, w io.Writer, cfg config) (failed int, err error) {
	scenarios := make([]*poolsim.Scenario, len(cfg.files))
	for i, f := range cfg.files {
		if scenarios[i], err = poolsim.Load(f); err != nil {
			return 0, err
		}
		if cfg.seed != 0 {
			scenarios[i].Seed = &cfg.seed
		}
		for _, prev := range scenarios[:i] {
			if prev.Name == scenarios[i].Name {
				return 0, fmt.Errorf("%s: another scenario is named %q too", f, prev.Name)
			}
		}
	}
	for _, r := range cfg.rules {
		if _, err := os.Stat(r); err != nil {
			return 0, fmt.Errorf("rule file: %w", err)
		}
	}
	pts := make([]poolsim.Promtool, len(cfg.promtools))
	for i, p := range cfg.promtools {
		if pts[i], err = poolsim.NewPromtool(ctx, p); err != nil {
			return 0, err
		}
	}
	dir := cfg.outDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", program); err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}

	// One simulation per scenario, then one promtool run per scenario and promtool, at
	// most cfg.parallel at a time. Every run writes into its own subdirectory.
	results := make([]*poolsim.Result, len(scenarios))
	forEach(len(scenarios), cfg.parallel, func(i int) { results[i] = poolsim.Simulate(scenarios[i]) })
	verdicts := make([]*poolsim.Verdict, len(scenarios)*len(pts))
	errs := make([]error, len(verdicts))
	for j := range pts {
		if err := os.MkdirAll(fmt.Sprintf("%s/promtool-%d", dir, j), 0o755); err != nil {
			return 0, err
		}
	}
	forEach(len(verdicts), cfg.parallel, func(k int) {
		i, j := k/len(pts), k%len(pts)
		verdicts[k], errs[k] = poolsim.Run(ctx, scenarios[i], results[i], cfg.rules, pts[j], fmt.Sprintf("%s/promtool-%d", dir, j))
	})

	for k, v := range verdicts {
		if errs[k] != nil {
			return failed, errs[k]
		}
		if !v.Pass {
			failed++
		}
		fmt.Fprintln(w, v.Line())
		if !v.Pass {
			fmt.Fprintln(w, indent(strings.TrimSpace(v.Output), "    | "))
		}
		if !cfg.brief {
			printAlerts(w, v)
		}
	}
	return failed, nil
}

// printAlerts lists when each alert first fired, against the stall.
func printAlerts(w io.Writer, v *poolsim.Verdict) {
	if len(v.Alerts) == 0 {
		fmt.Fprintln(w, "    no alert fired")
		return
	}
	for _, f := range v.Alerts {
		rel := ""
		switch d := v.Stall - f.At; {
		case math.IsNaN(d):
		case d >= 0:
			rel = fmt.Sprintf("  %.1fm before the stall", d/60)
		default:
			rel = fmt.Sprintf("  %.1fm after the stall", -d/60)
		}
		fmt.Fprintf(w, "    %6.0fm  %-40s %-9s%s\n", f.At/60, f.Alert, f.Severity, rel)
	}
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// forEach calls fn(0..n-1) on at most parallel goroutines and waits for them.
func forEach(n, parallel int, fn func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(parallel, n) {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
