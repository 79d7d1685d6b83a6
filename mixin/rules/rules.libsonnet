// Recording rules shared by the alerts and the dashboards, named level:metric:operations. The
// level is `pool`: every rule keeps job, instance and pool (and any constant labels a user
// added). Names carry their window, formatted from _config, so that overridden windows show.
local util = import '../lib/util.libsonnet';

{
  // The names of the recorded series, one place for the alerts and dashboards to read.
  names(c):: {
    utilization: 'pool:workerpool_utilization:ratio_rate%s' % c.rateWindow,
    saturation: 'pool:workerpool_saturation:ratio_rate%s' % c.rateWindow,
    throughput: 'pool:workerpool_tasks_completed:rate%s' % c.rateWindow,
    queueGrowth: 'pool:workerpool_queued_tasks:deriv%s' % c.rateWindow,
    waitQuantile(q):: 'pool:workerpool_task_wait_seconds:p%s_rate%s' % [q, c.rateWindow],
    waitOverObjective(w):: 'pool:workerpool_task_wait_seconds:over_objective_ratio_rate%s' % w,
  },

  // The windows of the objective ratios: the burn-rate alerts' four and the dashboards' one.
  objectiveWindows(c)::
    std.set([c.rateWindow, c.fastBurnShortWindow, c.fastBurnLongWindow,
             c.slowBurnShortWindow, c.slowBurnLongWindow], util.seconds),

  prometheusRules+:: {
    local c = $._config,
    local n = $.names(c),
    local p = c.poolSelector,
    groups+: [{
      name: 'poolwatch.rules',
      rules: [
        {
          // Exact mean of busy workers over capacity: rate() of the busy-seconds integral
          // counts every task, also the ones still running, where the busy gauge samples one
          // instant per scrape. max_over_time keeps the ratio alive for a window after a
          // source stops answering, so "was it saturated just before?" can still be asked.
          // Recorded only once the series is a window old: over a partial window rate() of a
          // new counter climbs from 0, a trend the exhaustion forecast would extrapolate.
          record: n.utilization,
          expr: |||
            rate(workerpool_busy_seconds_total{%(p)s}[%(w)s])
            /
            max_over_time(workerpool_max_workers{%(p)s}[%(w)s])
            and
            present_over_time(workerpool_busy_seconds_total{%(p)s}[%(w)s] offset %(w)s)
          ||| % { p: p, w: c.rateWindow },
        },
        {
          // Fraction of the time every worker was busy (sources with saturated_seconds only).
          record: n.saturation,
          expr: 'rate(workerpool_saturated_seconds_total{%s}[%s])' % [p, c.rateWindow],
        },
        {
          // Tasks finished per second, every outcome: the pool's progress.
          record: n.throughput,
          expr: 'sum without (outcome) (rate(workerpool_tasks_completed_total{%s}[%s]))' % [p, c.rateWindow],
        },
        {
          // Queue growth in tasks per second: above 0 for a while means arrivals exceed service.
          record: n.queueGrowth,
          expr: 'deriv(workerpool_queued_tasks{%s}[%s])' % [p, c.rateWindow],
        },
      ] + [
        {
          record: n.waitQuantile(q),
          expr: 'histogram_quantile(0.%s, rate(workerpool_task_wait_seconds_bucket{%s}[%s]))' % [q, p, c.rateWindow],
        }
        for q in ['50', '90', '99']
      ] + [
        {
          // Fraction of tasks that waited longer than the objective: the bad events of the
          // queue-wait SLO, exact because the objective is a bucket boundary. No tasks, no
          // ratio (rather than 0/0).
          record: n.waitOverObjective(w),
          expr: |||
            1 - (
              sum without (le) (rate(workerpool_task_wait_seconds_bucket{%(p)s,%(le)s}[%(w)s]))
              /
              (rate(workerpool_task_wait_seconds_count{%(p)s}[%(w)s]) > 0)
            )
          ||| % { p: p, w: w, le: util.leMatcher(c.waitObjectiveSeconds) },
        }
        for w in $.objectiveWindows(c)
      ],
    }],
  },
}
