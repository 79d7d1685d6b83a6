// Every knob of the mixin lives here: selectors, thresholds, windows, `for` durations,
// severities, the runbook URL pattern and the dashboards' tags and uids. The rules and
// dashboards format themselves from these fields and hard-code none of them, so that a user
// (or the end-to-end test, which shrinks every window) overrides them in one place:
//   (import 'mixin.libsonnet') + { _config+:: { rateWindow: '1m' } }
// Durations are Prometheus duration strings of ONE unit ('30s', '5m', '1h').
{
  _config+:: {
    // Selectors added to every query of a series family. They select the jobs that expose
    // workerpool_* series, the exporter's poolwatch_up and Prometheus's own `up` of the
    // targets that serve pool series (upSelector: a Go process whose /metrics is served by a
    // pool it measures is read through `up`), and the Go runtime series.
    poolSelector: 'job!=""',
    upSelector: 'job!=""',
    goSelector: 'job!=""',

    // The labels that identify one pool; every alert keeps them. poolwatch_up and go_* have
    // no pool label, so they join the pool series on the instance labels.
    instanceLabels: ['job', 'instance'],
    poolLabels: ['job', 'instance', 'pool'],

    // rate() window of the recording rules the alerts and dashboards share (utilization,
    // saturation, throughput, queue growth, wait quantiles). 5m holds enough samples under
    // both Prometheus 2 and 3 even with a 1m scrape interval.
    rateWindow: '5m',

    // Render every range of the rules one millisecond short ([5m] as [4m59s999ms]), so that
    // Prometheus 2, whose ranges include a sample exactly one window old, and 3, whose ranges do
    // not, select the same samples and give the same answers (lib/util.libsonnet, sameRanges).
    // With Prometheus 3 alone, false gives the same answers and plainer rules.
    sameRanges: true,

    // Exhaustion predicted (warning): utilization above predictLevel AND the linear trend of
    // the last predictWindow says it reaches 100% within predictHorizon, for predictFor. The
    // level keeps a forecast alone from paging; the trend keeps a busy, steady pool silent.
    predictLevel: 0.7,
    predictWindow: '10m',
    predictHorizon: '15m',
    predictFor: '1m',
    // ...and the pool is that busy NOW and still climbing: utilization over the short
    // predictNowWindow above predictNowLevel, and the trend of that short rate over
    // predictNowTrendWindow also reaches 100% within predictHorizon. A 5m rate lags the load by
    // 2.5 minutes and its 10m trend keeps climbing for minutes after the load stopped: real
    // traffic lifting a healthy pool from 30% to 75-78% busy in a few minutes and holding there
    // looks, through it alone, like a ramp to exhaustion (mixin/scenarios/surge-*). The short
    // window lags one minute; its level sits above the peaks healthy surges reach, and its
    // own trend flattens within minutes of the load levelling off.
    predictNowWindow: '2m',
    predictNowLevel: 0.8,
    predictNowTrendWindow: '5m',
    // The 10m trend is also read on the short window's series, which lags 1.5 minutes less
    // than the rate window's and so reaches 100% a minute or more sooner on a ramp (single
    // worker +3.6 -> +8.6 m, slow-ramp +19 -> +26 m), but only where that window is quiet. The
    // busy fraction of c workers over a window W, for tasks of mean duration d arriving at
    // random, has a sampling noise of about sqrt(u * d / (c * W)) (arrivals in W are Poisson):
    // 1% on 16 workers of 0.2 s tasks, 6% on 4 workers of 2 s, 17% on 8 workers of 60 s. So
    // that trend counts only where d / c (the pool's mean task duration per worker, over
    // taskDurationWindow) is under predictNowNoise^2 * W (0.3 s for 5% on 2m); noisier pools,
    // and sources without a duration histogram, keep the rate window's trend alone (a 60 s
    // batch pool 45% busy paged on the short one). Test classes, not cases: the bound is a
    // noise level, not a scenario's threshold.
    predictNowNoise: 0.05,
    // The level gates rise with the pool's own noise, measured. A healthy pool's load wanders
    // around its mean by chance (arrivals are random, tasks take long): on 4 workers of 2 s
    // tasks the 2m utilization of a pool at 78% reads 80-92% for minutes, and right after a
    // surge, while the lagging trends still climb, that alone paged. So the 2m utilization
    // must exceed predictPeakLevel plus predictNoiseSigmas times its own noise, and at least
    // predictNowLevel; or the 5m utilization the same with its own noise, which a noisy pool
    // passes sooner, with the 2m one above predictNowLevel (the 5m reading lags a falling
    // load). predictPeakLevel is the load healthy traffic lifts a pool to and holds (real
    // request-rate traces lift pools from 30% to 75% within minutes, several times a day).
    // Three sigmas above it a reading is no chance: a pool held there for hours reads dozens
    // of independent 2m windows, among which two sigmas come by chance and three seldom. The
    // noise is measured, not modelled (any task shape, any scrape interval): the median, over
    // predictNoiseWindow, of the second difference of the busy workers a window apart,
    // |b(t) - 2b(t-W) + b(t-2W)|, which a steady trend leaves at 0 and a load that turns
    // moves only at the turn; for independent windows it is 0.6745 * sqrt(6) sigma. Each turn
    // is divided by the square root of its busy workers and the median multiplied back at
    // predictPeakLevel (chance noise grows as the square root of the load): a pool that surged
    // from 30% is judged by its noise at 75%, not by the smaller one of its quieter hour. Quiet
    // pools (sigma under 1.7%, e.g. 16 workers of 0.2 s tasks at 1%) keep 80% and their
    // leads. Sources with a sampled busy gauge (PHP-FPM, uWSGI, Apache, Puma, Tomcat) have no
    // measured noise: their 2m mean of 4-8 reads is noisy by sampling (11% on 8 PHP-FPM
    // children), which would lift the gate past the load their ramps must be warned at; they
    // take the chance bound alone (alerts.libsonnet, noiseOf; docs/forecast-design.md).
    predictPeakLevel: 0.75,
    predictNoiseSigmas: 3,
    // The most noise chance can make, as a multiple of the Poisson noise u * d / (c * W) of
    // tasks of one fixed duration: 1 + cv^2 for task durations of coefficient of variation cv.
    // 4 allows cv up to 1.7 (lognormal durations of shape 1 have 1.3) and arrivals somewhat
    // burstier than Poisson; a measured noise above it is structure in the load (bursts),
    // not chance, and does not lift the gate (alerts.libsonnet, noiseOf).
    predictNoiseChanceFactor: 4,
    // The least noise chance makes, as a multiple of the variance of a W-window average of
    // Poisson arrivals of tasks of one fixed duration d (M/D/inf): u / c * d / W * (1 - d / 3W)
    // for d <= W, u / c * (1 - W / 3d) beyond; any spread of durations makes more. A measured
    // noise under it is a median of too few independent windows reading low, or noise
    // measured on shorter tasks than the pool runs now, not a quieter pool; the gate takes the
    // floor instead (alerts.libsonnet, noiseOf). 0 turns the floor off; at most
    // predictNoiseChanceFactor. Arrivals smoother than Poisson (a fixed set of clients, each
    // waiting for its answer) are quieter than the floor: their ramps are warned later than
    // their noise allows. Where the floor alone lifts a gate past 100% a pool gets no forecast
    // and no WorkerPoolSaturated, whatever its noise: for tasks short against the window, d / c
    // over 1.1 s (2m) lifts one gate, over 2.8 s (5m) both (4 workers of 12 s tasks, 16 of
    // 50 s); from 108 workers on the floor alone never does (its variance is at most u / c).
    predictNoiseChanceFloorFactor: 1,
    predictNoiseWindow: '1h',
    // Second differences the noise needs before it counts; until then the chance bound alone
    // (alerts.libsonnet, noiseOf), and the plain level gate where no task finished.
    predictNoiseMinSamples: 10,

    // A bounded queue filling up (warning): more than queueFillLevel of its capacity and the
    // trend of predictWindow reaches capacity within predictHorizon.
    queueFillLevel: 0.25,
    queueFillFor: '2m',

    // Exhaustion predicted, behind a bounded queue: a queue of K tasks
    // (workerpool_max_queued_tasks > 0) behind c workers rejects its first task before every
    // worker is busy: arrivals bunch up by chance and overflow it, the sooner the smaller K. The forecast aims at that load instead of 100%
    // (rules.libsonnet, stallTarget): the utilization at which the pool is expected to reject
    // about one task per queueOverflowInterval. Queueing theory (M/M/c/K): once every worker
    // is busy, the queue holds n or more tasks with a probability falling like rho^n, so an
    // arriving task finds it full with a probability of about (1 - rho) rho^K; at the pool's
    // full rate of tasks lambda (c / mean task duration), rejections come once per
    // 1 / (lambda (1 - rho) rho^K) seconds. queueVariability is Kingman's (Ca^2 + Cs^2) / 2,
    // the arrivals' and task durations' squared coefficients of variation: queues of regular
    // tasks (lower) are shorter, so K stretches to K / queueVariability. 1 is Poisson arrivals
    // and exponential task durations, the textbook M/M/c; real traffic is rarely more regular.
    // Unbounded queues and pools with no queue (K = 0: callers blocked or turned away at
    // once, the Erlang-B pool, which rejects by design) keep 100%. So does a pool whose queue
    // overflows below queueOverflowFloor (the level the forecast's gates already require):
    // its queue is too short for the arrivals' fluctuation at loads the rules take for
    // healthy, so no forecast can page before its first rejection without paging it when it
    // is healthy; like the pool without a queue, it is left to WorkerPoolTasksRejected.
    // The target is never below queueOverflowTargetMin: a pool sitting at the forecast's 80%
    // gate (predictNowLevel) must still trend up most of the way to capacity, as it had to all
    // the way without a queue. A target just above the gate left the trend conditions nothing
    // to ask, and the 2m rate's noise paged healthy pools steady at 76-78% that never rejected
    // a task (scenarios/bounded-32w-1s-q32-steady-76: target 83%); at 90% the noisier ones
    // still paged (sampled busy gauges: scenarios/phpfpm-bounded-16w-400ms-q32-steady-76,
    // uwsgi-bounded-16w-400ms-q32-steady-76; 8 workers of 2 s: bounded-8w-2s-q32-steady-76).
    queueOverflowInterval: '1m',
    queueVariability: 1,
    queueOverflowFloor: 0.8,
    queueOverflowTargetMin: 0.95,

    // Sustained saturation (warning): every worker busy more than saturatedLevel of the time
    // (utilization above it where the source has no saturated_seconds), for saturatedFor.
    saturatedLevel: 0.9,
    saturatedFor: '5m',

    // Pool exhausted (critical): the task at the head of the queue has waited more than
    // exhaustedQueueAgeSeconds, or a bounded queue is full; where the source has no queue age,
    // work is queued and utilization over exhaustedWindow reached exhaustedUtilization. Each
    // condition already spans time (a wait, a window), hence no `for` by default.
    exhaustedQueueAgeSeconds: 10,
    // ...or more than exhaustedQueueAgeDurationFactor times the pool's own mean task duration
    // (over taskDurationWindow, or over exhaustedDurationWindow where that is longer),
    // whichever is longer: a batch pool whose tasks take 30 s routinely has a task at the head
    // of its queue for longer than 10 s.
    exhaustedQueueAgeDurationFactor: 10,
    // A pool whose tasks changed (web requests of 20 ms by day, jobs of 5 s at night) holds its
    // queue as long as the tasks it runs now, hours before a 6-hour mean knows them: 4 workers
    // of 5 s tasks at 75% have a task wait 12 s now and then, past 10 mean durations of a
    // 6-hour mix that is mostly 20 ms. So the queue age takes the longer of the long mean and
    // the mean over exhaustedDurationWindow as it was when the queue last read empty (at a rule
    // evaluation, within exhaustedDurationLookback), where the window held at least
    // exhaustedDurationMinTasks tasks. The short window follows a change within a minute or
    // two: in one of 17 simulated draws of such a pool a queue of 16 formed three minutes into
    // the change, under a 5m mean still half made of the short tasks.
    // A stall does not raise its own limit while work keeps arriving: its queue does not read
    // empty, so the tasks it slowed do not enter the mean the limit reads; a failed read is
    // not an empty queue, a window holding a restart (which empties the queue) is left out,
    // and past the lookback the long mean alone is left. A slow dependency that slows the
    // tasks while the pool still copes (its queue still empties) does raise it, as a change
    // of tasks would: if the pool then tips into overload, its queue head must pass 10 of the
    // slower durations, as must a stall whose arrivals paused long enough to drain its queue
    // (a review's 16 workers whose tasks went from 0.2 to 6 s at 75%, then 8.4 s at 105%,
    // were paged 11 minutes later than under the long mean alone). The warnings do not read
    // it, and the wait objective and the hung-task limit keep the long mean.
    // The minimum keeps a pool finishing a task a minute from having its limit set by one
    // long task; it counts tasks as rate() extrapolates them over the window (at a 1m scrape,
    // 10 in the minute between the window's two reads). At a scrape interval of the window or
    // longer the rate has no two reads, nothing is recorded and the long mean alone is used:
    // set the window to twice the interval. Set it to taskDurationWindow to use the long
    // mean alone. (Prometheus 2 with native histograms enabled stores them alone, and its
    // resets() does not read them: the restart guard needs Prometheus 3 there.)
    exhaustedDurationWindow: '2m',
    exhaustedDurationLookback: '30m',
    exhaustedDurationMinTasks: 20,
    // A pool of few workers holds its queue longer at the same load: in an M/M/c pool the wait
    // tail falls by a factor e for every 1 / (c * (1 - rho)) task durations, four times
    // slower on one worker than on four. The duration factors here and of the wait objective
    // below are set for pools of durationFactorWorkers workers or more; a pool of c fewer has
    // them multiplied by durationFactorWorkers / c, which keeps the same odds of a healthy
    // pool passing them at the same load (one worker of 2 s tasks at 75% had a task at the
    // head of its queue for 20 s within three hours, and waited past 10 s, its objective,
    // for more than 1% of its tasks; mixin/README.md).
    durationFactorWorkers: 4,
    exhaustedUtilization: 0.99,
    exhaustedWindow: '2m',
    // A sampled busy gauge (no busy seconds) that reads every worker busy on every read of
    // exhaustedWindow may be a healthy pool read at its busy instants: a pool of c workers at
    // exhaustedSampledLevel has them all busy at a read with the Erlang C probability (0.51 on 4
    // workers at 75%, 0.21 on 16, 0.75 on one), and eight reads in 2m all busy came once in
    // four hours to healthy PHP-FPM, uWSGI and Puma pools of 4 workers of 3 s tasks at 74%,
    // paged critical. The gauge branch needs as many reads, all busy, as make that chance
    // under exhaustedSampledChance per read (21 reads on 4 workers, 9 on 16, 49 on one:
    // rules.libsonnet, exhaustedReads); it looks back over exhaustedWindow, then 1.5, 2, 3,
    // 4, 6 and 8 times it, for the shortest window that holds them: scraped every 15 s, 2-3m
    // from 16 workers on, 6m on 4, 8m on 2, 16m on one (its 49 reads are one more than 12m
    // holds); scraped every minute, a pool of fewer than 6 workers is paged after 16m
    // (exhaustedSampledMinReads). That chance holds
    // for reads that are independent, as of tasks short against the scrape interval; a pool
    // of long tasks stays all busy across many reads at a stretch. So the window must also be
    // as long as a healthy pool's all-busy stretch can be by the same chance, per stretch
    // (rules.libsonnet, exhaustedSpan: the busy period of M/M/1, 421 mean task durations per
    // worker at 75%): 35 minutes on 4 workers of 20 s tasks, which were paged within hours,
    // so the longest window alone, which counts only a series read all through it; 5
    // minutes on 4 of 3 s; nothing on short tasks. CherryPy's exact branch (exhaustedUtilization
    // of busy seconds over exhaustedWindow) takes the same span over the same windows: 10
    // threads of 10 s requests at 75% are all busy for 2m every three hours. The mean
    // task duration is Little's (busy workers over the request rate); a pool that counts
    // no requests is judged by its reads alone. Sources with busy seconds or a queue age
    // are judged by those, not by reads; Apache and Tomcat report no queue, so this branch is
    // PHP-FPM's, uWSGI's and Puma's.
    exhaustedSampledChance: 1e-6,
    // The healthy peak load that chance is taken at (its own knob: predictPeakLevel is the
    // forecast's), between 0 and 1; at 0.9 one worker needs 132 reads.
    exhaustedSampledLevel: 0.75,
    // The reads the longest window (exhaustedWindow x 8) needs at most: a pool read too seldom
    // for its size there is paged once every read of it found every worker busy, by a chance
    // of 0.51^16 (2e-5) a read for 4 workers scraped every minute.
    exhaustedSampledMinReads: 8,
    exhaustedFor: '0s',
    // How long the critical keeps firing after the condition last held: a pool at the edge
    // hovers around "queue full" and would otherwise page, resolve and page again.
    exhaustedKeepFiringFor: '5m',

    // Pool stalled (critical): work queued and not one task completed in stalledWindow.
    stalledWindow: '5m',
    stalledFor: '1m',

    // Hung workers (warning): a task has run longer than hungTaskAgeSeconds.
    hungTaskAgeSeconds: 120,
    // ...or more than hungTaskDurationFactor times the pool's mean task duration, whichever is
    // longer, so that a pool of long tasks is judged against its own durations.
    hungTaskDurationFactor: 20,
    // A source without a duration histogram (every exporter source) takes the mean by
    // Little's law, busy workers over requests finished per second, at its least over this
    // window: a hung request counts among the busy workers and would raise it as it ages.
    // Longer than hungTaskDurationFactor mean durations (as it is for requests under 3
    // minutes), so that a hang is paged before it leaves the window; for longer ones on a pool
    // finishing fewer than 20 requests in taskDurationWindow, the limit follows the hang's own
    // rise once it has outlived this window.
    hungTaskDurationWindow: '1h',
    // ...or more than hungTaskLongestFactor times the longest task the pool finished in
    // taskDurationWindow (one that ended before it could be paged as hung): a mean does not
    // tell a heavy tail, and a healthy pool of tasks of cv 1.3 runs one past 20 means a few
    // times a day.
    hungTaskLongestFactor: 2,
    hungFor: '1m',

    // Rejections (critical): more than rejectedRatio of submitted tasks rejected for lack of
    // room (queue_full) or time (timeout) over rateWindow. canceled and closed are the
    // caller's or the owner's decision, not exhaustion.
    rejectedReasons: 'queue_full|timeout',
    rejectedRatio: 0.01,
    rejectedFor: '1m',

    // Queue-wait objective: waitObjectiveTarget of tasks start within waitObjectiveSeconds
    // (a bucket boundary of the contract). Multi-window, multi-burn-rate alerts as in the SRE
    // workbook: critical when both fast windows burn faster than fastBurnFactor, warning when
    // both slow windows burn faster than slowBurnFactor.
    //
    // The objective fits each pool: a task of a pool whose tasks run long may wait longer.
    // A pool's threshold is waitObjectiveSeconds, or waitObjectiveDurationFactor times its
    // mean task duration over taskDurationWindow if that is longer (times
    // durationFactorWorkers / c on a pool of c fewer workers), rounded up to the next of
    // waitObjectiveBoundaries (bucket boundaries of the contract, so the ratio stays exact on
    // classic buckets). Queueing theory backs the factor: in an M/M/c pool the wait tail
    // scales with the service time, P(wait > k*S) = C(c, a) * exp(-(c - a) * k), so a wait
    // of 5 task durations is rare on four workers or more below ~75% busy, whatever its
    // tasks' length, and of 20 on one worker. A pool whose threshold would pass the largest
    // boundary (60 s: one worker of tasks over 3 s, four of tasks over 12 s) has no
    // objective and no burn-rate alerts: its histogram cannot tell a wait that fits its
    // tasks from one that does not; WorkerPoolExhausted still judges its queue's age.
    // waitObjectives pins the threshold of chosen pools instead: a list of
    //   { selector: 'pool="batch"', seconds: '30' }
    // (selector: label matchers added to poolSelector; seconds: one of the boundaries); the
    // first entry matching a pool wins.
    waitObjectiveSeconds: '1',
    waitObjectiveDurationFactor: 5,
    waitObjectiveBoundaries: ['1', '2.5', '5', '10', '30', '60'],
    waitObjectives: [],
    waitObjectiveTarget: 0.99,
    // Window of the mean task duration the relative thresholds above are built on: long, so
    // that the thresholds hold still while a slow dependency makes tasks slower.
    taskDurationWindow: '6h',
    fastBurnShortWindow: '5m',
    fastBurnLongWindow: '1h',
    fastBurnFactor: 14.4,
    fastBurnFor: '2m',
    slowBurnShortWindow: '30m',
    slowBurnLongWindow: '6h',
    slowBurnFactor: 6,
    slowBurnFor: '15m',

    // Goroutines growing without bound (warning): more than goroutinesMinimum, the lowest
    // count of the last goroutinesWindow above the lowest of the window before it, and the
    // trend doubling the count within goroutinesHorizon, for goroutinesFor.
    goroutinesMinimum: 100,
    goroutinesWindow: '1h',
    goroutinesHorizon: '4h',
    goroutinesFor: '30m',

    // Stats silent while saturated (critical): poolwatch_up was 0 at every read of
    // statsDownWindow (or longer, below) and the pool was saturated (utilization above statsDownLevel, or every
    // worker busy) within recentWindow. A CherryPy stats page served by its own pool goes
    // silent exactly when that pool is exhausted.
    statsDownWindow: '2m',
    statsDownLevel: 0.9,
    recentWindow: '10m',
    statsDownFor: '0s',
    // Stats silent (warning): the same silence without saturation seen before it; the pool
    // label comes from the pool's series within statsSilentLookback. A stats page served by
    // its own pool can go silent before a scrape ever saw the pool saturated (a sudden burst).
    statsSilentLookback: '1h',
    statsSilentFor: '0s',
    // Both: the silence counts once a healthy target would fail that many reads in a row
    // with a chance under statsDownChance, from its share of failed reads over the
    // statsSilentLookback before (alerts.libsonnet, statsDownOver). The windows are fixed, so the
    // silence that counts is the first window whose every read failed and whose count of reads
    // passes the bound: for a pool at a steady 75% that fails one read in three (eleven reads
    // or more), the 5m window at a 15 s scrape (20 reads), the 20m window at 1 m; a target that
    // never failed a read counts after the 2m window, as before.
    statsDownChance: 1e-5,

    // Severities: warning pages before the stall, critical at it; info is never routed.
    severityWarning: 'warning',
    severityCritical: 'critical',

    // runbook_url of every alert: the pattern's %s is the alert name in lower case.
    runbookURLPattern: 'https://github.com/poolwatch/poolwatch/blob/main/docs/runbooks.md#%s',

    // Dashboards.
    dashboardTags: ['poolwatch'],
    dashboardTimezone: 'utc',
    dashboardRefresh: '30s',
    dashboardTimeFrom: 'now-3h',
    dashboardUIDs: {
      'poolwatch-overview.json': 'poolwatch-overview',
      'poolwatch-pool.json': 'poolwatch-pool',
    },
  },
}
