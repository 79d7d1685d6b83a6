package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/panelquery"
	"github.com/poolwatch/poolwatch/internal/testproc"
)

const (
	cherrypyJob = "cherrypy"
	demoJob     = "poolwatch-demo"

	// The CherryPy pool under test: 10 threads, each request holds one for a second, so the
	// pool completes at most 10 requests a second.
	cherrypyThreads = 10
	requestSeconds  = 1.0
	capacity        = cherrypyThreads / requestSeconds // requests per second

	// Every client request gives up after this long, as a user (or an upstream proxy) would.
	// The first request to do so is the stall the warning must precede.
	clientTimeout = 10 * time.Second

	// The critical alert may arrive at most this long after the first timed-out request.
	criticalWithin = time.Minute
)

// load is the ramp at the default time scale: arrivals climb linearly from 30% to 150% of the
// pool's capacity over 175 s, then hold. That is the shape of the mixin's cherrypy-ramp
// scenario (5 → 60 req/s over 50 min on a pool of 40 req/s) sped up by defaultTimeScale. The
// pool saturates at ~100 s; its queue then grows by the excess and the first request waits
// out its timeout ~50 s later. loadAt stretches it for a slower time scale.
var load = rampLoad{
	timeout: clientTimeout,
	profile: []ratePoint{
		{at: 0, perSecond: 0.3 * capacity},
		{at: 175 * time.Second, perSecond: 1.5 * capacity},
	},
	maxRequests: 4000,
	maxInFlight: 300,
	maxDuration: 5 * time.Minute,
}

// loadAt is load with its ramp, request bound and time bound stretched by
// defaultTimeScale/scale: at scale 1 the ramp takes 44 minutes, as in production.
func loadAt(scale int) rampLoad {
	k := defaultTimeScale / scale
	l := load
	l.profile = nil
	for _, p := range load.profile {
		l.profile = append(l.profile, ratePoint{at: p.at * time.Duration(k), perSecond: p.perSecond})
	}
	l.maxRequests *= k
	l.maxDuration *= time.Duration(k)
	return l
}

// promServer is one Prometheus the test runs against.
type promServer struct {
	name string // in the subtest's name
	bin  string
	// native makes it scrape native histograms: Prometheus 3 then stores only the native
	// series of a histogram that has native buckets (no _bucket, _count, _sum), which every
	// rule reading a histogram must handle.
	native bool
}

// promServers are Debian's Prometheus 2.42 and Prometheus 3 built from tools/go.mod (`make
// tools`). POOLWATCH_E2E_PROMETHEUS=2 or 3 runs against one of them only.
func promServers(root string) []promServer {
	all := []promServer{
		{name: "2.42", bin: prometheusBin},
		{name: "3", bin: filepath.Join(root, "bin", "prometheus"), native: true},
	}
	switch os.Getenv("POOLWATCH_E2E_PROMETHEUS") {
	case "2":
		return all[:1]
	case "3":
		return all[1:]
	}
	return all
}

// quietLevel is the arrival rate, as a fraction of capacity, below which no alert about the
// CherryPy pool may arrive: a busy but healthy pool must not page (the scenarios' quiet_until).
const quietLevel = 0.6

// TestPageArrivesBeforeStall is issues 5 and 9: see the package documentation. It runs once
// per Prometheus server, one after the other (CherryPy needs the CPU to itself).
func TestPageArrivesBeforeStall(t *testing.T) {
	requireE2E(t)
	requireTools(t)
	root, err := filepath.Abs("..")
	if err != nil || !fileExists(filepath.Join(root, "go.mod")) {
		t.Fatalf("module root not found above %s: %v", root, err)
	}
	scale := timeScale(t)
	for _, srv := range promServers(root) {
		t.Run("prometheus-"+srv.name, func(t *testing.T) {
			testproc.RequireTool(t, "Prometheus "+srv.name, "make tools (Prometheus 3) or "+installHint, srv.bin, "--version")
			pageBeforeStall(t, root, srv, scale)
		})
	}
}

// pageBeforeStall runs the whole chain against one Prometheus server.
func pageBeforeStall(t *testing.T, root string, srv promServer, scale int) {
	work := t.TempDir()
	began := time.Now()

	// Everything under test is built from this tree and rendered from this mixin.
	exporterBin, demoBin := buildBinaries(t, root, work)
	ruleFiles, dashboards, shrunk := renderMixin(t, root, work, scale)
	t.Logf("rules rendered with every window, horizon and for divided by %d: %s", scale, shrunk)
	native := startNativePool(t)

	var (
		cherrypyPort = testproc.FreePort(t)
		statsPort    = testproc.FreePort(t)
		exporterPort = testproc.FreePort(t)
		demoPort     = testproc.FreePort(t)
		amPort       = testproc.FreePort(t)
		promPort     = testproc.FreePort(t)
	)
	hook := newWebhook(t)

	amDir := filepath.Join(work, "alertmanager")
	mkdir(t, amDir)
	amConf := writeTemplate(t, work, "alertmanager.yml", amConfig{
		CriticalURL: hook.URL("/critical"),
		WarningURL:  hook.URL("/warning"),
	})
	am := testproc.Start(t, testproc.Spec{Name: "alertmanager", Dir: work, Path: alertmanagerBin, Args: []string{
		"--config.file=" + amConf,
		"--storage.path=" + amDir,
		"--web.listen-address=" + testproc.HostPort(amPort),
		"--cluster.listen-address=", // no gossip: a single instance, nothing on the network
	}})

	cherrypy := testproc.Start(t, testproc.Spec{Name: "cherrypy", Dir: work, Path: pythonBin, Args: []string{
		filepath.Join(root, "examples", "cherrypy", "app.py"),
		"--host", "127.0.0.1",
		"--port", strconv.Itoa(cherrypyPort),
		"--stats-port", strconv.Itoa(statsPort),
		"--threads", strconv.Itoa(cherrypyThreads),
	}})
	statsURL := "http://" + testproc.HostPort(statsPort) + "/cpstats/data"
	cherrypy.WaitUntil(t, "CherryPy main server", 30*time.Second,
		testproc.HTTPReady("http://"+testproc.HostPort(cherrypyPort)+"/", "ok"))
	cherrypy.WaitUntil(t, "CherryPy stats server", 10*time.Second, testproc.HTTPReady(statsURL, "Cheroot HTTPServer"))

	exporter := testproc.Start(t, testproc.Spec{Name: "exporter", Dir: work, Path: exporterBin, Args: []string{
		"--web.listen-address=" + testproc.HostPort(exporterPort),
		"--cherrypy.scrape-uri=" + statsURL,
		"--cherrypy.timeout=2s",
	}})
	exporter.WaitUntil(t, "exporter reading CherryPy", 30*time.Second,
		testproc.HTTPReady("http://"+testproc.HostPort(exporterPort)+"/metrics", `poolwatch_up{source="cherrypy"} 1`))

	demo := testproc.Start(t, testproc.Spec{Name: "demo", Dir: work, Path: demoBin, Args: []string{"--web.listen-address=" + testproc.HostPort(demoPort)}})
	demo.WaitUntil(t, "demo", 30*time.Second,
		testproc.HTTPReady("http://"+testproc.HostPort(demoPort)+"/metrics", "workerpool_max_workers"))

	am.WaitUntil(t, "Alertmanager", 30*time.Second, testproc.HTTPReady("http://"+testproc.HostPort(amPort)+"/-/ready", ""))

	interval := fmt.Sprintf("%ds", defaultTimeScale/scale)
	promConf := writeTemplate(t, work, "prometheus.yml", promConfig{
		ScrapeInterval:     interval,
		EvaluationInterval: interval,
		NativeHistograms:   srv.native,
		NativeJob:          nativeJob,
		Native:             native,
		RuleFiles:          ruleFiles,
		Alertmanager:       testproc.HostPort(amPort),
		CherryPyJob:        cherrypyJob,
		Exporter:           testproc.HostPort(exporterPort),
		DemoJob:            demoJob,
		Demo:               testproc.HostPort(demoPort),
	})
	promDir := filepath.Join(work, "prometheus-data")
	mkdir(t, promDir)
	prom := testproc.Start(t, testproc.Spec{Name: "prometheus", Dir: work, Path: srv.bin, Args: []string{
		"--config.file=" + promConf,
		"--storage.tsdb.path=" + promDir,
		"--web.listen-address=" + testproc.HostPort(promPort),
	}})
	prom.WaitUntil(t, "Prometheus", 60*time.Second, testproc.HTTPReady("http://"+testproc.HostPort(promPort)+"/-/ready", ""))
	api := promAPI{base: "http://" + testproc.HostPort(promPort)}
	prom.WaitUntil(t, "every target up", 30*time.Second, func() error { return targetsUp(api, cherrypyJob, demoJob, nativeJob) })
	prom.WaitUntil(t, "every rule evaluated without error", 30*time.Second, func() error { return rulesHealthy(api) })
	t.Logf("everything up %.0fs after the start; ramping load on CherryPy", time.Since(began).Seconds())

	// The alerts about the CherryPy pool carry exactly these labels: job and instance from
	// Prometheus' scrape of the exporter, pool from the exporter (cheroot's bind address).
	cherrypyPool := map[string]string{
		"job":      cherrypyJob,
		"instance": testproc.HostPort(exporterPort),
		"pool":     testproc.HostPort(cherrypyPort),
	}
	l := loadAt(scale)
	l.url = fmt.Sprintf("http://%s/slow?seconds=%g", testproc.HostPort(cherrypyPort), requestSeconds)
	run := l.start(context.Background())
	t.Cleanup(run.Stop) // also when a Fatal below ends the test early
	stall := watch(t, run, hook, api, cherrypyPool)
	if stall != nil {
		checkRoutes(t, api, hook, cherrypyPool) // while the load still holds the pool
	}
	run.Stop()

	if passed := checkTimeline(t, run, hook, cherrypyPool, stall, srv.name, l); !passed || t.Failed() {
		explainStarvation(t, api, run, cherrypyPool)
	}
	checkDemo(t, api)
	checkNativePool(t, api, srv.native)
	checkPanels(t, api, root, dashboards, run.start, time.Now(), time.Duration(defaultTimeScale/scale)*time.Second, srv.native, []poolSelection{
		{kind: panelquery.PoolsGo, pick: map[string][]string{"job": {demoJob, nativeJob}}},
		// The pool under test, not the small pool serving the stats page beside it.
		{kind: panelquery.PoolsCherryPy, pick: map[string][]string{
			"job":      {cherrypyJob},
			"instance": {cherrypyPool["instance"]},
			"pool":     {cherrypyPool["pool"]},
		}},
	})
	if err := rulesHealthy(api); err != nil {
		t.Errorf("after the run: %v", err)
	}
	t.Logf("whole run took %.0fs", time.Since(began).Seconds())
}

// watch waits while the load runs until the first request failed and then either the
// critical alert arrived or criticalWithin passed; or until the load ended by its own bounds
// with no failure. It logs progress every 10 s and returns the first failure, if any.
func watch(t *testing.T, run *loadRun, hook *webhook, api promAPI, pool map[string]string) *loadFailure {
	t.Helper()
	critical := withLabel(pool, "severity", "critical")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	// Closed channels are set to nil once seen, so that select does not spin on them.
	loadDone, failed := run.done, run.failed
	logged := map[string]bool{}
	for ticks := 1; ; ticks++ {
		stall, stalled := run.FirstFailure()
		switch {
		case stalled:
			if _, ok := hook.first(critical); ok || time.Since(stall.At) > criticalWithin+5*time.Second {
				return &stall
			}
		case loadDone == nil:
			return nil
		}
		select {
		case <-hook.arrived:
			for _, a := range hook.unseen() {
				// Every notification about the pool under test; of the demo's, which cycles
				// through exhaustion on its own, only the first of each alert and pool.
				key := strings.Join([]string{a.Labels["alertname"], a.Labels["job"], a.Labels["instance"], a.Labels["pool"]}, "/")
				if !matches(a.Labels, pool) && logged[key] {
					continue
				}
				logged[key] = true
				t.Logf("+%5.1fs webhook %s: %s %s", a.At.Sub(run.start).Seconds(), a.Receiver, a.Labels["alertname"], formatLabels(a.Labels))
			}
		case <-failed:
			failed = nil
		case <-loadDone:
			loadDone = nil // ended by its bounds; a failure still gets its minute for the critical
		case <-tick.C:
			if ticks%10 == 0 {
				t.Logf("+%5.1fs load: %s; pool: %s", time.Since(run.start).Seconds(), run.Stats(), poolState(api, pool))
			}
		}
	}
}

// checkTimeline asserts the condition on the recorded times and prints the lead. It
// reports whether every check passed.
func checkTimeline(t *testing.T, run *loadRun, hook *webhook, pool map[string]string, stall *loadFailure, server string, load rampLoad) bool {
	t.Helper()
	alerts, malformed := hook.all()
	for _, m := range malformed {
		t.Errorf("webhook received a malformed notification: %s", m)
	}
	for _, a := range alerts {
		want := map[string]string{"critical": "page", "warning": "ticket"}[a.Labels["severity"]]
		if a.Receiver != want {
			t.Errorf("alert %s with severity %q came through receiver %q, want %q",
				a.Labels["alertname"], a.Labels["severity"], a.Receiver, want)
		}
	}
	at := func(when time.Time) float64 { return when.Sub(run.start).Seconds() }
	t.Logf("load at the end: %s", run.Stats())
	// The native-histogram pool is healthy all along (half busy, its tasks hardly wait): an
	// alert about it is a false page, e.g. a rule misreading native histograms.
	for _, a := range alerts {
		if a.Labels["job"] == nativeJob {
			t.Errorf("%s (%s) about the healthy native-histogram pool arrived at +%.1fs: %s",
				a.Labels["alertname"], a.Labels["severity"], at(a.At), a.Summary)
		}
	}

	if stall == nil {
		t.Errorf("no client request failed: the load (%d requests at most, %v) never exhausted the pool", load.maxRequests, load.maxDuration)
		return false
	}
	kind := "timeout"
	if !stall.Timeout {
		kind = "failure (" + stall.Err + ")"
	}
	quietUntil := run.start.Add(timeToRate(load.profile, quietLevel*capacity))
	for _, a := range alerts {
		if matches(a.Labels, pool) && a.At.Before(quietUntil) {
			t.Errorf("%s (%s) about the CherryPy pool arrived at +%.1fs, while arrivals were below %.0f%% of capacity (until +%.1fs)",
				a.Labels["alertname"], a.Labels["severity"], at(a.At), 100*quietLevel, at(quietUntil))
		}
	}
	warning, okW := hook.first(withLabel(pool, "severity", "warning"))
	critical, okC := hook.first(withLabel(pool, "severity", "critical"))
	if !okW {
		t.Errorf("no warning about the CherryPy pool %v reached the webhook", pool)
	} else if !warning.At.Before(stall.At) {
		t.Errorf("warning %s at +%.1fs did not precede the first %s at +%.1fs",
			warning.Labels["alertname"], at(warning.At), kind, at(stall.At))
	}
	if !okC {
		t.Errorf("no critical alert about the CherryPy pool %v reached the webhook within %v of the first %s",
			pool, criticalWithin, kind)
	} else if critical.At.After(stall.At.Add(criticalWithin)) {
		t.Errorf("critical %s at +%.1fs came more than %v after the first %s at +%.1fs",
			critical.Labels["alertname"], at(critical.At), criticalWithin, kind, at(stall.At))
	}
	if t.Failed() {
		return false
	}
	lead := stall.At.Sub(warning.At)
	t.Logf("warning %s at +%.1fs (%s), first %s at +%.1fs, critical %s at +%.1fs: lead %.1fs",
		warning.Labels["alertname"], at(warning.At), warning.Summary, kind, at(stall.At),
		critical.Labels["alertname"], at(critical.At), lead.Seconds())
	// A plain line on stdout, for `make e2e` and the README to quote.
	fmt.Printf("e2e: prometheus %s: warning at +%.0fs, first %s at +%.0fs, critical at +%.0fs, lead %.0fs\n",
		server, at(warning.At), kind, at(stall.At), at(critical.At), lead.Seconds())
	return true
}

// explainStarvation helps read a failure: it logs the host's load average and the arrival
// rate at which the CherryPy pool first had every thread busy. On a host shared with other
// CPU-heavy work, CherryPy's accept loop and threads are starved, the pool fills at a fraction
// of its nominal capacity, and the ramp becomes a sudden overload that no forecast can precede.
func explainStarvation(t *testing.T, api promAPI, run *loadRun, pool map[string]string) {
	t.Helper()
	if avg, err := os.ReadFile("/proc/loadavg"); err == nil {
		t.Logf("host load average (1, 5, 15 min) at the end: %s (%d CPUs)", strings.TrimSpace(string(avg)), runtime.NumCPU())
	}
	sel := fmt.Sprintf(`job=%q,instance=%q,pool=%q`, pool["job"], pool["instance"], pool["pool"])
	expr := fmt.Sprintf("workerpool_busy_workers{%s} >= workerpool_max_workers{%s}", sel, sel)
	first, ok, err := api.firstTrue(context.Background(), expr, run.start, time.Now(), time.Second)
	switch {
	case err != nil:
		t.Logf("cannot tell when the pool first filled: %v", err)
	case !ok:
		t.Logf("the CherryPy pool never had every thread busy")
	default:
		rate := run.load.rateAt(first.Sub(run.start))
		note := ""
		if rate < 0.8*capacity {
			note = ": far below 100%, so the host starved it of CPU (other work running?)"
		}
		t.Logf("the CherryPy pool first had every thread busy at +%.0fs, with arrivals at %.1f/s = %.0f%% of its nominal capacity%s",
			first.Sub(run.start).Seconds(), rate, 100*rate/capacity, note)
	}
}

// checkDemo asserts that the Go demo's pools reached Prometheus and that the rules evaluate on
// them: recording rules (named level:metric:operations, with colons) carry the demo's job.
func checkDemo(t *testing.T, api promAPI) {
	t.Helper()
	ctx := context.Background()
	pools, err := api.query(ctx, fmt.Sprintf(`count by (pool) (workerpool_max_workers{job=%q})`, demoJob))
	if err != nil || len(pools) == 0 {
		t.Errorf("no workerpool_max_workers from the demo in Prometheus (%v)", err)
		return
	}
	recorded, err := api.query(ctx, fmt.Sprintf(`count by (__name__, pool) ({job=%q, __name__=~".+:.+"})`, demoJob))
	if err != nil || len(recorded) == 0 {
		t.Errorf("no recording rule produced a series for the demo's pools (%v)", err)
		return
	}
	var names []string
	for _, s := range recorded {
		names = append(names, s.Metric["__name__"]+"{pool="+s.Metric["pool"]+"}")
	}
	sort.Strings(names)
	t.Logf("demo: %d pools scraped; recorded series on them: %s", len(pools), strings.Join(names, " "))
}

// buildBinaries builds the exporter and the demo from this tree into dir.
func buildBinaries(t *testing.T, root, dir string) (exporter, demo string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	binDir := filepath.Join(dir, "bin")
	// `go test` puts its own GOROOT/bin first on PATH, so this is the go that runs the test.
	cmd := exec.CommandContext(ctx, "go", "build", "-o", binDir+string(os.PathSeparator),
		"./cmd/poolwatch_exporter", "./cmd/poolwatch-demo")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(binDir, "poolwatch_exporter"), filepath.Join(binDir, "poolwatch-demo")
}

// targetsUp reports an error unless every active target is up and every job has one.
func targetsUp(api promAPI, jobs ...string) error {
	targets, err := api.activeTargets(context.Background())
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, tg := range targets {
		if tg.Health != "up" {
			return fmt.Errorf("target %s (%s) is %s: %s", tg.ScrapeURL, tg.ScrapePool, tg.Health, tg.LastError)
		}
		seen[tg.ScrapePool] = true
	}
	for _, j := range jobs {
		if !seen[j] {
			return fmt.Errorf("no target of job %s yet", j)
		}
	}
	return nil
}

// rulesHealthy reports an error unless rules are loaded and every one has been evaluated
// without error.
func rulesHealthy(api promAPI) error {
	rules, err := api.rules(context.Background())
	if err != nil {
		return err
	}
	if len(rules) == 0 {
		return fmt.Errorf("no rules loaded")
	}
	for _, r := range rules {
		if r.Health != "ok" {
			return fmt.Errorf("rule %s/%s is %q: %s", r.Group, r.Name, r.Health, r.LastError)
		}
	}
	return nil
}

// poolState is a one-line view of the CherryPy pool and its alerts from Prometheus, for the
// progress log.
func poolState(api promAPI, pool map[string]string) string {
	ctx := context.Background()
	sel := fmt.Sprintf(`job=%q,instance=%q,pool=%q`, pool["job"], pool["instance"], pool["pool"])
	var parts []string
	for _, q := range []struct{ name, expr string }{
		{"busy", "workerpool_busy_workers{" + sel + "}"},
		{"queued", "workerpool_queued_tasks{" + sel + "}"},
		{"oldest-running", "workerpool_oldest_running_task_age_seconds{" + sel + "}"},
		// Whatever the mixin names its utilization rule, it matches this.
		{"utilization", `{__name__=~"pool:workerpool_utilization:.+",` + sel + "}"},
	} {
		v, err := api.query(ctx, q.expr)
		switch {
		case err != nil:
			parts = append(parts, q.name+" ?("+err.Error()+")")
		case len(v) == 0:
			parts = append(parts, q.name+" -")
		default:
			parts = append(parts, fmt.Sprintf("%s %.3g", q.name, v[0].Value))
		}
	}
	alerts, err := api.query(ctx, "ALERTS{"+sel+"}")
	if err == nil {
		for _, a := range alerts {
			parts = append(parts, a.Metric["alertname"]+"("+a.Metric["alertstate"]+")")
		}
	}
	return strings.Join(parts, " ")
}

// timeToRate returns when a rising piecewise-linear profile first reaches rate.
func timeToRate(profile []ratePoint, rate float64) time.Duration {
	if rate <= profile[0].perSecond {
		return profile[0].at
	}
	for i := 1; i < len(profile); i++ {
		a, b := profile[i-1], profile[i]
		if rate <= b.perSecond && b.perSecond > a.perSecond {
			frac := (rate - a.perSecond) / (b.perSecond - a.perSecond)
			return a.at + time.Duration(frac*float64(b.at-a.at))
		}
	}
	return profile[len(profile)-1].at
}

// withLabel returns a copy of labels with one more.
func withLabel(labels map[string]string, name, value string) map[string]string {
	out := map[string]string{name: value}
	for k, v := range labels {
		out[k] = v
	}
	return out
}

// formatLabels prints labels sorted, as {a="b", ...}.
func formatLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(labels[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}
