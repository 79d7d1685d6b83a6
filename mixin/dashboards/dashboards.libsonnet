// The two dashboards: an overview of every pool, and the detail of the pools picked in the
// variables. Queries read the contract's series and the mixin's recording rules only.
local rules = import '../rules/rules.libsonnet';
local g = import 'lib.libsonnet';

{
  grafanaDashboards+:: {
    local c = $._config,
    local n = rules.names(c),
    // Every query starts from the _config selector of its series family, as the rules do,
    // narrowed by the dashboard's variables; joins and groupings use _config's label lists.
    local s = '%s, %s' % [c.poolSelector, g.sel],
    local inst = 'job=~"$job", instance=~"$instance"',
    local up = '%s, %s' % [c.upSelector, inst],
    local goSel = '%s, %s' % [c.goSelector, inst],
    local on = std.join(', ', c.instanceLabels),
    local by = std.join(', ', c.poolLabels),
    // go_* and poolwatch_up have no pool label: keep the processes that host a selected pool.
    local withPool(expr, lookback='$__rate_interval') =
      '%s * on (%s) group_left () group by (%s) (max_over_time(workerpool_max_workers{%s}[%s]))' % [expr, on, on, s, lookback],
    // The go_* of a process that hosts a selected pool, which an exporter does not: its
    // targets (those with poolwatch_up) report the pools of another process (CherryPy's),
    // and their goroutines and scheduler say nothing about those.
    local goRuntime(expr) = '%s unless on (%s) poolwatch_up{%s}' % [withPool(expr), on, up],
    local legend = '{{instance}} {{pool}}',
    local overviewLink = { title: 'Pools overview', type: 'link', url: '/d/' + c.dashboardUIDs['poolwatch-overview.json'], targetBlank: false, icon: 'dashboard', tooltip: '', tags: [], asDropdown: false, includeVars: false, keepTime: true },
    local poolLink = { title: 'Pool detail', type: 'link', url: '/d/' + c.dashboardUIDs['poolwatch-pool.json'], targetBlank: false, icon: 'dashboard', tooltip: '', tags: [], asDropdown: false, includeVars: true, keepTime: true },

    // The routes running something now, oldest request first: where a hung request is, and
    // how many workers its route holds.
    local routesTable = g.table('Routes by oldest running request', 'Routes with a request running now, by how long the oldest has run, with the workers each holds. A route whose oldest request keeps aging is hung on something.',
                                's', [
                                  g.target('workerpool_route_oldest_running_task_age_seconds{%s}' % s, ''),
                                  g.target('workerpool_route_busy_workers{%s}' % s, ''),
                                ]) + {
      fieldConfig+: { overrides: [{ matcher: { id: 'byName', options: 'busy workers' }, properties: [{ id: 'unit', value: 'short' }] }] },
      transformations: [
        { id: 'merge', options: {} },
        { id: 'organize', options: {
          excludeByName: { Time: true, __name__: true },
          renameByName: { 'Value #A': 'oldest running', 'Value #B': 'busy workers' },
        } },
        { id: 'sortBy', options: { sort: [{ field: 'oldest running', desc: true }] } },
      ],
    },

    'poolwatch-overview.json': g.dashboard(
      c, 'poolwatch-overview.json', 'poolwatch / Pools overview',
      'Every worker pool at a glance: how busy, how often saturated, how long work waits, and what is firing.',
      [
        g.timeseries('Utilization', 'Mean busy workers over capacity (%s): exact from busy seconds, or the mean of the sampled busy gauge for sources without them (PHP-FPM, Apache, uWSGI, Puma, Tomcat). Near 100%% waits grow without bound.' % c.rateWindow,
                     'percentunit', [g.target('%s{%s}' % [n.utilization, s], legend)], min=0),
        g.timeseries('Time saturated', 'Fraction of the last %s during which every worker was busy. Absent by design for sources without saturated seconds (CherryPy, PHP-FPM, Apache, uWSGI, Puma, Tomcat): see Utilization.' % c.rateWindow,
                     'percentunit', [g.target('%s{%s}' % [n.saturation, s], legend)], min=0, max=1),
        g.timeseries('Worst queue waits (p99)', 'The ten highest 99th percentiles of the time tasks waited for a worker (%s). Absent for sources without a wait histogram.' % c.rateWindow,
                     's', [g.target('topk(10, %s{%s})' % [n.waitQuantile('99'), s], legend)], min=0),
        g.timeseries('Queued tasks', 'Tasks accepted and waiting for a worker. A queue that keeps growing means arrivals exceed what the pool serves.',
                     'short', [g.target('workerpool_queued_tasks{%s}' % s, legend)], min=0),
        g.timeseries('Throughput', 'Tasks finished per second, every outcome (%s).' % c.rateWindow,
                     'ops', [g.target('%s{%s}' % [n.throughput, s], legend)], min=0),
        g.timeseries('Stats reads', 'poolwatch_up of the exporter targets hosting these pools: 0 means the stats could not be read, which for a stats page served by its own pool means it is exhausted.',
                     'short', [g.target(withPool('poolwatch_up{%s}' % up, '1h'), '{{instance}} {{source}}')], min=0, max=1),
        g.table('Firing alerts', 'poolwatch alerts firing now for the selected pools, with their severity.',
                'short', [g.target('ALERTS{alertstate="firing", alertname=~"WorkerPool.*", %s}' % s, '')]),
      ],
      links=[poolLink],
    ),

    'poolwatch-pool.json': g.dashboard(
      c, 'poolwatch-pool.json', 'poolwatch / Pool detail',
      'One pool in depth: workers, queue, waits, durations, outcomes, rejections and the Go runtime of its process.',
      [
        g.timeseries('Busy vs max workers', 'Workers running a task (sampled at scrape), the mean of busy workers over %s (exact from busy seconds; the sampled gauge\'s mean for sources without them), workers alive and capacity.' % c.rateWindow,
                     'short', [
                       g.target('workerpool_busy_workers{%s}' % s, 'busy {{instance}} {{pool}}'),
                       g.target('%s{%s}' % [n.busy, s], 'mean busy {{instance}} {{pool}}'),
                       g.target('workerpool_workers{%s}' % s, 'alive {{instance}} {{pool}}'),
                       g.target('workerpool_max_workers{%s}' % s, 'max {{instance}} {{pool}}'),
                     ], min=0),
        // Who holds the pool: the routes' busy workers stacked up to the pool's capacity, so
        // that the route eating the pool stands out as the band that fills it.
        g.timeseries('Who holds the pool', 'Busy workers by route (the routes holding the most, the rest summed as "other"), stacked, against the capacity (dashed). For one pool at a time; absent for pools that do not report routes.',
                     'short', [
                       g.target('sum by (%s, route) (workerpool_route_busy_workers{%s})' % [by, s], '{{route}} {{instance}} {{pool}}'),
                       g.target('workerpool_max_workers{%s}' % s, 'max {{instance}} {{pool}}'),
                     ], stack=true, min=0) + {
          fieldConfig+: { overrides: [{
            matcher: { id: 'byRegexp', options: '^max .*' },
            properties: [
              { id: 'custom.stacking', value: { mode: 'none' } },
              { id: 'custom.fillOpacity', value: 0 },
              { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
            ],
          }] },
        },
        routesTable,
        g.timeseries('Utilization and saturation', 'Utilization (exact from busy seconds; the sampled busy gauge\'s mean for sources without them) and the fraction of time every worker was busy (%s; saturation absent by design for the exporter\'s sources: CherryPy, PHP-FPM, Apache, uWSGI, Puma, Tomcat have no saturated seconds).' % c.rateWindow,
                     'percentunit', [
                       g.target('%s{%s}' % [n.utilization, s], 'utilization {{instance}} {{pool}}'),
                       g.target('%s{%s}' % [n.saturation, s], 'saturated {{instance}} {{pool}}'),
                     ], min=0),
        g.timeseries('Queue', 'Tasks waiting for a worker, and the queue capacity where it is bounded. Absent by design for Apache and Tomcat (their accept queues are not reported); capacity absent for CherryPy and Puma.',
                     'short', [
                       g.target('workerpool_queued_tasks{%s}' % s, 'queued {{instance}} {{pool}}'),
                       g.target('workerpool_max_queued_tasks{%s}' % s, 'capacity {{instance}} {{pool}}'),
                     ], min=0),
        g.timeseries('Oldest queued and running task', 'How long the task at the head of the queue has waited, and how long the longest-running task has run: a rising running age is a hung worker. Queued age: Go pools only; running age absent by design for Apache and Puma.',
                     's', [
                       g.target('workerpool_oldest_queued_task_age_seconds{%s}' % s, 'queued {{instance}} {{pool}}'),
                       g.target('workerpool_oldest_running_task_age_seconds{%s}' % s, 'running {{instance}} {{pool}}'),
                     ], min=0),
        g.heatmap('Queue wait', 'Distribution of the time from submission to start (classic buckets, or the native histogram). Go pools only: the exporter\'s sources have no histograms.',
                  's', 'sum by (le) (rate(workerpool_task_wait_seconds_bucket{%s}[$__rate_interval]))' % s,
                  'sum(rate(workerpool_task_wait_seconds{%s}[$__rate_interval]))' % s),
        g.heatmap('Task duration', 'Distribution of the time from start to finish (classic buckets, or the native histogram). Go pools only: the exporter\'s sources have no histograms.',
                  's', 'sum by (le) (rate(workerpool_task_duration_seconds_bucket{%s}[$__rate_interval]))' % s,
                  'sum(rate(workerpool_task_duration_seconds{%s}[$__rate_interval]))' % s),
        g.timeseries('Queue wait quantiles', 'Median, 90th and 99th percentile of the queue wait over %s. Go pools only (no wait histogram in the exporter\'s sources).' % c.rateWindow,
                     's', [
                       g.target('%s{%s}' % [n.waitQuantile(q), s], 'p%s {{instance}} {{pool}}' % q)
                       for q in ['50', '90', '99']
                     ], min=0),
        g.timeseries('Waits over the objective', 'Fraction of tasks that waited longer than their pool\'s objective (%ss, or %s mean task durations for pools of long tasks; objective: %s%% within it) over %s; the burn-rate alerts compare it with the error budget.' % [c.waitObjectiveSeconds, c.waitObjectiveDurationFactor, c.waitObjectiveTarget * 100, c.rateWindow],
                     'percentunit', [g.target('%s{%s}' % [n.waitOverObjective(c.rateWindow), s], legend)], min=0),
        g.timeseries('Outcomes', 'Tasks finished per second by outcome: success, error, panic. The exporter\'s sources count every finished request as success.',
                     'ops', [g.target('sum by (%s, outcome) (rate(workerpool_tasks_completed_total{%s}[$__rate_interval]))' % [by, s], '{{outcome}} {{instance}} {{pool}}')], stack=true, min=0),
        g.timeseries('Submitted and rejected', 'Tasks offered per second, and tasks rejected per second by reason (queue_full, timeout, canceled, closed). Go pools only.',
                     'ops', [
                       g.target('rate(workerpool_tasks_submitted_total{%s}[$__rate_interval])' % s, 'submitted {{instance}} {{pool}}'),
                       g.target('sum by (%s, reason) (rate(workerpool_tasks_rejected_total{%s}[$__rate_interval]))' % [by, s], 'rejected {{reason}} {{instance}} {{pool}}'),
                     ], min=0),
        g.timeseries('Goroutines', 'Goroutines and OS threads of the Go processes hosting the pools, and goroutines ready to run: a count that only climbs is a leak. Go pools only: an exporter\'s own runtime says nothing of the server whose pools it reads.',
                     'short', [
                       g.target(goRuntime('go_goroutines{%s}' % goSel), 'goroutines {{instance}}'),
                       g.target(goRuntime('go_threads{%s}' % goSel), 'threads {{instance}}'),
                       g.target(goRuntime('go_sched_goroutines_runnable_goroutines{%s}' % goSel), 'runnable {{instance}}'),
                     ], min=0),
        g.timeseries('Scheduler latency', 'How long goroutines waited to be scheduled (p50, p99): high values mean CPU starvation, not a full pool. Go pools only, as Goroutines.',
                     's', [
                       g.target('histogram_quantile(0.%s, sum by (%s, le) (%s))' % [q, on, goRuntime('rate(go_sched_latencies_seconds_bucket{%s}[$__rate_interval])' % goSel)], 'p%s {{instance}}' % q)
                       for q in ['50', '99']
                     ], min=0),
      ],
      links=[overviewLink],
    ),
  },
}
