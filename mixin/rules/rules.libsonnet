// Recording rules shared by the alerts and the dashboards, named level:metric:operations. The
// level is `pool`: every rule keeps job, instance and pool (and any constant labels a user
// added). Names carry their window, formatted from _config, so that overridden windows show.
//
// Histograms: a Prometheus that scrapes native histograms stores only them (unless
// always_scrape_classic_histograms is set), one that does not stores only the classic
// _bucket/_count/_sum series. Every rule reading a histogram reads the native series where it
// exists and the classic ones otherwise (`native or classic`: with both, native wins, and the
// two share their labels), so the answers are the same in every mode.
local util = import '../lib/util.libsonnet';

{
  // The names of the recorded series, one place for the alerts and dashboards to read.
  names(c):: {
    busy: 'pool:workerpool_busy_seconds:rate%s' % c.rateWindow,
    busyNow: 'pool:workerpool_busy_seconds:rate%s' % c.predictNowWindow,
    utilization: 'pool:workerpool_utilization:ratio_rate%s' % c.rateWindow,
    saturation: 'pool:workerpool_saturation:ratio_rate%s' % c.rateWindow,
    throughput: 'pool:workerpool_tasks_completed:rate%s' % c.rateWindow,
    queueGrowth: 'pool:workerpool_queued_tasks:deriv%s' % c.rateWindow,
    waitQuantile(q):: 'pool:workerpool_task_wait_seconds:p%s_rate%s' % [q, c.rateWindow],
    waitOverObjective(w):: 'pool:workerpool_task_wait_seconds:over_objective_ratio_rate%s' % w,
    meanDuration: 'pool:workerpool_task_duration_seconds:mean_rate%s' % c.taskDurationWindow,
    recentMeanDuration: 'pool:workerpool_task_duration_seconds:mean_rate%s_queue_empty' % c.exhaustedDurationWindow,
    busyPerTask: 'pool:workerpool_busy_seconds:per_task_completed_rate%s' % c.taskDurationWindow,
    waitObjective: 'pool:workerpool_task_wait_seconds:objective',
    stallTarget: 'pool:workerpool_busy_workers:stall_target_rate%s' % c.rateWindow,
    secondDifference(w):: 'pool:workerpool_busy_workers:sqrt_scaled_second_difference_rate%s' % w,
    noise(w):: 'pool:workerpool_busy_workers:noise_rate%s' % w,
    exhaustedReads: 'pool:workerpool_busy_workers:exhausted_reads',
    exhaustedSpan: 'pool:workerpool_busy_workers:exhausted_span_seconds',
    endedAge: 'pool:workerpool_oldest_running_task_age_seconds:at_end',
    hungLimit: 'pool:workerpool_oldest_running_task_age_seconds:hung_limit',
    // Not a record: the alert the ended-task record leaves out pools paged by.
    hungAlert: 'WorkerPoolHungWorkers',
  },

  // A limit in seconds that grows with the pool's own task duration: durations (an expression
  // in seconds) where it is above floor, or floor where no duration is known (no duration
  // histogram and no Little's mean, or no task finished in taskDurationWindow).
  // `series * 0 + floor` keeps the series' labels, user-added constant ones included.
  // With readFor, floor stands in for an unknown duration only once series has been read for
  // that long: before, "unknown" means too young to know, not "no task finishes".
  limit(series, durations, floor, readFor=null)::
    local fallback = '%s * 0 + %s' % [series, util.num(floor)];
    '(clamp_min(%s, %s) or %s)' % [
      durations,
      util.num(floor),
      if readFor == null then fallback else '%s and %s' % [fallback, $.readFor(series, readFor)],
    ],

  // series has been read for window w: it was sampled from w to twice w ago.
  readFor(series, w):: 'present_over_time(%s[%s] offset %s)' % [series, w, w],

  // The windows WorkerPoolExhausted reads a sampled busy gauge over, as multiples of
  // exhaustedWindow, shortest first (alerts.libsonnet, sampledAllBusy); the recorded reads
  // take the pool's least capacity over the longest.
  exhaustedSpans:: [1, 1.5, 2, 3, 4, 6, 8],
  exhaustedWindows(c):: [util.duration(util.seconds(c.exhaustedWindow) * k) for k in $.exhaustedSpans],
  exhaustedLongestWindow(c):: $.exhaustedWindows(c)[std.length($.exhaustedSpans) - 1],

  // Erlang C: the chance that a read finds every one of c workers busy in an M/M/c pool at
  // load rho, by the running term a^k / k! of sum_{k<c} a^k / k! (a = rho c).
  erlangC(workers, rho)::
    local a = rho * workers;
    local acc = std.foldl(function(st, k) { sum: st.sum + st.term, term: st.term * a / (k + 1) }, std.range(0, workers - 1), { sum: 0, term: 1 });
    local top = acc.term / (1 - rho);
    top / (acc.sum + top),

  // The healthy peak load WorkerPoolExhausted's sampled-gauge branch takes its chances at.
  sampledLevel(c)::
    if c.exhaustedSampledLevel > 0 && c.exhaustedSampledLevel < 1 then c.exhaustedSampledLevel
    else error 'exhaustedSampledLevel %s: want a load between 0 and 1' % c.exhaustedSampledLevel,

  // The reads of a sampled busy gauge, every one of them all busy, that a healthy pool of c
  // workers at exhaustedSampledLevel shows with a chance under exhaustedSampledChance:
  // ln(chance) / ln(ErlangC), 2 at least; as [from c workers on, reads] steps, largest c first.
  exhaustedReadSteps(c)::
    local cs = std.range(1, 256);
    local rho = $.sampledLevel(c);
    local ns = [std.max(std.ceil(std.log(c.exhaustedSampledChance) / std.log($.erlangC(w, rho))), 2) for w in cs];
    std.reverse([[cs[i], ns[i]] for i in std.range(0, std.length(cs) - 1) if i == 0 || ns[i] != ns[i - 1]]),

  // How long a healthy pool at load rho keeps every worker busy at a stretch, exceeded by one
  // stretch in 1 / chance, in units of d / c (its mean task duration per worker). While all c
  // workers are busy the pool leaves that state at rate c / d and is pushed deeper at the
  // arrival rate, so a stretch is the busy period of an M/M/1 queue with load rho served c
  // times as fast: N tasks served in it with P(N = n) = C(2n - 2, n - 1) / n * rho^(n - 1) /
  // (1 + rho)^(2n - 1), through 2N - 1 arrivals and departures at rate 1 + rho, so
  //   P(B > t) = sum_m Poisson(m; (1 + rho) t) * P(N >= floor((m + 1) / 2) + 1).
  // The tail falls slowly: at rho 0.75, 1e-6 is passed only after 421 units, 35 minutes on
  // 4 workers of 20 s tasks, where the reads of a gauge a scrape apart are far from
  // independent (exhaustedReadSteps assumes they are). Bisection on ln t over [0, 12].
  busyPeriodSpan(rho, chance)::
    local lnFact(m) = if m < 2 then 0 else m * std.log(m) - m + 0.5 * std.log(2 * std.pi * m) + 1 / (12 * m) - 1 / (360 * m * m * m);
    local tail(t) =
      local x = (1 + rho) * t;
      local q = rho / ((1 + rho) * (1 + rho));
      // State [P(N >= k), P(N = k), k, sum], k = floor((m + 1) / 2) + 1, which moves on at
      // every odd m; Poisson terms past 12 sigma are left out.
      std.foldl(function(st, m)
        local next = m % 2 == 1;
        local s = if next then st[0] - st[1] else st[0];
        local p = if next then st[1] * 2 * (2 * st[2] - 1) / (st[2] + 1) * q else st[1];
        local k = if next then st[2] + 1 else st[2];
        local sum = st[3] + std.exp(-x + m * std.log(x) - lnFact(m)) * s;
        // Compared, so evaluated now rather than as a chain of thunks m deep.
        if sum >= 0 || sum < 0 then [s, p, k, sum] else error 'busyPeriodSpan: NaN',
        std.range(0, std.floor(x + 12 * std.sqrt(x) + 20)), [1, 1 / (1 + rho), 1, 0])[3];
    local span = std.foldl(function(b, i)
      local mid = (b[0] + b[1]) / 2;
      if tail(std.exp(mid)) > chance then [mid, b[1]] else [b[0], mid], std.range(1, 16), [0, 12])[1];
    if !(chance > 0 && chance < 1) then error 'exhaustedSampledChance %s: want a chance between 0 and 1' % chance
    else if span >= 12 then error 'busyPeriodSpan: the stretch at load %s and chance %s is past e^12 mean task durations per worker; lower exhaustedSampledLevel or raise exhaustedSampledChance' % [rho, chance]
    else std.exp(span),

  // The pool's current capacity: its last max_workers within the rate window, so that one
  // missed read does not drop it. What the forecast compares its trends with, and the
  // stall target scales.
  capacity(c):: 'last_over_time(workerpool_max_workers{%s}[%s])' % [c.poolSelector, c.rateWindow],

  // series was read at the start of the longest window WorkerPoolExhausted reads (within its
  // first exhaustedWindow): a series (a pool, a pod) no younger than that window. What the
  // longest window of the alert and the young pool's span both ask.
  readSinceLongest(c, series)::
    local longest = util.seconds($.exhaustedLongestWindow(c));
    'present_over_time(%s[%s] offset %s)' % [series, c.exhaustedWindow, util.duration(longest - util.seconds(c.exhaustedWindow))],

  // The pool's least capacity over the longest window WorkerPoolExhausted reads a sampled
  // gauge over, one series per pool: what its reads and its span are sized by.
  leastCapacity(c):: 'min by (%s) (min_over_time(workerpool_max_workers{%s}[%s]))' % [util.labelList(c.poolLabels), c.poolSelector, $.exhaustedLongestWindow(c)],

  // One series per pool, for the side of a join `on` the pool labels that must hold one: the
  // largest of e's series by pool. A pool's raw series can change a label while it runs (a
  // deploy gives the same instance a new pod or version label): for a window after it, a range
  // over them holds the old series and the new (and both, while a rolling update scrapes
  // both), and a join expecting one per pool fails the whole rule ("many-to-many matching not
  // allowed") for that long (tests/label-change.yaml). The largest: for a noise, a chance
  // bound or a share of capacity the one that pages less; for a capacity, the one that pages
  // more, by as much as the capacity changed with the label, for the 5 minutes both are read.
  perPool(c, e):: 'max by (%s) (%s)' % [util.labelList(c.poolLabels), e],

  // A wait limit relative to the pool's tasks: factor mean task durations, raised for a pool
  // of c < durationFactorWorkers workers by durationFactorWorkers / c (config.libsonnet; a
  // capacity of 0 takes the largest raise, not an infinite one), with the labels of the mean
  // duration. Absent where the pool has no mean duration.
  // mean is the recorded mean duration to scale (the long one by default).
  durations(c, factor, mean=$.names(c).meanDuration)::
    local k = c.durationFactorWorkers;
    if k < 1 then error 'durationFactorWorkers %s: want 1 or more' % k
    else '%s * on (%s) group_left () clamp(%s / %s, 1, %s) * %s' % [
      mean, util.labelList(c.poolLabels), util.num(k), $.perPool(c, $.capacity(c)), util.num(k), util.num(factor),
    ],

  // Whether exhaustedDurationWindow is a window of its own (config.libsonnet): else the queue
  // age reads the long mean alone, and no second mean is recorded.
  recentMeanApart(c):: util.seconds(c.exhaustedDurationWindow) != util.seconds(c.taskDurationWindow),

  // The mean task duration WorkerPoolExhausted's queue age scales with: the larger of the
  // long mean and the recent one as it was when the pool's queue last read empty, within
  // exhaustedDurationLookback (config.libsonnet), whichever the pool has.
  exhaustedMeanDuration(c)::
    local n = $.names(c);
    local recent = 'last_over_time(%s[%s])' % [n.recentMeanDuration, c.exhaustedDurationLookback];
    if $.recentMeanApart(c) then '(%s >= %s or %s or %s)' % [n.meanDuration, recent, recent, n.meanDuration]
    else n.meanDuration,

  // The series that say whether a read of a target's stats failed (0): the exporter's
  // poolwatch_up of a stats page, and Prometheus's own up of a process exposing its pools
  // itself, whose /metrics may be served by the pool it measures.
  statsReads(c):: ['poolwatch_up{%s}' % c.upSelector, 'up{%s}' % c.upSelector],

  // The windows of the objective ratios: the burn-rate alerts' four and the dashboards' one.
  objectiveWindows(c)::
    std.set([c.rateWindow, c.fastBurnShortWindow, c.fastBurnLongWindow,
             c.slowBurnShortWindow, c.slowBurnLongWindow], util.seconds),

  // PromQL over a histogram of the contract, native or classic, whichever the server holds.
  hist(c):: {
    local p = c.poolSelector,
    // Counter resets over w (a restart): of the native series where it exists.
    resets(name, w)::
      '(resets(%(n)s{%(p)s}[%(w)s]) or resets(%(n)s_count{%(p)s}[%(w)s]))' % { n: name, p: p, w: w },
    // Observations per second over w.
    count(name, w)::
      '(histogram_count(rate(%(n)s{%(p)s}[%(w)s])) or rate(%(n)s_count{%(p)s}[%(w)s]))' % { n: name, p: p, w: w },
    // The q-quantile over w.
    quantile(q, name, w)::
      '(histogram_quantile(%(q)s, rate(%(n)s{%(p)s}[%(w)s])) or histogram_quantile(%(q)s, rate(%(n)s_bucket{%(p)s}[%(w)s])))' % { q: q, n: name, p: p, w: w },
    // The mean observation over w; absent without observations (rather than 0/0).
    mean(name, w)::
      |||
        (
          histogram_sum(rate(%(n)s{%(p)s}[%(w)s])) / (histogram_count(rate(%(n)s{%(p)s}[%(w)s])) > 0)
          or
          rate(%(n)s_sum{%(p)s}[%(w)s]) / (rate(%(n)s_count{%(p)s}[%(w)s]) > 0)
        )
      ||| % { n: name, p: p, w: w },
    // The fraction of observations above boundary b (a string, a bucket boundary) over w;
    // absent without observations. Exact on classic buckets and on native ones at a power of
    // two (1 s); elsewhere native buckets interpolate within the bucket that holds b. The
    // native fraction starts at -Inf, not 0: a wait of 0 lands in the zero bucket, which spans
    // [-threshold, +threshold], and when it is the only bucket histogram_fraction(0, b)
    // counts half of it, so a pool that never waits would read 50% over its objective and
    // page (mixin/tests/native/zero-waits-native.yaml). Waits are never negative.
    over(name, b, w)::
      |||
        (
          1 - histogram_fraction(-Inf, %(b)s, rate(%(n)s{%(p)s}[%(w)s])) and histogram_count(rate(%(n)s{%(p)s}[%(w)s])) > 0
          or
          1 - sum without (le) (rate(%(n)s_bucket{%(p)s,%(le)s}[%(w)s])) / (rate(%(n)s_count{%(p)s}[%(w)s]) > 0)
        )
      ||| % { n: name, p: p, w: w, b: b, le: util.leMatcher(b) },
  },

  // The per-pool wait objective (seconds, a boundary of c.waitObjectiveBoundaries): the pins
  // of c.waitObjectives first, then the larger of waitObjectiveSeconds and
  // waitObjectiveDurationFactor mean task durations (more on pools of few workers) rounded up
  // to a boundary, then waitObjectiveSeconds for a pool with no finished task to measure. A
  // pool whose threshold would pass the largest boundary has none: no objective its
  // histogram can measure fits its tasks, and WorkerPoolExhausted judges its waits instead.
  waitObjectiveExpr(c)::
    local n = $.names(c);
    local p = c.poolSelector;
    local bs = c.waitObjectiveBoundaries;
    local check(s) =
      if std.member(bs, s) then s
      else error 'wait objective %s: want one of waitObjectiveBoundaries %s' % [s, std.join(', ', bs)];
    local min = check(c.waitObjectiveSeconds);
    local floor = std.filter(function(b) util.seconds(b + 's') >= util.seconds(min + 's'), bs);
    // "every pool with a wait histogram", as a vector of zeros keeping each pool's labels.
    local pools = '(%s * 0)' % $.hist(c).count('workerpool_task_wait_seconds', c.rateWindow);
    local wanted = 'clamp_min(%s, %s)' % [$.durations(c, c.waitObjectiveDurationFactor), min];
    local last = floor[std.length(floor) - 1];
    local pins = [
      '%s + %s' % [
        '(%s * 0)' % $.hist(c { poolSelector: p + ',' + o.selector }).count('workerpool_task_wait_seconds', c.rateWindow),
        check(o.seconds),
      ]
      for o in c.waitObjectives
    ];
    local steps = [
      local b = floor[i];
      if i == 0 then '(%s <= %s) * 0 + %s' % [wanted, b, b]
      else '(%s > %s <= %s) * 0 + %s' % [wanted, floor[i - 1], b, b]
      for i in std.range(0, std.length(floor) - 1)
    ];
    local fallback = '%s + %s\nunless on (%s)\n%s > %s' % [pools, min, util.labelList(c.poolLabels), wanted, last];
    std.join('\nor\n', pins + steps + [fallback]),

  // Mean busy workers over window w: the rate of busy seconds where the pool has them (once
  // the counter is a rate window old), else the mean of the sampled busy gauge. A pool that
  // exposed busy seconds at any point of the rate window never takes the gauge branch, so it
  // has one series from one source and cannot flip between them (not even in its first
  // window, when the rate branch is still held back). Both branches wait until their series
  // is a rate window old: the first minutes' few samples make a steep, false trend.
  //
  // Where a read of the target's stats failed within w (poolwatch_up or up 0), the rate is
  // the slope of the busy-seconds counter over the reads that succeeded (deriv), not rate():
  // rate() divides what the remaining reads cover by the whole window, so a window whose
  // newest reads failed reads low, by half when its second half is missing. A stats page
  // served by the pool it measures fails exactly when that pool is full, so rate() read the
  // climb to exhaustion as a drop (mixin/scenarios/cherrypy-stats-on-main-pool). The slope
  // is neither raised nor lowered by a missing read; a failed read is not counted as load (a
  // healthy pool at 75% fails one read in five: cherrypy-stats-on-main-pool-surge). A counter
  // reset (a restart, which fails reads too) in the window keeps rate(): the slope across it
  // is meaningless.
  busyExpr(c, w)::
    |||
      (
        (
          deriv(workerpool_busy_seconds_total{%(p)s}[%(w)s])
          and
          resets(workerpool_busy_seconds_total{%(p)s}[%(w)s]) == 0
          and on (%(on)s)
          (
            %(failed)s
          )
          or
          rate(workerpool_busy_seconds_total{%(p)s}[%(w)s])
        )
        and
        %(readBusySeconds)s
      )
      or
      (
        avg_over_time(workerpool_busy_workers{%(p)s}[%(w)s])
        and
        %(readBusyWorkers)s
        unless on (%(by)s)
        present_over_time(workerpool_busy_seconds_total{%(p)s}[%(rw)s])
      )
    ||| % {
      p: c.poolSelector,
      w: w,
      rw: c.rateWindow,
      readBusySeconds: $.readFor('workerpool_busy_seconds_total{%s}' % c.poolSelector, c.rateWindow),
      readBusyWorkers: $.readFor('workerpool_busy_workers{%s}' % c.poolSelector, c.rateWindow),
      by: util.labelList(c.poolLabels),
      on: util.labelList(c.instanceLabels),
      failed: std.join('\n      or\n      ', [
        'min by (%s) (min_over_time(%s[%s])) == 0' % [util.labelList(c.instanceLabels), s, w]
        for s in $.statsReads(c)
      ]),
    },

  prometheusRules+:: {
    local c = $._config,
    local n = $.names(c),
    local h = $.hist(c),
    local p = c.poolSelector,
    local age = 'workerpool_oldest_running_task_age_seconds{%s}' % p,
    // The short window of the exhaustion forecast is recorded apart only where a _config
    // does not make it the rate window: its busy rate and noise are then the rate window's.
    local shortWindowApart = c.predictNowWindow != c.rateWindow,
    groups+: [{
      name: 'poolwatch.rules',
      rules: [
        {
          // Mean busy workers over the window, exact: rate() of the busy-seconds integral
          // counts every task, also the ones still running, where the busy gauge samples one
          // instant per scrape. Recorded only once the series is a window old: over a partial
          // window rate() of a new counter climbs from 0, a trend the exhaustion forecast
          // would extrapolate.
          // Sources without busy seconds (PHP-FPM, Apache, uWSGI, Puma, Tomcat) fall back on
          // the mean of the sampled busy gauge (never made into a counter): $.busyExpr.
          record: n.busy,
          expr: $.busyExpr(c, c.rateWindow),
        },
      ] + (if !shortWindowApart then [] else [
        {
          // Mean busy workers over the short window of the exhaustion forecast: the load now,
          // one minute behind rather than the 2.5 of the rate window. Same guard as above.
          record: n.busyNow,
          expr: $.busyExpr(c, c.predictNowWindow),
        },
      ]) + [
        {
          // Mean busy workers over mean capacity. The mean capacity, not the current one:
          // a pool resized within the window divided by its new size would read above 100%
          // (shrunk) or far below it (grown). avg_over_time keeps the ratio alive for a
          // window after a source stops answering, so "was it saturated just before?" can
          // still be asked.
          record: n.utilization,
          expr: |||
            %(busy)s
            /
            avg_over_time(workerpool_max_workers{%(p)s}[%(w)s])
          ||| % { p: p, w: c.rateWindow, busy: n.busy },
        },
        {
          // Fraction of the time every worker was busy (sources with saturated_seconds only).
          record: n.saturation,
          expr: 'rate(workerpool_saturated_seconds_total{%s}[%s])' % [p, c.rateWindow],
        },
        {
          // The reads a sampled busy gauge needs, all of them every worker busy, before
          // WorkerPoolExhausted takes it for exhaustion (config.libsonnet,
          // exhaustedSampledChance): a staircase on the capacity, computed here; sampled
          // pools only.
          record: n.exhaustedReads,
          // The capacity is the least over the longest window the alert reads, by pool: a pool
          // grown within it is judged by the reads of its smaller size, and a label that
          // changes on the raw series leaves one series per pool (no duplicate match).
          expr: |||
            (
              %(steps)s
            )
            unless on (%(by)s)
            present_over_time(workerpool_busy_seconds_total{%(p)s}[%(w)s])
          ||| % {
            local least = $.leastCapacity(c),
            steps: std.join('\n  or\n  ', ['(%s >= %d) * 0 + %d' % [least, st[0], st[1]] for st in $.exhaustedReadSteps(c)]),
            by: util.labelList(c.poolLabels), p: p, w: c.exhaustedWindow,
          },
        },
        {
          // Tasks finished per second, every outcome: the pool's progress.
          record: n.throughput,
          expr: 'sum without (outcome) (rate(workerpool_tasks_completed_total{%s}[%s]))' % [p, c.rateWindow],
        },
        {
          // The mean task duration by Little's law, busy workers over tasks finished per second,
          // over taskDurationWindow, each the mean of its recorded rate-window series (a rate()
          // over the long window itself divides by all of it, and a pool younger than it would
          // read tasks hours long). What a pool without a duration histogram (every exporter
          // source) knows of its task duration: the hung-task age and the exhausted span scale
          // with it. Matched on all labels: a gauge and a counter with different constant
          // labels have none. PHP-FPM counts connections closed without a request (a load
          // balancer's TCP check) as completions, which shortens it; Puma 5.6-6.x counts a
          // thread waiting up to 0.2 s for a keep-alive client's next request as busy, which
          // lengthens it, tenfold for requests of 20 ms (later pages, not false ones).
          record: n.busyPerTask,
          expr: |||
            avg_over_time(%(busy)s[%(dw)s])
            /
            (avg_over_time(%(throughput)s[%(dw)s]) > 0)
          ||| % { busy: n.busy, throughput: n.throughput, dw: c.taskDurationWindow },
        },
        {
          // How long a pool without a queue age must have every worker busy before
          // WorkerPoolExhausted takes it for exhaustion, where its tasks are long: a healthy
          // pool's all-busy stretches then last minutes, long enough for exhaustedWindow of
          // busy seconds (CherryPy) and for the reads a sampled gauge's size needs (above) to
          // come within one stretch. The longest stretch a healthy pool shows with a chance of
          // exhaustedSampledChance (busyPeriodSpan, 421 mean task durations per worker at 75%),
          // in seconds: 35 minutes on 4 workers of 20 s tasks, 7 on 10 of 10 s, 5 on 4 of 3 s
          // (as long as 21 reads at 15 s), 5 s on 16 of 0.2 s. That tail is M/M/1's, for
          // exponential task durations: more variable ones make longer stretches (lognormal,
          // cv 1.3: a 16-minute one every 21 hours on 4 workers of 20 s, against 65 for
          // exponential; docs/forecast-design.md). The mean task duration is Little's (above).
          // A pool that counts its requests but has no mean yet, in its first minutes (its
          // counter first read within the longest window), has a span as long as that window:
          // it may be of long requests, and a healthy CherryPy pool of 4 threads of 10 s
          // requests (cv 1.3) was all busy through its first 2 minutes and paged. A pool hung
          // from its start is then paged by WorkerPoolStalled (8-9 minutes in), not by this.
          // Only while young: a pool whose mean never comes (a counter that never rises, or
          // one whose constant labels differ from its busy series') kept it for good and was
          // paged 14 minutes late (review). A pool without a mean past that, or that counts
          // no requests, has no span, and is judged by exhaustedWindow of busy seconds
          // or by its reads alone. A pool with a queue age (Go) is judged by that age, and its
          // span is not read.
          record: n.exhaustedSpan,
          expr: |||
            %(k)s * max by (%(by)s) (%(busyPerTask)s)
            / on (%(by)s)
            (%(least)s > 0)
            or on (%(by)s)
            max by (%(by)s) (present_over_time(workerpool_tasks_completed_total{%(p)s}[%(lw)s])) * %(longest)s
            unless on (%(by)s)
            %(readSinceLongest)s
          ||| % {
            k: util.num($.busyPeriodSpan($.sampledLevel(c), c.exhaustedSampledChance)),
            busyPerTask: n.busyPerTask, by: util.labelList(c.poolLabels), least: $.leastCapacity(c),
            p: p, lw: $.exhaustedLongestWindow(c), longest: util.num(util.seconds($.exhaustedLongestWindow(c))),
            readSinceLongest: $.readSinceLongest(c, 'workerpool_tasks_completed_total{%s}' % p),
          },
        },
        {
          // Queue growth in tasks per second: above 0 for a while means arrivals exceed service.
          record: n.queueGrowth,
          expr: 'deriv(workerpool_queued_tasks{%s}[%s])' % [p, c.rateWindow],
        },
        {
          // The busy workers at which the pool stalls, the exhaustion forecast's target: its
          // capacity, or less where a bounded queue overflows first (see queueOverflow* in
          // config.libsonnet). With K the queue's capacity stretched by queueVariability,
          // lambda the pool's full rate of tasks (tasks completed per busy worker-second,
          // times c) and T = queueOverflowInterval, the overflow load rho = exp(-x) solves
          //   lambda T x exp(-K x) = 1,  i.e.  x = ln(lambda T x) / K
          // (x = -ln rho ~ 1 - rho: the M/M/c/K blocking probability (1 - rho) rho^K, the
          // probability that every worker is busy taken as 1). One step of that fixed point
          // from x0 = ln(lambda T) / K: x0 errs high, so does the step, and the target errs
          // low, never late: 0 to 0.07 below the exact M/M/c/K load of one rejection per T
          // over c 1-128, K/c 1-32 and tasks of 20 ms to 5 s wherever that load is above
          // queueOverflowFloor (docs/forecast-design.md). lambda T is held to 1 at least, so that a
          // pool finishing nothing (hung) gets its capacity rather than NaN.
          // Unbounded queues (no max_queued series), no queue (K = 0) and queues that
          // overflow below queueOverflowFloor keep the capacity; a target between that floor
          // and queueOverflowTargetMin is raised to the latter, so that the trend conditions
          // still need a rise well above the forecast's level gate (config.libsonnet).
          // The share of capacity is taken by pool, the largest (as rules.perPool): a pool
          // whose old and new series are scraped together (a rolling update) has two.
          record: n.stallTarget,
          expr: |||
            %(capacity)s
            * on (%(by)s) group_left ()
            max by (%(by)s) (
              clamp_min(
                clamp_max(
                  exp(
                    -ln(%(lt)s * ln(%(lt)s) / %(ke)s)
                    / %(ke)s
                  ),
                  1
                )
                >= %(floor)s,
                %(targetMin)s
              )
            )
            or
            %(capacity)s
          ||| % {
            capacity: $.capacity(c),
            by: util.labelList(c.poolLabels),
            // Tasks the pool completes per queueOverflowInterval with every worker busy.
            lt: 'clamp_min(%s / (%s > 0) * %s * %s, 1)' % [
              n.throughput, n.busy, $.capacity(c), util.num(util.seconds(c.queueOverflowInterval)),
            ],
            ke: '((workerpool_max_queued_tasks{%s} > 0) / %s)' % [p, util.num(c.queueVariability)],
            floor: util.num(c.queueOverflowFloor),
            targetMin: util.num(c.queueOverflowTargetMin),
          },
        },
      ] + std.flattenArrays([
        local w = pair[0];
        local b = pair[1];
        [
          {
            // The turn of the mean busy workers over two windows a window apart, |b(t) -
            // 2b(t-W) + b(t-2W)|: 0 for any steady trend, so what remains is the noise
            // (config.libsonnet, predictNoise*). Sources with busy seconds only: a sampled
            // gauge's noise is its sampling. Divided by the square root of the busy workers
            // at its middle: busy workers wander by chance about as the square root of their
            // mean (tasks arriving at random: Poisson), so the turn per square-rooted busy
            // worker is the pool's own at any load, and the noise (below) can be taken at the
            // load the gates judge, not at the load of the hour it was measured in. An idle
            // window (no busy worker) has no turn to scale and counts for nothing.
            record: n.secondDifference(w),
            expr: |||
              abs(%(b)s - 2 * (%(b)s offset %(w)s) + (%(b)s offset %(w2)s))
              / sqrt((%(b)s offset %(w)s) > 0)
              and on (%(by)s)
              present_over_time(workerpool_busy_seconds_total{%(p)s}[%(w)s])
            ||| % { b: b, w: w, w2: util.duration(2 * util.seconds(w)), by: util.labelList(c.poolLabels), p: p },
          },
          {
            // The noise of the busy workers over w (one sigma) at predictPeakLevel of the
            // capacity of the moment, the load the gates stand above: the median turn over
            // predictNoiseWindow, / (0.6745 * sqrt(6)) (the median of |N(0, 6 sigma^2)|),
            // times the square root of those busy workers. The median, not the mean: a
            // restart, a resize or a surge's corners turn the load for a few windows, the
            // noise in all of them. Taken at the hour's own load instead, the noise of a pool
            // that surged from 30% to a healthy 75% was that of 30%, two thirds of its own,
            // and its first readings at 75% passed the gate by chance.
            // In busy workers: the gates divide by the capacity of the moment, so a pool
            // resized within the hour is judged at its new size.
            record: n.noise(w),
            expr: |||
              quantile_over_time(0.5, %(d)s[%(h)s]) / %(k)s
              * on (%(by)s) group_left ()
              sqrt(%(peak)s * %(capacity)s)
              and
              count_over_time(%(d)s[%(h)s]) >= %(min)s
            ||| % { d: n.secondDifference(w), h: c.predictNoiseWindow, k: util.num(0.6745 * std.sqrt(6)), min: c.predictNoiseMinSamples, by: util.labelList(c.poolLabels), peak: util.num(c.predictPeakLevel), capacity: $.perPool(c, $.capacity(c)) },
          },
        ]
        for pair in (if shortWindowApart then [[c.predictNowWindow, n.busyNow]] else []) + [[c.rateWindow, n.busy]]
      ]) + [
        {
          // The pool's own mean task duration over a long window: what the wait objective,
          // the exhausted queue age and the hung-task age of long-task pools scale with.
          record: n.meanDuration,
          expr: h.mean('workerpool_task_duration_seconds', c.taskDurationWindow),
        },
      ] + (if $.recentMeanApart(c) then [
        {
          // The same over exhaustedDurationWindow, the tasks the pool runs now, recorded only
          // where the window holds exhaustedDurationMinTasks tasks and the queue reads empty
          // now: for the queue age of WorkerPoolExhausted alone, which reads the last one
          // (config.libsonnet). A stall's queue does not empty, so the slower tasks of a
          // stall do not enter it. A read that failed is not an empty queue (== 0 wants a
          // sample), and a window holding a restart is left out: a restart empties the queue
          // while the window still holds the tasks the stall slowed.
          record: n.recentMeanDuration,
          expr: |||
            %(mean)s
            and on (%(by)s)
            %(count)s * %(seconds)s >= %(min)s
            and on (%(by)s)
            workerpool_queued_tasks{%(p)s} == 0
            unless on (%(by)s)
            %(resets)s > 0
          ||| % {
            mean: std.rstripChars(h.mean('workerpool_task_duration_seconds', c.exhaustedDurationWindow), '\n'),
            by: util.labelList(c.poolLabels),
            count: h.count('workerpool_task_duration_seconds', c.exhaustedDurationWindow),
            seconds: util.num(util.seconds(c.exhaustedDurationWindow)),
            min: util.num(c.exhaustedDurationMinTasks),
            p: c.poolSelector,
            resets: h.resets('workerpool_task_duration_seconds', c.exhaustedDurationWindow),
          },
        },
      ] else []) + [
        {
          // The age the pool's oldest running task had reached when it ended, recorded at each
          // evaluation within rateWindow of its end (the age dropped below its peak over the
          // window; a window of a few scrapes, so that a drop shows at any scrape interval):
          // what a healthy task of the pool's longest lasts. Only a task that ended before
          // WorkerPoolHungWorkers could page it (within the hung limit and hungFor): a hung
          // request ended by a timeout, a kill or a restart after it paged would otherwise
          // raise the limit for the next hang. Nor does a task of a pool paged within the
          // window: at a scrape interval longer than hungFor both evaluations of a page read
          // one sample, and a hang paged at no more than the limit and hungFor would count;
          // and a paged hang that ends enters the mean of a pool finishing few tasks, which
          // lifts the limit past it at once (review).
          // This record and the limit come after the mean they read: a rule reads the ones
          // before it in its group at this evaluation, the ones after at the last, and a
          // pool's first minute would take the floor.
          record: n.endedAge,
          expr: |||
            (max_over_time(%(age)s[%(rw)s]) <= %(hungLimit)s + %(hungFor)s)
            >
            %(age)s
            unless on (%(by)s)
            max_over_time(ALERTS{alertname="%(hungAlert)s",alertstate="firing"}[%(rw)s])
          ||| % { age: age, rw: c.rateWindow, hungLimit: n.hungLimit, hungAlert: n.hungAlert, hungFor: util.num(util.seconds(c.hungFor)), by: util.labelList(c.poolLabels) },
        },
        {
          // The age past which WorkerPoolHungWorkers takes the oldest running task for hung: the
          // larger of hungTaskAgeSeconds, hungTaskDurationFactor mean task durations, and
          // hungTaskLongestFactor times the longest task that ended in taskDurationWindow
          // (above). The mean is the duration histogram's, or Little's where the pool has none
          // (every exporter source): CherryPy, PHP-FPM, uWSGI and Tomcat pools of long requests
          // were held to the 120 s floor, and healthy ones of 60 s requests (or 30 s ones of cv
          // 1.3) had a request past it for a minute a few times an hour, paged. Little's counts
          // the hung request among the busy workers, and on a pool finishing fewer than 20
          // requests in taskDurationWindow that alone raised the limit faster than the request
          // aged: its least over hungTaskDurationWindow is the mean from before the hang. A mean
          // does not tell a heavy tail: healthy pools of 5-60 s tasks of lognormal shape 1 and
          // 1.5 (cv 1.3 and 2.9) ran a task past 20 means a few times a day to a few times an
          // hour, and were paged; the longest ended task is the tail the pool really has.
          // No mean in a pool's first rateWindow is no reason for the floor: an exporter source
          // has no Little's mean before then, and young healthy pools of 20-120 s requests were
          // paged at 4m; a hang from their first second waits for the limit until 5m.
          record: n.hungLimit,
          expr: |||
            %(longestFactor)s * max_over_time(%(endedAge)s[%(dw)s]) > %(base)s
            or
            %(base)s
          ||| % {
            longestFactor: util.num(c.hungTaskLongestFactor), endedAge: n.endedAge, dw: c.taskDurationWindow,
            base: $.limit(age, '(%s or min_over_time(%s[%s])) * %s' % [n.meanDuration, n.busyPerTask, c.hungTaskDurationWindow, util.num(c.hungTaskDurationFactor)], c.hungTaskAgeSeconds, c.rateWindow),
          },
        },
        {
          // The pool's queue-wait objective threshold in seconds (see waitObjective* in
          // config.libsonnet).
          record: n.waitObjective,
          expr: $.waitObjectiveExpr(c),
        },
      ] + [
        {
          record: n.waitQuantile(q),
          expr: h.quantile('0.' + q, 'workerpool_task_wait_seconds', c.rateWindow),
        }
        for q in ['50', '90', '99']
      ] + [
        {
          // Fraction of tasks that waited longer than their pool's objective: the bad events
          // of the queue-wait SLO. One term per boundary, the pool's own objective picks it.
          // No tasks, no ratio (rather than 0/0).
          record: n.waitOverObjective(w),
          expr: std.join('\nor\n', [
            '%s\nand\n(%s == %s)' % [
              std.rstripChars(h.over('workerpool_task_wait_seconds', b, w), '\n'),
              n.waitObjective,
              b,
            ]
            for b in c.waitObjectiveBoundaries
            if util.seconds(b + 's') >= util.seconds(c.waitObjectiveSeconds + 's')
          ]) + '\n',
        }
        for w in $.objectiveWindows(c)
      ],
    }],
  },
}
