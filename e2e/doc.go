// Package e2e proves the user's path end to end: a real CherryPy and the Go demo are scraped
// by a real Prometheus that loads the bundle's rules, load drives the CherryPy pool into
// exhaustion, and the warning reaches a real Alertmanager, and through it a webhook, before
// the first client request times out. Its only test, TestPageArrivesBeforeStall, runs when
// POOLWATCH_E2E=1 (`make e2e`), once against Debian's Prometheus 2.42 and once against
// Prometheus 3 built from tools/go.mod (bin/prometheus, `make tools`) scraping native
// histograms; each run takes about three minutes. POOLWATCH_E2E_PROMETHEUS=2 or 3 picks one.
//
// # What runs
//
// Everything is built or rendered from the working tree and listens on 127.0.0.1 ports
// chosen free: examples/cherrypy/app.py (10 threads on its main server, /cpstats on a second
// small server) under Debian's /usr/bin/python3; poolwatch_exporter reading that stats page;
// poolwatch-demo with its own built-in load; a collector.Pool built WithNativeHistograms,
// served by the test itself under a steady load; Prometheus (2.42, or 3 with
// scrape_native_histograms, which then stores only the native histograms of that pool)
// scraping them every second and evaluating the mixin's rules every second; Alertmanager routing by severity (critical to
// a "page" receiver, warning to a "ticket" receiver, a pool's critical inhibiting its
// warnings) to a webhook served by the test itself. Each process logs to a file in the
// test's temporary directory, is stopped in t.Cleanup (SIGTERM, SIGKILL after 10 s), and has
// its log tail printed if the test fails.
//
// # What is shrunk, and why it is still the shipped tuning
//
// The mixin's windows are minutes long (rate over 5m, forecasts over 10m, `for: 2m`). The
// test reads the mixin's own defaults (`(import 'mixin.libsonnet')._config`), divides every
// duration knob, i.e. every _config field ending in Window, Horizon or For, by the time scale,
// 15 unless POOLWATCH_E2E_TIMESCALE says otherwise (1 runs the shipped windows in real time,
// about half an hour, scraping every 15 s, with the load's ramp stretched to match)
// (rateWindow 5m→20s, predictWindow 10m→40s, predictHorizon 15m→60s, predictFor 1m→4s,
// saturatedFor 5m→20s, exhaustedWindow 2m→8s, stalledWindow 5m→20s, the burn-rate windows
// 5m/1h/30m/6h→20s/240s/120s/1440s, and so on; each run logs the full list) and renders the
// rules and dashboards through the mixin's override mechanism (mixin/generate.sh --all DIR
// OVERRIDES), as a user who overrides _config would. Prometheus scrapes and evaluates every 1 s instead of every 15 s, so every
// window holds as many samples as it would in production: one second of the test is fifteen
// seconds of a real deployment, and a retuned default is tested as shipped. Levels
// (predictLevel, saturatedLevel, ...) are not touched, nor thresholds in seconds of wait or
// run time (exhaustedQueueAgeSeconds, hungTaskAgeSeconds, waitObjectiveSeconds): those are
// about what a user waits, and the test's users wait in real seconds.
//
// Task durations are not shrunk either (a request holds its CherryPy thread for a real
// second), so a task is 15 times longer against the test's windows than against
// production's. The rules' terms that compare a task's duration with a window are rendered
// to keep production's ratio: the chance bound and chance floor of the noise gate (variance
// k * u / c * d / W; predictNoiseChanceFactor and predictNoiseChanceFloorFactor divided by the
// scale) and the short trend's noise test (d / c under predictNowNoise^2 * W; predictNowNoise
// times the square root of the scale). Without that, ten threads of 1 s tasks were judged by
// the chance noise of 15 s tasks, the floor lifted the 2m gate to 103% and the 5m one to 93%,
// and the ramp got no warning under Prometheus 2.42. The floor's variance is not linear in
// d / W, so its rendering is exact only for tasks short against the test's windows (4% short
// for the 1 s tasks on 8 s: taskWindowKnobs). The noise the rules measure is the test's own.
//
// The load follows the shape of the mixin's cherrypy-ramp scenario, sped up: arrivals of
// one-second requests climb linearly from 30% to 150% of the pool's capacity over 175 s, then
// hold. It is open loop (requests start on schedule whether or not earlier ones finished, as
// independent users do), each request has a 10 s client timeout, keep-alive is off (an idle
// kept-alive connection would itself hold a cheroot worker), and it is bounded: at most 4000
// requests, 300 in flight and 5 minutes, to loopback only. The client timeout is not scaled,
// so once the pool fills, its queue takes as long to reach 10 s of wait as it would in
// production; the lead measured here is therefore not a production lead multiplied by 15.
// It shows the order of events a user sees, with real seconds between them.
//
// CherryPy needs the CPU it is given: on a host busy with other work its accept loop and
// threads are starved, the pool fills at a fraction of its nominal capacity and the ramp
// turns into a sudden overload that no forecast can precede. A failing run therefore logs the
// host's load average and the arrival rate at which the pool first filled.
//
// # Why passing proves the user's path
//
// The verdict is taken where the user stands: the times are when the webhook received each
// notification (not when Prometheus evaluated the rule) and when a client request gave up.
// The test passes only if a warning about the CherryPy pool (labels job, instance and pool as
// a user's routing would see them) arrived before the first request failed, a critical one no
// later than a minute after it, no alert about that pool arrived while arrivals were below
// 60% of capacity (a busy, healthy pool must not page), every alert took the route of its
// severity, every rule evaluated without error on that Prometheus, the demo's pools were
// scraped and had recording rules evaluated on them, and the native-histogram pool has its
// wait quantiles, objective and objective ratios recorded (on Prometheus 3 from native
// histograms alone: the test checks that no classic bucket was stored). While the slow route
// exhausts the pool, the exporter must also report that route ("GET /slow") holding the
// workers, with the pool's own busy count and oldest running age in the same scrape, and the
// critical's description must name it. The series come from the real exporter
// reading a real cheroot thread pool, so a mismatch anywhere (a metric name, a label, a unit,
// the exporter's mapping, a window too short for the scrape interval, a route) fails it.
//
// # The dashboards' queries
//
// After the load, every query of every panel of both dashboards (read from their JSON with
// internal/panelquery, rendered with the test's _config so that they name its recording
// rules, and checked to have the same panels and targets as dashboards/) runs as a range query
// over the run, as Grafana would draw it: the job, instance and pool variables take the values
// their own label_values queries offer, first for the Go pools (the demo's and the
// native-histogram pool), then for the CherryPy pool under test; $__interval and
// $__rate_interval are computed as Grafana computes them for that time range and a data source
// whose scrape interval is the test's. Every query must evaluate and return data for each kind
// of pool unless the table "Dashboard panels absent by design" in mixin/README.md lists it for
// that kind (for the Go pools only the stats reads and, on Prometheus 2.42, the native-histogram
// queries); a listed query that returns data fails too.
package e2e
