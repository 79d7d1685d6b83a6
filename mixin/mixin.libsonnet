// The poolwatch monitoring mixin: _config, prometheusRules, prometheusAlerts and
// grafanaDashboards, as node-mixin lays them out. Override knobs with
//   (import 'mixin.libsonnet') + { _config+:: { ... } }
(import 'config.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'alerts/alerts.libsonnet')
+ (import 'dashboards/dashboards.libsonnet')
