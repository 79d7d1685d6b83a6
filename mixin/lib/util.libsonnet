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

  // millis('4m59s') == 299000: a duration of one unit or several ('1h30m'), else null.
  millis(d)::
    local units = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000, w: 604800000, y: 31536000000 };
    local digit(ch) = std.codepoint(ch) >= 48 && std.codepoint(ch) <= 57;
    local go(i, num, total) =
      if i >= std.length(d) then (if num == '' && total > 0 then total else null)
      else if digit(d[i]) then go(i + 1, num + d[i], total)
      else if num == '' then null
      else
        local unit = if d[i] == 'm' && i + 1 < std.length(d) && d[i + 1] == 's' then 'ms' else d[i];
        if !std.objectHas(units, unit) then null
        else go(i + std.length(unit), '', total + std.parseInt(num) * units[unit]);
    go(0, '', 0),

  // compound(299999) == '4m59s999ms'.
  compound(ms)::
    local parts = [
      [std.floor(ms / 3600000), 'h'],
      [std.floor(ms % 3600000 / 60000), 'm'],
      [std.floor(ms % 60000 / 1000), 's'],
      [ms % 1000, 'ms'],
    ];
    std.join('', ['%d%s' % p for p in parts if p[0] > 0]),

  // sameRanges(expr) is expr with every range one millisecond short: `[5m]` becomes
  // `[4m59s999ms]`, a subquery's `[30m:1m]` `[29m59s999ms:1m]`. Prometheus 2 selects the samples
  // of [t - 5m, t], Prometheus 3 those of (t - 5m, t]; with timestamps in milliseconds,
  // [t - 5m + 1ms, t] is the same set under both (but for a sample exactly 1 ms inside the
  // window's start, which 2 counts and 3 does not), so the rules give the same answers
  // whichever the user runs. A sample falls on the boundary wherever a series is evenly spaced
  // with the evaluations: a recorded series read by a rule of its own group always (a group
  // evaluates exactly an interval apart, so a 10m trend of a rule evaluated every minute fits
  // 11 points under 2 and 10 under 3), and in promtool tests every series, where a 2m mean of a
  // gauge read every minute averaged three reads under 2 and two under 3, and the same pool
  // was warned 18 minutes apart (docs/forecast-design.md). Prometheus 3's reading is the one
  // the rules were measured with, and the one scraped series already get under both, as
  // scrapes do not land on evaluation boundaries. Text inside strings (a label matcher's regex
  // may hold `[5m]`) is left as it is.
  sameRanges(expr)::
    local shorten(d) =
      local ms = $.millis(d);
      if ms == null || ms <= 1 then d else $.compound(ms - 1);
    // A range or subquery: what follows a '[' up to its ']'.
    local shortenRange(part) =
      local close = std.findSubstr(']', part);
      if std.length(close) == 0 then part
      else
        local inside = part[:close[0]];
        local colon = std.findSubstr(':', inside);
        (if std.length(colon) == 0 then shorten(inside)
         else shorten(inside[:colon[0]]) + inside[colon[0]:])
        + part[close[0]:];
    local outsideStrings(code) =
      local parts = std.split(code, '[');
      std.join('[', [parts[0]] + [shortenRange(p) for p in parts[1:]]);
    // The strings of expr, as [first, last] character indexes of their quotes: PromQL quotes
    // with ", ' or ` (the last without escapes), and a quote of another kind inside one is text.
    local escaped(i) = i > 0 && expr[i - 1] == '\\' && !escaped(i - 1);
    local quotes = std.sort(
      std.flattenArrays([[{ i: i, q: q } for i in std.findSubstr(q, expr)] for q in ['"', "'", '`']]),
      function(x) x.i
    );
    local scan = std.foldl(
      function(st, x)
        if st.open == null then st { open: x.q, start: x.i }
        else if x.q != st.open || (x.q != '`' && escaped(x.i)) then st
        else st { open: null, strings+: [[st.start, x.i]] },
      quotes,
      { open: null, start: 0, strings: [] }
    );
    local strings = scan.strings + (if scan.open == null then [] else [[scan.start, std.length(expr) - 1]]);
    local ends = [-1] + [str[1] for str in strings];
    std.join('', [
      outsideStrings(expr[ends[k] + 1:(if k < std.length(strings) then strings[k][0] else std.length(expr))])
      + (if k < std.length(strings) then expr[strings[k][0]:strings[k][1] + 1] else '')
      for k in std.range(0, std.length(strings))
    ]),

  // sameRangesIn(x) is a prometheusRules or prometheusAlerts object with sameRanges applied
  // to every rule's expr.
  sameRangesIn(x):: x {
    groups: [
      g { rules: [r + (if std.objectHas(r, 'expr') then { expr: $.sameRanges(r.expr) } else {}) for r in g.rules] }
      for g in x.groups
    ],
  },

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
