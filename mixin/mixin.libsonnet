// The poolwatch monitoring mixin: _config, prometheusRules, prometheusAlerts and
// grafanaDashboards, as node-mixin lays them out. Override knobs with
//   (import 'mixin.libsonnet') + { _config+:: { ... } }
local util = import 'lib/util.libsonnet';

(import 'config.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'alerts/alerts.libsonnet')
+ (import 'dashboards/dashboards.libsonnet')
+ {
  // Every range of the rules one millisecond short, so that Prometheus 2 and 3 select the
  // same samples (_config.sameRanges; util.sameRanges says why).
  local shorten(rules) = if $._config.sameRanges then util.sameRangesIn(rules) else rules,
  prometheusRules:: shorten(super.prometheusRules),
  prometheusAlerts:: shorten(super.prometheusAlerts),
}
