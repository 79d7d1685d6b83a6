// The few Grafana building blocks the two dashboards need, written here instead of vendoring
// grafonnet (jb cannot reach GitHub). They follow grafana/dashboard-linter's rules: every panel
// reads the `datasource` variable and carries a unit and a description; every target uses
// $__rate_interval and the job, instance and pool variables (lint_test.go checks both).
{
  local ds = { type: 'prometheus', uid: '${datasource}' },

  // sel is the selector every query starts from.
  sel:: 'job=~"$job", instance=~"$instance", pool=~"$pool"',

  target(expr, legend, refId='A', format='time_series'):: {
    datasource: ds,
    expr: expr,
    legendFormat: legend,
    refId: refId,
    format: format,
  },

  local targets(ts) = [ts[i] { refId: std.char(65 + i) } for i in std.range(0, std.length(ts) - 1)],

  timeseries(title, description, unit, ts, stack=false, min=null, max=null):: {
    type: 'timeseries',
    title: title,
    description: description,
    datasource: ds,
    targets: targets(ts),
    fieldConfig: {
      defaults: {
        unit: unit,
        [if min != null then 'min']: min,
        [if max != null then 'max']: max,
        custom: {
          lineWidth: 1,
          fillOpacity: if stack then 20 else 0,
          stacking: { mode: if stack then 'normal' else 'none' },
          showPoints: 'never',
        },
      },
      overrides: [],
    },
    options: {
      legend: { showLegend: true, displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'max'] },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  },

  // A heatmap of a histogram: the classic buckets (le as the y axis) and, for a Prometheus
  // that stores only native histograms, the native one; each query is empty where the other
  // holds the data.
  heatmap(title, description, unit, expr, nativeExpr):: {
    type: 'heatmap',
    title: title,
    description: description,
    datasource: ds,
    targets: targets([$.target(expr, '{{le}}', format='heatmap'), $.target(nativeExpr, 'native', format='heatmap')]),
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
    options: {
      calculate: false,
      yAxis: { unit: unit },
      cellGap: 1,
      color: { mode: 'scheme', scheme: 'Oranges', steps: 64, fill: 'dark-orange', exponent: 0.5, reverse: false },
      showValue: 'auto',
      legend: { show: true },
      exemplars: { color: 'rgba(255,0,255,0.7)' },
      rowsFrame: { layout: 'auto' },
      tooltip: { mode: 'single', yHistogram: false },
    },
  },

  table(title, description, unit, ts):: {
    type: 'table',
    title: title,
    description: description,
    datasource: ds,
    targets: targets([t { format: 'table', instant: true } for t in ts]),
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
    options: { showHeader: true, frameIndex: 0 },
    transformations: [{ id: 'organize', options: { excludeByName: { Time: true, Value: true, __name__: true, alertstate: true } } }],
  },

  // Lays panels out two per row, 12 units wide and 8 high, and numbers them.
  grid(panels):: [
    panels[i] {
      id: i + 1,
      gridPos: { x: (i % 2) * 12, y: std.floor(i / 2) * 8, w: 12, h: 8 },
    }
    for i in std.range(0, std.length(panels) - 1)
  ],

  local queryVar(name, label, query) = {
    name: name,
    label: label,
    type: 'query',
    datasource: ds,
    query: { query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    definition: query,
    refresh: 2,  // on time range change: pools come and go
    includeAll: true,
    allValue: '.*',
    multi: true,
    sort: 1,
    current: { selected: true, text: ['All'], value: ['$__all'] },
    hide: 0,
  },

  templating(c):: {
    list: [
      {
        name: 'datasource',
        label: 'Data source',
        type: 'datasource',
        query: 'prometheus',
        current: { selected: false, text: 'default', value: 'default' },
        hide: 0,
        refresh: 1,
        regex: '',
      },
      queryVar('job', 'job', 'label_values(workerpool_max_workers{%s}, job)' % c.poolSelector),
      queryVar('instance', 'instance', 'label_values(workerpool_max_workers{%s, job=~"$job"}, instance)' % c.poolSelector),
      queryVar('pool', 'pool', 'label_values(workerpool_max_workers{%s, job=~"$job", instance=~"$instance"}, pool)' % c.poolSelector),
    ],
  },

  dashboard(c, file, title, description, panels, links=[]):: {
    uid: c.dashboardUIDs[file],
    title: title,
    description: description,
    tags: c.dashboardTags,
    timezone: c.dashboardTimezone,
    refresh: c.dashboardRefresh,
    time: { from: c.dashboardTimeFrom, to: 'now' },
    editable: false,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    links: links,
    templating: $.templating(c),
    annotations: { list: [] },
    panels: $.grid(panels),
  },
}
