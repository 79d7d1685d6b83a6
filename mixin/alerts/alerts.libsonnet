// Alerting rules. Warnings page while there is still time to act (load climbing towards
// capacity, a bounded queue filling, workers hanging one by one, a wait objective slowly
// burning); criticals page at the stall (queued work waiting or not moving, rejections, a
// stats page gone silent while its pool was saturated). Every alert keeps job, instance and
// pool. Series the CherryPy source lacks are covered by `or ... unless` fallbacks on the
// series it has, under the same alert names.
local rules = import '../rules/rules.libsonnet';
local util = import '../lib/util.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local n = rules.names(c),
    local budget = 1 - c.waitObjectiveTarget,
    local f = util.fmt(c {
      p: c.poolSelector,
      u: c.upSelector,
      g: c.goSelector,
      by: util.labelList(c.poolLabels),
      on: util.labelList(c.instanceLabels),
      util: n.utilization,
      sat: n.saturation,
      predictHorizonSeconds: util.seconds(c.predictHorizon),
      exhaustedMeanWindows: if rules.recentMeanApart(c) then '%s or, if longer, over the %s before the queue last read empty' % [c.taskDurationWindow, c.exhaustedDurationWindow] else c.taskDurationWindow,
      predictNowLevelPercent: c.predictNowLevel * 100,
      // The short window's sampling noise is about sqrt(u * d / (c * W)) for tasks of mean
      // duration d on c workers over a window W: below predictNowNoise while d / c is below
      // predictNowNoise^2 * W (config.libsonnet).
      predictNowDurationPerWorker: util.num(std.pow(c.predictNowNoise, 2) * util.seconds(c.predictNowWindow)),
      goroutinesHorizonSeconds: util.seconds(c.goroutinesHorizon),
      fastLong: n.waitOverObjective(c.fastBurnLongWindow),
      fastShort: n.waitOverObjective(c.fastBurnShortWindow),
      slowLong: n.waitOverObjective(c.slowBurnLongWindow),
      slowShort: n.waitOverObjective(c.slowBurnShortWindow),
      fastThreshold: c.fastBurnFactor * budget,
      slowThreshold: c.slowBurnFactor * budget,
      objectivePercent: c.waitObjectiveTarget * 100,
      busy: n.busy,
      busyNow: n.busyNow,
      stallTarget: n.stallTarget,
      // The level gates raised by the pool's own measured noise (config.libsonnet,
      // predictPeakLevel): where no noise is known yet, or the source has no busy seconds,
      // the chance bound alone (noiseOf); where no task finished either, the plain 2m level.
      nowGate: noiseGate(c.predictNowWindow),
      rateGate: noiseGate(c.rateWindow),
      capacity: rules.capacity(c),
      // The pool still reports: the long windows of the burn rates would otherwise keep
      // paging about a pool shut down (or gone with its process) for up to a window.
      present: rules.capacity(c),
      meanDuration: n.meanDuration,
      hungLimit: n.hungLimit,
      waitObjective: n.waitObjective,
      // The queue age's limit: the larger of floor and some mean task durations, over the long
      // or the recent window, whichever mean is longer (rules.exhaustedMeanDuration; and
      // rules.durations: more on a pool of few workers, whose queue holds tasks longer), or
      // floor where no duration is known. It comes from the histogram alone: every source that
      // reports a queue age (the collector) has one.
      queueAgeLimit: rules.limit('workerpool_oldest_queued_task_age_seconds{%s}' % c.poolSelector,
                           rules.durations(c, c.exhaustedQueueAgeDurationFactor, rules.exhaustedMeanDuration(c)), c.exhaustedQueueAgeSeconds),
      // The stats of a target could not be read for long enough that it is no chance:
      // statsDown below, over the longest of its windows.
      statsDown: '(\n%s)' % std.join('or\n', [statsDownOver(w) for w in statsDownWindows]),
    }),
    // The stats of a target could not be read at any read of window w (the exporter's
    // poolwatch_up of a stats page, or Prometheus's own up of a process exposing its pools
    // itself, whose /metrics may be served by the pool it measures), and that many failed
    // reads in a row are no chance. A stats page served by the pool it measures fails a read
    // whenever every worker is busy and work waits: at a healthy 75% one read in three or four
    // on a few workers (Erlang C), so two failed reads in a row, a whole 2m window at a 1m
    // scrape, come by chance every hour or so. With p the share of reads that failed over the
    // statsSilentLookback before the window (before the next longer one, statsDownOver, and one
    // statsDownWindow more: the silence began before the window, and its first failed reads
    // must not count as the past), n failed reads in a row of a healthy pool have a
    // chance of p^n (reads a scrape apart are as good as independent), and the silence counts
    // once p^n is below statsDownChance: at once for a target that never failed (p = 0), the
    // whole statsDownWindow as before; after 10 reads at p = 0.3, 17 at p = 0.5. The longer
    // windows (multiples of statsDownWindow, up to 15: 30m) hold those reads at slow scrapes,
    // and keep a long silence counted while the lookback before their window fills with it; a
    // target with no read at all in the lookback (p = 1) is down, not unlucky. The lookback
    // lags a load that just rose: a pool that was idle until 20 minutes ago and now fails a
    // read in three needs fewer reads than it should (docs/forecast-design.md).
    local statsDownWindows = [
      util.duration(util.seconds(c.statsDownWindow) * k)
      for k in [1, 2.5, 5, 10, 15]
    ],
    local statsDownOver(w) =
      // The lookback ends one statsDownWindow before the next longer window (the longest: its
      // own): a silence that outlasts w enters the lookback of w and raises p there, and w
      // must keep counting until the next window holds the silence, or both alerts resolve
      // and page again within one silence. A target with no read at all in the lookback (new)
      // has no share to weigh the silence against: it counts at once, as one that never failed.
      local longer = [x for x in statsDownWindows if util.seconds(x) > util.seconds(w)];
      local upTo = if longer == [] then w else longer[0];
      local one(s) = |||
        max by (%(on)s) (
          max_over_time(%(s)s[%(w)s]) == 0
          and
          (
            count_over_time(%(s)s[%(w)s]) * ln(1 - avg_over_time(%(s)s[%(h)s] offset %(before)s)) <= %(lnChance)s
            or
            avg_over_time(%(s)s[%(h)s] offset %(before)s) == 0
            or
            count_over_time(%(s)s[%(w)s]) unless count_over_time(%(s)s[%(h)s] offset %(before)s)
          )
        )
      ||| % { on: util.labelList(c.instanceLabels), s: s, w: w, h: c.statsSilentLookback, lnChance: util.num(std.log(c.statsDownChance)), before: util.duration(util.seconds(upTo) + util.seconds(c.statsDownWindow)) };
      '(\n%s)' % std.join('  or\n', [one(s) for s in rules.statsReads(c)]),
    // The pool was saturated (above statsDownLevel, or every worker busy at a read) within
    // recentWindow before the first statsDownWindow of a silence of w: for the shortest
    // window the last recentWindow, for a longer one the recentWindow before the start of its
    // own last statsDownWindow (offset), so that a silence found late, after many reads, is
    // still joined to the saturation that came before it.
    local saturatedBefore(w) =
      local shift = util.seconds(w) - util.seconds(c.statsDownWindow);
      local off = if shift == 0 then '' else ' offset ' + util.duration(shift);
      |||
        (
          max_over_time(%(util)s[%(recent)s]%(off)s) > %(level)s
          or
          max_over_time(workerpool_busy_workers{%(p)s}[%(recent)s]%(off)s)
            / max_over_time(workerpool_max_workers{%(p)s}[%(recent)s]%(off)s) >= 1
        )
        and on (%(on)s)
        %(down)s
      ||| % { util: n.utilization, recent: c.recentWindow, off: off, level: util.num(c.statsDownLevel), p: c.poolSelector, on: util.labelList(c.instanceLabels), down: statsDownOver(w) },
    // The noise a gate rises by: the measured noise, but no more than chance can make on
    // this pool, sqrt(predictNoiseChanceFactor * u * d / (c * W)) for utilization u, mean
    // task duration d (busy seconds per task finished, from the pool's own series, so
    // CherryPy has it too) and c workers over a window W: Poisson arrivals and tasks whose
    // durations vary up to sqrt(predictNoiseChanceFactor - 1) times their mean. Load that turns
    // regularly (a batch burst every few minutes) varies the windows far more than chance
    // would, and that is load, not chance: measured whole, 21% on 32 workers of 0.5 s tasks
    // with a 2-minute burst every 6, it lifted the gate past 100%, and a ramp under such
    // bursts was warned after its stall (scenarios/bursty-ramp-32w-500ms-p6-a35, +16.9 to
    // -0.8 m). Where the bound cannot be computed (no task finished in the window), the
    // measured noise alone; where the noise is not measured yet (a pool's first quarter hour,
    // predictNoiseMinSamples) or never is (a sampled busy gauge), the bound alone: until a
    // pool has shown how it wanders, the most chance can make on it. A new pool of 1 worker
    // of 0.5 s tasks at 75% read 92% on the 2m window within its first minutes and was warned
    // under the plain 80% gate (docs/forecast-design.md).
    // The bound is taken at u no higher than predictPeakLevel: it is the chance of the peak
    // healthy traffic holds, what the gates stand above. Taken at the pool's own u it grew as
    // the pool filled, and a pool busy on every worker (u = 100%) had its gate past 100% from
    // d / c ~0.5 s on the 5m window: a PHP-FPM pool of 5 children of 3 s requests, its noise
    // never measured, was never warned by Saturated or the forecast (tests/saturated-gauge).
    // The measured noise is raised to the chance floor: predictNoiseChanceFloorFactor (1)
    // times the exact noise of a window's average of Poisson arrivals of tasks of one fixed
    // duration (below; config.libsonnet), the least chance makes. A median of ten to sixty
    // overlapping turns, a few independent ones, reads low by chance, and a pool's first
    // turns, or an hour of short tasks before long ones, read lower still. Under the floor the gate stood at two sigmas of the pool's own
    // noise or less, and healthy pools of few workers or long tasks were warned: one worker
    // of 10 s tasks at 72% in its 19th minute (tests/noise-first-turns), two of 5 s at 75%
    // at 47 m (docs/forecast-design.md, "Then taken: the noise floored at chance").
    local noiseOf(w) =
      // The mean task duration in windows, d / W (busy seconds per task finished); absent
      // where no task finished or no worker was busy.
      local x = '(%s / (%s > 0) / %s > 0)' % [n.busy, n.throughput, util.num(util.seconds(w))];
      // k * u / c times the spread of the tasks over the window: d / W for the bound; for the
      // floor the exact variance of a W-window average of M/D/inf, d / W * (1 - d / 3W) for
      // d <= W and 1 - W / 3d beyond, written m - m^3 / 3x with m = min(x, 1). Short tasks
      // (d <= W/10) differ by 3% at most; on tasks as long as the window the plain d / W
      // overstated the least noise by half and turned the gates off (tests/noise-long-tasks).
      local chance(k, spread) = 'sqrt(%(k)s * %(util)s * %(spread)s / %(capacity)s)' % {
        k: util.num(k), util: 'clamp_max(%s, %s)' % [n.utilization, util.num(c.predictPeakLevel)], spread: spread,
        capacity: rules.capacity(c),
      };
      local bound = rules.perPool(c, chance(c.predictNoiseChanceFactor, x));
      local by = util.labelList(c.poolLabels);
      // The measured noise in busy workers, as a share of the capacity of the moment, raised
      // to the chance floor where the floor is known (a task finished in the window); where
      // no noise is measured, absent, so that the bound alone holds (tests/noise-young-bound).
      local measured = '(%s / on (%s) %s)' % [rules.perPool(c, n.noise(w)), by, rules.perPool(c, rules.capacity(c))];
      local floored =
        if c.predictNoiseChanceFloorFactor > c.predictNoiseChanceFactor then
          error 'predictNoiseChanceFloorFactor %s: want at most predictNoiseChanceFactor %s' % [c.predictNoiseChanceFloorFactor, c.predictNoiseChanceFactor]
        else if c.predictNoiseChanceFloorFactor <= 0 then measured
        else
          local floor = rules.perPool(c, chance(c.predictNoiseChanceFloorFactor, '(clamp_max(%(x)s, 1) - clamp_max(%(x)s, 1) ^ 3 / (3 * %(x)s))' % { x: x }));
          '(%(m)s > on (%(by)s) %(f)s or on (%(by)s) (%(f)s and on (%(by)s) %(m)s) or on (%(by)s) %(m)s)' % { m: measured, f: floor, by: by };
      '(%(m)s < on (%(by)s) %(b)s or on (%(by)s) (%(b)s and on (%(by)s) %(m)s) or on (%(by)s) %(m)s or on (%(by)s) %(b)s)' % { m: floored, b: bound, by: by },
    // Every worker busy through a window as long as the pool's own all-busy stretches can be
    // by chance, one alternative a window: exhaustedWindow times 1, 1.5, 2, 3, 4, 6 and 8
    // (rules.exhaustedWindows). allBusy(w, longest) is the window's own test of series. A
    // window shorter than the longest must be as long as a healthy pool's all-busy stretches
    // can be by chance (rules.libsonnet, exhaustedSpan: long tasks; a pool that counts no
    // requests has no span and takes every window; one that counts them but has no mean
    // duration yet takes the longest only). The longest takes no span, so that a
    // pool of long tasks is still paged once it has been all busy for that long: late, not
    // never; it counts only for a series read all through it (present in its first
    // exhaustedWindow): a series just started (a new pod, a new pool) passed it at once
    // (review: 8 all-busy reads, 2 minutes of a pool of 4 workers of 20 s tasks, 1 deploy in
    // 10 at its peak).
    local allBusyWindows(series, allBusy) = std.join('\n        or\n        ', [
      local longest = w == rules.exhaustedLongestWindow(c);
      allBusy(w, longest) +
      (if longest then '\n        and\n        ' + rules.readSinceLongest(c, series)
       else '\n        unless on (%(by)s)\n        %(span)s > %(ws)s' % {
         by: util.labelList(c.poolLabels), span: n.exhaustedSpan, ws: util.num(util.seconds(w)),
       })
      for w in rules.exhaustedWindows(c)
    ]),
    // Busy seconds (CherryPy): every worker busy, exactly, for exhaustedUtilization of the
    // window. A pool of long requests is all busy by chance for minutes at a stretch: 10
    // threads of 10 s requests at 75% passed 2m every three hours, 4 of 10 s every half hour,
    // paged critical (docs/forecast-design.md). The span is for stretches strictly all busy;
    // the 1% of idle the level allows joins stretches across short gaps, which the review's
    // simulation found pages 1-4 times as often as strictly all busy would.
    local busySecondsAllBusy = allBusyWindows('workerpool_busy_seconds_total{%s}' % c.poolSelector, function(w, longest)
      'rate(workerpool_busy_seconds_total{%(p)s}[%(w)s])\n          / avg_over_time(workerpool_max_workers{%(p)s}[%(w)s]) >= %(level)s' % {
        p: c.poolSelector, w: w, level: util.num(c.exhaustedUtilization),
      }),
    // A sampled busy gauge: every worker busy on every read of a window that holds at least
    // the reads the pool's size needs (rules.libsonnet, exhaustedReads), so that a window
    // holds at most half again the reads needed. The longest needs exhaustedSampledMinReads
    // at most, so that a pool read too seldom for its size (one worker, or four scraped every
    // minute) is still paged once every read of it found every worker busy.
    // The reads are counted on the series whose reads were all busy (plain `and`): matched on
    // the pool labels, a pool whose label changed lent its old series' reads to the new one,
    // and two all-busy reads of a new pod paged (tests/label-change.yaml).
    local sampledAllBusy = allBusyWindows('workerpool_busy_workers{%s}' % c.poolSelector, function(w, longest)
      ('avg_over_time(workerpool_busy_workers{%(p)s}[%(w)s]) / avg_over_time(workerpool_max_workers{%(p)s}[%(w)s]) >= %(level)s\n' +
       '        and\n' +
       '        count_over_time(workerpool_busy_workers{%(p)s}[%(w)s]) >= on (%(by)s) group_left () %(reads)s') % {
        p: c.poolSelector, w: w, level: util.num(c.exhaustedUtilization), by: util.labelList(c.poolLabels),
        reads: if longest then 'clamp_max(%s, %d)' % [n.exhaustedReads, c.exhaustedSampledMinReads] else n.exhaustedReads,
      }),
    local noiseGate(w) = 'clamp_min(%s + %s * %s, %s)' % [util.num(c.predictPeakLevel), util.num(c.predictNoiseSigmas), noiseOf(w), util.num(c.predictNowLevel)],

    // The culprit, named in the page itself: the route of the alert's pool that holds the most
    // workers (busyCulprit) or runs the oldest request (oldestCulprit), read from the route
    // series with the template function query at the time the alert is evaluated. For a pool
    // without route series the query is empty and the description reads exactly as before.
    // These strings are Go templates with printf verbs: they are appended after the `%` of the
    // description, never formatted by it.
    local routeSel = std.join(',', ['%s=%%q' % l for l in c.poolLabels]),
    local routeArgs = std.join(' ', ['$labels.' + l for l in c.poolLabels]),
    local busyCulprit =
      '{{ with printf `topk(1, workerpool_route_busy_workers{%s})` %s | query }}{{ with first . }}' % [routeSel, routeArgs] +
      ' The route holding the most workers is {{ label "route" . }}: {{ value . }} busy' +
      '{{ with printf `workerpool_route_oldest_running_task_age_seconds{%s,route=%%q}` %s (label "route" .) | query }}' % [routeSel, routeArgs] +
      ', its oldest request running for {{ first . | value | humanizeDuration }}{{ end }}.{{ end }}{{ end }}',
    local oldestCulprit =
      '{{ with printf `topk(1, workerpool_route_oldest_running_task_age_seconds{%s})` %s | query }}{{ with first . }}' % [routeSel, routeArgs] +
      ' The oldest running request is on route {{ label "route" . }} ({{ value . | humanizeDuration }})' +
      '{{ with printf `workerpool_route_busy_workers{%s,route=%%q}` %s (label "route" .) | query }}' % [routeSel, routeArgs] +
      ', which holds {{ first . | value }} of the busy workers{{ end }}.{{ end }}{{ end }}',

    // The load the forecast aims at, as a share of capacity: 100%, or less for a short
    // bounded queue, which rejects tasks before every worker is busy (rules.libsonnet).
    local stallLoad =
      '{{ with printf `%s{%s} / last_over_time(workerpool_max_workers{%s}[%s])` %s %s | query }} ({{ first . | value | humanizePercentage }} busy{{ if lt (first . | value) 1.0 }}, by which its bounded queue rejects tasks{{ end }}){{ end }}' % [n.stallTarget, routeSel, routeSel, c.rateWindow, routeArgs, routeArgs],

    // withRunbook adds the runbook_url every alert links to (kubernetes-mixin's idiom), so
    // the runbook anchor and the alert name cannot disagree.
    local withRunbook(a) = a {
      annotations+: { runbook_url: util.runbookURL(c.runbookURLPattern, a.alert) },
    },

    groups+: [{
      name: 'poolwatch.alerts',
      rules: std.map(withRunbook, [
        {
          alert: 'WorkerPoolExhaustionPredicted',
          // Level AND trend: a busy pool on a flat trend stays silent, and a steep trend on
          // an idle pool is no reason to page. Queueing theory: as utilization nears 100%
          // waits grow without bound, so reaching it is the stall to come. The trend is the
          // one of busy workers against the current capacity, not of the utilization: a pool
          // shrunk while running steps its utilization up, a trend that is not load.
          // Both windows: the rate window's level and trend, and the short window's (the load
          // now, a minute behind): a healthy surge to 75% that levelled off minutes ago still
          // climbs in the lagging rate window, not in the short one (config.libsonnet).
          // A failed read of the stats is not taken for the load now: a stats page served by
          // the pool it measures fails one read in four or five at a healthy 75% (10 workers),
          // nearly as often as at a climbing 80%, and a healthy surge then paged
          // (scenarios/cherrypy-stats-on-main-pool-surge; docs/forecast-design.md).
          // The load now must stand above the peaks healthy traffic holds by more than the
          // pool's own noise: a pool of few workers or long tasks reads 80-92% for minutes
          // at a healthy 78%, while the lagging trends still climb after a surge
          // (config.libsonnet, predictPeakLevel; scenarios/surge-4w-2s-15s-unbounded-hold).
          // The 5m reading passes a noisy ramp sooner, but only with the 2m one above
          // predictNowLevel too: it lags a load that has turned down, and alone it paged a quiet
          // pool whose 2m reading had fallen back below 80% after a spike (tests/noise-falling).
          // The trends aim at stallTarget, not the capacity: a short bounded queue overflows
          // on the arrivals' own fluctuation, and rejects its first task, before every worker
          // is busy (rules.libsonnet; mixin/scenarios/real, the q32 day).
          expr: |||
            %(util)s > %(predictLevel)s
            and
            (
              predict_linear(%(busyNow)s[%(predictWindow)s], %(predictHorizonSeconds)s) >= %(stallTarget)s
              and on (%(by)s)
              %(meanDuration)s / %(capacity)s < %(predictNowDurationPerWorker)s
              or
              predict_linear(%(busy)s[%(predictWindow)s], %(predictHorizonSeconds)s) >= %(stallTarget)s
            )
            and
            (
              (
                %(busyNow)s / %(capacity)s > on (%(by)s) group_left () %(nowGate)s
                or
                (
                  %(busy)s / %(capacity)s > on (%(by)s) group_left () %(rateGate)s
                  and
                  %(busyNow)s / %(capacity)s > %(predictNowLevel)s
                )
                or
                %(busyNow)s / %(capacity)s > %(predictNowLevel)s
                unless on (%(by)s)
                %(nowGate)s
              )
              and
              predict_linear(%(busyNow)s[%(predictNowTrendWindow)s], %(predictHorizonSeconds)s) >= %(stallTarget)s
            )
          ||| % f,
          'for': c.predictFor,
          labels: { severity: c.severityWarning },
          annotations: {
            summary: 'Worker pool is heading for exhaustion.',
            description: ('Pool {{ $labels.pool }} on {{ $labels.instance }} (job {{ $labels.job }}) is {{ $value | humanizePercentage }} utilized over the last %(rateWindow)s and its trend over the last %(predictWindow)s reaches the load it stalls at within %(predictHorizon)s' % f) + stallLoad + ('; over the last %(predictNowWindow)s it is more than %(predictNowLevelPercent)s%% utilized with a trend over the last %(predictNowTrendWindow)s that reaches that load too. Past it, tasks queue without bound or are rejected.' % f) + busyCulprit,
          },
        },
        {
          alert: 'WorkerPoolQueueFillingUp',
          // Bounded queues only: a pool that hands tasks straight to a worker reports a
          // capacity of 0, and callers blocked in its submit are no queue to fill.
          expr: |||
            workerpool_queued_tasks{%(p)s} / (workerpool_max_queued_tasks{%(p)s} > 0) > %(queueFillLevel)s
            and
            predict_linear(workerpool_queued_tasks{%(p)s}[%(predictWindow)s], %(predictHorizonSeconds)s)
              >= workerpool_max_queued_tasks{%(p)s}
          ||| % f,
          'for': c.queueFillFor,
          labels: { severity: c.severityWarning },
          annotations: {
            summary: 'Worker pool queue is filling up.',
            description: 'The queue of pool {{ $labels.pool }} on {{ $labels.instance }} (job {{ $labels.job }}) is {{ $value | humanizePercentage }} full and its trend over the last %(predictWindow)s fills it within %(predictHorizon)s; then tasks are rejected.' % f,
          },
        },
        {
          alert: 'WorkerPoolSaturated',
          // Sources without saturated_seconds (CherryPy) fall back on exact utilization.
          // Not where the rate window's utilization stands within the pool's own noise of the
          // peak healthy traffic holds (rateGate, as the forecast's): one worker of 10 s tasks
          // at 75%, or two of 30 s, is busy through a 5m window again and again by chance, and
          // paged within hours (docs/forecast-design.md, "WorkerPoolSaturated takes the same gate").
          expr: |||
            (
              %(sat)s > %(saturatedLevel)s
              or
              (
                %(util)s > %(saturatedLevel)s
                unless on (%(by)s)
                %(sat)s
              )
            )
            unless on (%(by)s)
            %(busy)s / %(capacity)s <= on (%(by)s) group_left () %(rateGate)s
          ||| % f,
          'for': c.saturatedFor,
          labels: { severity: c.severityWarning },
          annotations: {
            summary: 'Worker pool has had every worker busy most of the time.',
            description: ('Every worker of pool {{ $labels.pool }} on {{ $labels.instance }} (job {{ $labels.job }}) was busy {{ $value | humanizePercentage }} of the last %(rateWindow)s, for %(saturatedFor)s: new tasks wait for a worker.' % f) + busyCulprit,
          },
        },
        {
          alert: 'WorkerPoolExhausted',
          // Work is queued and: the head of the queue has waited too long (for the pool's own
          // task duration), or a bounded queue is full (the next task is rejected; a queue of
          // capacity 0 is no queue: a caller blocked in its submit is judged by its wait), or,
          // where the source reports no queue age (CherryPy), every worker was busy through
          // a window as long as the pool's tasks need (exact, from busy seconds over the mean
          // capacity; where the source has no busy seconds either, the busy gauge at every
          // scrape of the window). $value is always the number of tasks queued.
          expr: |||
            workerpool_queued_tasks{%(p)s} > 0
            and
            (
              workerpool_oldest_queued_task_age_seconds{%(p)s} > %(queueAgeLimit)s
              or
              workerpool_queued_tasks{%(p)s} >= (workerpool_max_queued_tasks{%(p)s} > 0)
              or
              (
                (
                  (
                    %(busySecondsAllBusy)s
                  )
                  or
                  (
                    (
                      %(sampledAllBusy)s
                    )
                    unless on (%(by)s)
                    present_over_time(workerpool_busy_seconds_total{%(p)s}[%(exhaustedWindow)s])
                  )
                )
                unless on (%(by)s)
                workerpool_oldest_queued_task_age_seconds{%(p)s}
              )
            )
          ||| % f { busySecondsAllBusy: busySecondsAllBusy, sampledAllBusy: sampledAllBusy },
          'for': c.exhaustedFor,
          keep_firing_for: c.exhaustedKeepFiringFor,
          labels: { severity: c.severityCritical },
          annotations: {
            summary: 'Worker pool is exhausted: queued tasks wait for a worker.',
            description: ('Pool {{ $labels.pool }} on {{ $labels.instance }} (job {{ $labels.job }}) has {{ $value }} tasks queued and no worker free for them: the oldest has waited more than %(exhaustedQueueAgeSeconds)ss (or %(exhaustedQueueAgeDurationFactor)s mean task durations over %(exhaustedMeanWindows)s, more on a pool of fewer than %(durationFactorWorkers)s workers), or the bounded queue is full, or (sources without a queue age) every worker was busy for %(exhaustedWindow)s, or as long as its task duration needs, up to %(exhaustedLongest)s (a sampled busy gauge: on every read, as many reads as its size needs).' % f { exhaustedLongest: rules.exhaustedLongestWindow(c) }) + busyCulprit,
          },
        },
        {
          alert: 'WorkerPoolStalled',
          // Work waits and nothing finishes: every worker is stuck. Nothing finished on any
          // series of the pool: after a deploy that changed a label, the new pod's first idle
          // minutes are not the old pod's queue going nowhere (tests/label-change.yaml).
          expr: |||
            min_over_time(workerpool_queued_tasks{%(p)s}[%(stalledWindow)s]) > 0
            and on (%(by)s)
            max by (%(by)s) (sum without (outcome) (increase(workerpool_tasks_completed_total{%(p)s}[%(stalledWindow)s]))) == 0
          ||| % f,
          'for': c.stalledFor,
          labels: { severity: c.severityCritical },
          annotations: {
            summary: 'Worker pool is stalled: tasks are queued and none completes.',
            description: 'Pool {{ $labels.pool }} on {{ $labels.instance }} (job {{ $labels.job }}) kept at least {{ $value }} tasks queued for %(stalledWindow)s and completed none.' % f,
          },
        },
        {
          alert: n.hungAlert,
          // A task running far longer than any task should is a worker lost to the pool;
          // a few more and the remaining ones cannot carry the load.
          // The limit grows with the pool's own task duration and its longest tasks, so a pool
          // of long or heavy-tailed tasks is not taken for hung (rules.libsonnet, hungLimit).
          expr: |||
            workerpool_oldest_running_task_age_seconds{%(p)s} > %(hungLimit)s
          ||| % f,
          'for': c.hungFor,
          labels: { severity: c.severityWarning },
          annotations: {
            summary: 'Worker pool has a task that has been running for too long.',
            description: ('The oldest task of pool {{ $labels.pool }} on {{ $labels.instance }} (job {{ $labels.job }}) has run for {{ $value | humanizeDuration }} (more than %(hungTaskAgeSeconds)ss, %(hungTaskDurationFactor)s mean task durations and %(hungTaskLongestFactor)s times its longest task that ended in the last %(taskDurationWindow)s): its worker is probably hung on a call without a timeout.' % f) + oldestCulprit,
          },
        },
        {
          alert: 'WorkerPoolTasksRejected',
          expr: |||
            sum without (reason) (rate(workerpool_tasks_rejected_total{%(p)s,reason=~"%(rejectedReasons)s"}[%(rateWindow)s]))
            /
            rate(workerpool_tasks_submitted_total{%(p)s}[%(rateWindow)s])
            > %(rejectedRatio)s
          ||| % f,
          'for': c.rejectedFor,
          labels: { severity: c.severityCritical },
          annotations: {
            summary: 'Worker pool rejects tasks.',
            description: 'Pool {{ $labels.pool }} on {{ $labels.instance }} (job {{ $labels.job }}) rejected {{ $value | humanizePercentage }} of the tasks submitted in the last %(rateWindow)s (reasons %(rejectedReasons)s).' % f,
          },
        },
        {
          alert: 'WorkerPoolQueueWaitBudgetBurnFast',
          expr: |||
            %(fastLong)s > %(fastThreshold)s
            and
            %(fastShort)s > %(fastThreshold)s
            and
            %(present)s
          ||| % f,
          'for': c.fastBurnFor,
          labels: { severity: c.severityCritical },
          annotations: {
            summary: 'Worker pool queue waits burn their error budget fast.',
            description: '{{ $value | humanizePercentage }} of the tasks of pool {{ $labels.pool }} on {{ $labels.instance }} (job {{ $labels.job }}) waited longer than the pool\'s objective ({{ with printf `%(waitObjective)s{job="%%s",instance="%%s",pool="%%s"}` $labels.job $labels.instance $labels.pool | query }}{{ . | first | value }}{{ end }}s; %(waitObjectiveSeconds)ss or %(waitObjectiveDurationFactor)s mean task durations, more on a pool of fewer than %(durationFactorWorkers)s workers) over the last %(fastBurnLongWindow)s, against an objective of %(objectivePercent)s%% within it: %(fastBurnFactor)sx the budget.' % f,
          },
        },
        {
          alert: 'WorkerPoolQueueWaitBudgetBurnSlow',
          expr: |||
            %(slowLong)s > %(slowThreshold)s
            and
            %(slowShort)s > %(slowThreshold)s
            and
            %(present)s
          ||| % f,
          'for': c.slowBurnFor,
          labels: { severity: c.severityWarning },
          annotations: {
            summary: 'Worker pool queue waits burn their error budget.',
            description: '{{ $value | humanizePercentage }} of the tasks of pool {{ $labels.pool }} on {{ $labels.instance }} (job {{ $labels.job }}) waited longer than the pool\'s objective ({{ with printf `%(waitObjective)s{job="%%s",instance="%%s",pool="%%s"}` $labels.job $labels.instance $labels.pool | query }}{{ . | first | value }}{{ end }}s; %(waitObjectiveSeconds)ss or %(waitObjectiveDurationFactor)s mean task durations, more on a pool of fewer than %(durationFactorWorkers)s workers) over the last %(slowBurnLongWindow)s, against an objective of %(objectivePercent)s%% within it: %(slowBurnFactor)sx the budget.' % f,
          },
        },
        {
          alert: 'WorkerPoolGoroutinesGrowing',
          // A leak climbs: its floor rises window after window and its trend doubles it.
          // go_goroutines has no pool label: the join gives it the process's pools.
          expr: |||
            (
              go_goroutines{%(g)s} > %(goroutinesMinimum)s
              and
              min_over_time(go_goroutines{%(g)s}[%(goroutinesWindow)s])
                > min_over_time(go_goroutines{%(g)s}[%(goroutinesWindow)s] offset %(goroutinesWindow)s)
              and
              predict_linear(go_goroutines{%(g)s}[%(goroutinesWindow)s], %(goroutinesHorizonSeconds)s)
                > 2 * go_goroutines{%(g)s}
            )
            * on (%(on)s) group_right ()
            group by (%(by)s) (workerpool_max_workers{%(p)s})
          ||| % f,
          'for': c.goroutinesFor,
          labels: { severity: c.severityWarning },
          annotations: {
            summary: 'Goroutines grow without bound in a process with a worker pool.',
            description: '{{ $labels.instance }} (job {{ $labels.job }}, pool {{ $labels.pool }}) runs {{ $value }} goroutines, its lowest count keeps rising and the trend of the last %(goroutinesWindow)s doubles it within %(goroutinesHorizon)s: tasks or their callers are leaking.' % f,
          },
        },
        {
          alert: 'WorkerPoolStatsSilentWhileSaturated',
          // A stats page served by the pool it measures cannot answer once that pool is
          // exhausted: silence right after saturation is the stall, not a gap in the data.
          // The pool label comes from the pool series of the recent past.
          expr: std.join('or\n', [saturatedBefore(w) for w in statsDownWindows]),
          'for': c.statsDownFor,
          labels: { severity: c.severityCritical },
          annotations: {
            summary: 'Pool stats stopped answering right after the pool was saturated.',
            description: 'The stats of {{ $labels.instance }} (job {{ $labels.job }}) have not been read for %(statsDownWindow)s or more (longer where its reads often failed before, to rule out chance), and pool {{ $labels.pool }} was {{ $value | humanizePercentage }} busy within %(recentWindow)s before: it is most likely exhausted and cannot serve its own stats page.' % f,
          },
        },
        {
          alert: 'WorkerPoolStatsSilent',
          // Without the stats the other alerts go blind; a stats page served by its own pool
          // also goes silent when a sudden burst exhausts the pool between two scrapes.
          expr: |||
            max_over_time(workerpool_max_workers{%(p)s}[%(statsSilentLookback)s])
            and on (%(on)s)
            %(statsDown)s
          ||| % f,
          'for': c.statsSilentFor,
          labels: { severity: c.severityWarning },
          annotations: {
            summary: 'Pool stats stopped answering.',
            description: 'The stats of {{ $labels.instance }} (job {{ $labels.job }}) have not been read for %(statsDownWindow)s or more (longer where its reads often failed before, to rule out chance); pool {{ $labels.pool }} ({{ $value }} workers) is not watched any more, and if its stats page is served by the pool itself, the pool is probably exhausted.' % f,
          },
        },
      ]),
    }],
  },
} + {
  // The exporter's own health, apart from the pool alerts above. Its knobs are _config fields
  // like every other, overridden the same way; they default here so that this group stays
  // in one place.
  _config+:: {
    // Selects poolwatch_exporter's own /metrics job.
    exporterSelector: 'job!=""',
    // A failed reload of --config.file (warning) for this long: the exporter keeps probing
    // with the configuration it loaded last, so an edit that never took effect is found.
    exporterReloadFailedFor: '5m',
  },

  prometheusAlerts+:: {
    local c = $._config,
    groups+: [{
      name: 'poolwatch.exporter',
      rules: [
        {
          alert: 'PoolwatchExporterConfigReloadFailed',
          expr: |||
            poolwatch_exporter_config_last_reload_successful{%(exporterSelector)s} == 0
          ||| % c,
          'for': c.exporterReloadFailedFor,
          labels: { severity: c.severityWarning },
          annotations: {
            summary: 'poolwatch_exporter could not reload its configuration.',
            description: 'poolwatch_exporter on {{ $labels.instance }} (job {{ $labels.job }}) failed to load its --config.file at the last reload (poolwatch_exporter_config_last_reload_successful is {{ $value }}) for %(exporterReloadFailedFor)s; it keeps probing with the configuration it loaded last. Its log says why.' % c,
            runbook_url: util.runbookURL(c.runbookURLPattern, 'PoolwatchExporterConfigReloadFailed'),
          },
        },
      ],
    }],
  },
}
