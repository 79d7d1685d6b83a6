// Small helpers shared by the rules and dashboards. Written here rather than vendored: jb
// cannot reach GitHub from the build machines, and the mixin needs only these few.
{
  // seconds('15m') == 900: predict_linear and thresholds take seconds, while _config keeps
  // Prometheus duration strings so that users read and write one unit everywhere.
  seconds(d)::
    local units = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
    local unit = if std.endsWith(d, 'ms') then 'ms' else d[std.length(d) - 1];
    local num = std.substr(d, 0, std.length(d) - std.length(unit));
    if !std.objectHas(units, unit) then error 'duration %s: want one unit of ms, s, m, h, d, w' % d
    else std.parseJson(num) * units[unit],

  // duration(300) == '5m': a Prometheus duration of one unit for a number of seconds.
  duration(secs)::
    if secs % 3600 == 0 then '%dh' % (secs / 3600)
    else if secs % 60 == 0 then '%dm' % (secs / 60)
    else if secs == std.floor(secs) then '%ds' % secs
    else '%dms' % std.round(secs * 1000),

  // 'job, instance, pool' for by(...) and on(...) clauses.
  labelList(labels):: std.join(', ', labels),

  // A classic-histogram le matcher for a boundary given as a string ('1', '0.25'): Prometheus
  // 3 normalises le="1" to le="1.0" at scrape time while 2.x and promtool tests keep "1", so
  // the regex matches both spellings.
  leMatcher(boundary)::
    'le=~"%s(\\\\.0)?"' % std.strReplace(boundary, '.', '\\\\.'),

  // num(0.9) == '0.9': jsonnet prints floats with 17 digits, which would put 0.90000000000000002
  // into rules and descriptions.
  num(x):: '%.6g' % x,

  // fmt(config) is config with every number as a short string, for `||| ... ||| % fmt(c)`.
  fmt(config):: {
    [k]: if std.isNumber(config[k]) then $.num(config[k]) else config[k]
    for k in std.objectFields(config)
  },

  runbookURL(pattern, alertName):: pattern % std.asciiLower(alertName),
}
