#!/usr/bin/env bash
# The mixin's checks behind `make rules-test`; exits non-zero on any failure.
#   1. drift: a fresh render equals the committed alerts/, dashboards/, deploy/
#   2. promtool check rules, under Prometheus 2.42 ($PROMTOOL2) and 3 ($PROMTOOL3), of the rules
#      and of every dashboard query
#   3. promtool test rules mixin/tests/*.yaml and tests/shapes/*.yaml, under both; tests/native
#      (the same pools in classic, native and both histogram modes): classic under both,
#      native and both under promtool 3 (2.42's test input has no native histogram samples)
#   4. every scenario of ../shared/scenarios/public and mixin/scenarios, under both, with its
#      lead time (poolsim.py; a scenario passes only if it passes under both versions)
#   5. amtool check-config and the routing of the example Alertmanager config
# Environment: PROMTOOL2 (default /usr/bin/promtool), PROMTOOL3 (default bin/promtool),
# AMTOOL (default amtool), PYTHON (default /usr/bin/python3), SCENARIOS (public scenarios dir),
# JOBS (parallel scenario runs, default: number of CPUs).
set -uo pipefail
shopt -s nullglob

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"

promtool2=${PROMTOOL2:-/usr/bin/promtool}
promtool3=${PROMTOOL3:-$root/bin/promtool}
amtool=${AMTOOL:-amtool}
python=${PYTHON:-/usr/bin/python3}
scenarios=${SCENARIOS:-$root/../shared/scenarios/public}
jobs=${JOBS:-$(nproc)}
poolsim=$(dirname "$scenarios")/poolsim.py

failed=()
step() { echo; echo "== $*"; }
fail() { failed+=("$*"); echo "FAILED: $*"; }

for tool in "$promtool2" "$promtool3" "$python"; do
	[[ -x $tool ]] || { echo "test.sh: missing $tool" >&2; exit 1; }
done
command -v "$amtool" >/dev/null || { echo "test.sh: missing amtool" >&2; exit 1; }
[[ -f $poolsim ]] || { echo "test.sh: missing $poolsim" >&2; exit 1; }

step "drift: rendered files match mixin/"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if "$here/generate.sh" --all "$tmp"; then
	for d in alerts dashboards deploy; do
		diff -r "$d" "$tmp/$d" || fail "$d/ drifted from mixin/: run make generate and commit"
	done
else
	fail "generate.sh"
fi

# Every dashboard query, variables replaced by values, as a recording rule: promtool then
# parses each one with the real PromQL parser of both versions.
"$python" - "$tmp/dashboard-queries.yaml" dashboards/*.json <<'PY' || fail "extracting dashboard queries"
import json, sys
rules = []
for path in sys.argv[2:]:
    for panel in json.load(open(path))["panels"]:
        for t in panel.get("targets", []):
            e = t["expr"]
            for var, val in (("$__rate_interval", "1m"), ("$job", ".*"), ("$instance", ".*"), ("$pool", ".*")):
                e = e.replace(var, val)
            rules.append({"record": "dashboard:query:%d" % len(rules), "expr": e})
# JSON is YAML.
json.dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, open(sys.argv[1], "w"))
PY

rules=(alerts/*.yaml)
for pt in "$promtool2" "$promtool3"; do
	step "$pt check rules (dashboard queries)"
	"$pt" check rules "$tmp/dashboard-queries.yaml" || fail "$pt: dashboard queries do not parse"
	step "$pt check rules"
	"$pt" check rules "${rules[@]}" || fail "$pt check rules"
	step "$pt test rules mixin/tests, mixin/tests/shapes (the alert x pool-shape matrix)"
	"$pt" test rules mixin/tests/*.yaml mixin/tests/shapes/*.yaml || fail "$pt test rules"
done
# Histogram modes: the classic file under both versions; the native-only and both files under
# promtool 3 only, as 2.42's test input cannot hold native histogram samples.
step "test rules mixin/tests/native (classic: 2.42 and 3; native, both: 3)"
"$promtool2" test rules mixin/tests/native/*-classic.yaml || fail "$promtool2 test rules native/classic"
"$promtool3" test rules mixin/tests/native/*.yaml || fail "$promtool3 test rules native"

step "scenarios (stall = first 10s wait or rejection; lead = stall - first warning/critical)"
list=$tmp/scenarios
for f in "$scenarios"/*.json mixin/scenarios/*.json; do
	for pt in "$promtool2" "$promtool3"; do
		printf '%s\t%s\n' "$pt" "$f"
	done
done >"$list"
# Each run writes one verdict line; runs go in parallel, the output is sorted by scenario.
export python poolsim
tr '\n' '\0' <"$list" | xargs -0 -P "$jobs" -I{} bash -c '
	pt=${1%%$'"'"'\t'"'"'*}; f=${1#*$'"'"'\t'"'"'}
	v=$("$pt" --version 2>/dev/null | head -1 | grep -o "version [^ ]*" | cut -d" " -f2)
	line=$(PROMTOOL=$pt "$python" "$poolsim" run "$f" '"${rules[*]}"' 2>&1 | tail -1)
	printf "%s promtool=%s\n" "$line" "${v:-3}"
' _ {} >"$tmp/verdicts"
sort -k2,2 -k6 "$tmp/verdicts"
total=$(wc -l <"$list")
passed=$(grep -c '^PASS ' "$tmp/verdicts")
echo "scenarios: $passed of $total runs passed"
[[ $passed -eq $total ]] || fail "scenarios"

step "amtool check-config examples/alertmanager/alertmanager.yml"
am=examples/alertmanager/alertmanager.yml
"$amtool" check-config "$am" || fail "amtool check-config"
# The routing the example promises: critical pages, warning goes to chat, info nowhere.
"$amtool" config routes test --config.file="$am" --verify.receivers=pager severity=critical pool=p 2>/dev/null || fail "critical route"
"$amtool" config routes test --config.file="$am" --verify.receivers=team-chat severity=warning pool=p 2>/dev/null || fail "warning route"
"$amtool" config routes test --config.file="$am" --verify.receivers=blackhole severity=info pool=p 2>/dev/null || fail "info route"

echo
if ((${#failed[@]})); then
	printf 'mixin/test.sh: FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "mixin/test.sh: all checks passed"
