#!/usr/bin/env bash
# The mixin's checks behind `make rules-test`; exits non-zero on any failure.
#   1. drift: a fresh render equals the committed alerts/, dashboards/, deploy/
#   2. promtool check rules, under Prometheus 2.42 ($PROMTOOL2) and 3 ($PROMTOOL3), of the rules
#      and of every dashboard query
#   3. promtool test rules mixin/tests/*.yaml, tests/shapes/*.yaml and tests/sources/*.yaml, under both; tests/native
#      (the same pools in classic, native and both histogram modes): classic under both,
#      native and both under promtool 3 (2.42's test input has no native histogram samples)
#   4. every scenario under mixin/scenarios (the public ones in mixin/scenarios/public, the ones
#      built from a real request trace in mixin/scenarios/real, checked first to be what
#      real/generate.go writes, and the project's own), under both, with its lead time:
#      cmd/poolwatch-simulate simulates each pool and runs promtool on it; a scenario passes only
#      if it passes under both versions
#   5. amtool check-config and the routing of the example Alertmanager config
# Needs Go, jsonnet (bin/jsonnet from `make tools`, or $JSONNET), both promtools and amtool.
# Environment: PROMTOOL2 (default /usr/bin/promtool), PROMTOOL3 (default bin/promtool),
# AMTOOL (default amtool), GO (default go), JOBS (parallel scenario runs, default: CPUs).
set -uo pipefail
shopt -s nullglob

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"

promtool2=${PROMTOOL2:-/usr/bin/promtool}
promtool3=${PROMTOOL3:-$root/bin/promtool}
amtool=${AMTOOL:-amtool}
go=${GO:-go}
jsonnet=${JSONNET:-$root/bin/jsonnet}
jobs=${JOBS:-$(nproc)}

failed=()
step() { echo; echo "== $*"; }
fail() { failed+=("$*"); echo "FAILED: $*"; }

# Every program first, each with where it comes from, so that nothing stops halfway.
missing=()
[[ -x $promtool2 ]] || missing+=("$promtool2 (Debian package prometheus: make deps)")
[[ -x $promtool3 ]] || missing+=("$promtool3 (make tools)")
[[ -x $jsonnet ]] || missing+=("$jsonnet (make tools)")
command -v "$amtool" >/dev/null || missing+=("amtool (Debian package prometheus-alertmanager: make deps)")
command -v "$go" >/dev/null || missing+=("go (https://go.dev/dl)")
if ((${#missing[@]})); then
	printf 'test.sh: missing %s\n' "${missing[@]}" >&2
	exit 1
fi

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
{
	echo 'local dashboards = ['
	for d in dashboards/*.json; do printf "  import '%s',\n" "$root/$d"; done
	cat <<'JSONNET'
];
local vars = [['$__rate_interval', '1m'], ['$job', '.*'], ['$instance', '.*'], ['$pool', '.*']];
local fill(e) = std.foldl(function(acc, v) std.strReplace(acc, v[0], v[1]), vars, e);
local exprs = [fill(t.expr) for d in dashboards for p in d.panels for t in std.get(p, 'targets', [])];
{ groups: [{ name: 'dashboard-queries', rules: [
  { record: 'dashboard:query:%d' % i, expr: exprs[i] } for i in std.range(0, std.length(exprs) - 1)
] }] }
JSONNET
} >"$tmp/dashboard-queries.jsonnet"
# JSON is YAML.
"$jsonnet" "$tmp/dashboard-queries.jsonnet" >"$tmp/dashboard-queries.yaml" || fail "extracting dashboard queries"

rules=(alerts/*.yaml)
for pt in "$promtool2" "$promtool3"; do
	step "$pt check rules (dashboard queries)"
	"$pt" check rules "$tmp/dashboard-queries.yaml" || fail "$pt: dashboard queries do not parse"
	step "$pt check rules"
	"$pt" check rules "${rules[@]}" || fail "$pt check rules"
	step "$pt test rules mixin/tests, mixin/tests/shapes, mixin/tests/sources (the alert x pool-shape and alert x source matrices)"
	"$pt" test rules mixin/tests/*.yaml mixin/tests/shapes/*.yaml mixin/tests/sources/*.yaml || fail "$pt test rules"
done
# Histogram modes: the classic file under both versions; the native-only and both files under
# promtool 3 only, as 2.42's test input cannot hold native histogram samples.
step "test rules mixin/tests/native (classic: 2.42 and 3; native, both: 3)"
"$promtool2" test rules mixin/tests/native/*-classic.yaml || fail "$promtool2 test rules native/classic"
"$promtool3" test rules mixin/tests/native/*.yaml || fail "$promtool3 test rules native"

step "scenarios (stall = first task to wait its timeout, or first rejection; lead = stall - first warning/critical)"
"$go" run mixin/scenarios/real/generate.go -check ||
	fail "mixin/scenarios/real: a scenario differs from what generate.go writes"
mapfile -t scenarios < <(find mixin/scenarios -name '*.json' | sort)
if "$go" build -o "$tmp/poolwatch-simulate" ./cmd/poolwatch-simulate; then
	rule_flags=()
	for r in "${rules[@]}"; do rule_flags+=("--rules=$r"); done
	# One verdict line per scenario and promtool; runs go in parallel, the output keeps the
	# order of the files. Exit 1: a scenario failed; 2: a run could not be judged.
	"$tmp/poolwatch-simulate" --brief --parallel="$jobs" --promtool="$promtool2" --promtool="$promtool3" \
		"${rule_flags[@]}" "${scenarios[@]}" | tee "$tmp/verdicts"
	rc=${PIPESTATUS[0]}
	total=$((${#scenarios[@]} * 2))
	passed=$(grep -c '^PASS ' "$tmp/verdicts")
	echo "scenarios: $passed of $total runs passed"
	# A scenario listed in mixin/scenarios/KNOWN-FAILURES fails for a reason written there
	# (an alert weakness found, with its fix to come): its failed runs are shown as known,
	# and once it passes under every promtool the entry must go, so the list stays true.
	known=0
	while read -r name bound reason; do
		[[ -z $name || $name == \#* ]] && continue
		# The bound keeps a failure for a new reason from being excused: first_alert>=Nm (a
		# healthy scenario pages no earlier than measured) or lead>=Xm (an exhaustion one
		# leads by no less). A failed run beyond its bound fails the suite.
		if [[ ! $bound =~ ^(first_alert|lead)\>=([-+]?[0-9.]+)m$ ]]; then
			fail "mixin/scenarios/KNOWN-FAILURES: $name: bound '$bound' is not first_alert>=Nm or lead>=Xm"
			continue
		fi
		field=${BASH_REMATCH[1]} min=${BASH_REMATCH[2]}
		# Each bound excuses one way of failing only: first_alert a healthy scenario that
		# pages; lead an exhaustion scenario whose first page comes later than its required
		# lead (its "lead", 5m by default), so that a page too early (before its quiet_until,
		# a longer lead) or none at all is never excused.
		kind=healthy max=
		if [[ $field == lead ]]; then
			kind=exhaustion max=5
			file=$(find mixin/scenarios -name "$name.json" | head -n 1)
			if [[ -n $file ]] && grep -q '"lead"' "$file"; then
				max=$(grep -o '"lead": *"[0-9.]*m"' "$file" | grep -o '[0-9.]*m' | tr -d m)
				[[ -n $max ]] || { fail "$file: lead is not in minutes (N m): cannot check its bound"; continue; }
			fi
		fi
		while read -r line; do
			got=$(grep -o " $field=[^ ]*" <<<"$line" | cut -d= -f2)
			if [[ $line != *" kind=$kind "* || -z $got ]] ||
				! awk -v g="${got%m}" -v lo="$min" -v hi="$max" 'BEGIN { exit !(g + 0 >= lo + 0 && (hi == "" || g + 0 < hi + 0)) }'; then
				fail "scenario $name fails beyond its known bound (${got:-no $field}, known $bound, which excuses only a $kind scenario failing so): $line"
			fi
		done < <(awk -v n="$name" '$1 == "FAIL" && $2 == n' "$tmp/verdicts")
		# The public scenarios are the verdicts the project promises: none may be excused.
		if [[ -e mixin/scenarios/public/$name.json ]]; then
			fail "scenario $name is public: it cannot be listed in mixin/scenarios/KNOWN-FAILURES"
			continue
		fi
		n=$(awk -v n="$name" '$1 == "FAIL" && $2 == n' "$tmp/verdicts" | wc -l)
		if ((n == 0)); then
			fail "scenario $name passes now: remove it from mixin/scenarios/KNOWN-FAILURES"
		else
			echo "known failure ($n runs): $name: $reason"
			known=$((known + n))
		fi
	done < <(cat mixin/scenarios/KNOWN-FAILURES 2>/dev/null)
	((known == 0)) || echo "scenarios: $known failed runs are known failures"
	[[ ($rc -eq 0 || $rc -eq 1) && $((passed + known)) -eq $total ]] || fail "scenarios"
else
	fail "building cmd/poolwatch-simulate"
fi

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
