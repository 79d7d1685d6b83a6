#!/usr/bin/env bash
# Renders the mixin: alerts/*.yaml (recording and alerting rules), dashboards/*.json and
# deploy/prometheusrule.yaml. Deterministic: a second run changes nothing.
#
#   mixin/generate.sh                                  render everything into the repository
#   mixin/generate.sh --rules-only OUTDIR [OVERRIDES]  only the rule files, into OUTDIR, with
#                                                      _config+:: (import OVERRIDES)
#   mixin/generate.sh --all OUTDIR [OVERRIDES]         everything, into OUTDIR/{alerts,dashboards,deploy}
#
# OVERRIDES is a jsonnet file holding an object of _config fields (mixin/README.md lists them).
# The jsonnet binary is $JSONNET, else bin/jsonnet, else jsonnet on PATH.
set -euo pipefail
shopt -s nullglob

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

jsonnet=${JSONNET:-}
if [[ -z $jsonnet ]]; then
	if [[ -x $root/bin/jsonnet ]]; then jsonnet=$root/bin/jsonnet
	elif command -v jsonnet >/dev/null; then jsonnet=$(command -v jsonnet)
	else echo "generate.sh: no jsonnet: run 'make tools' or set JSONNET" >&2; exit 1
	fi
fi

mode=repo
out=$root
overrides=
case ${1:-} in
--rules-only | --all)
	mode=${1#--}
	out=${2:?"usage: $0 $1 OUTDIR [OVERRIDES.libsonnet]"}
	overrides=${3:-}
	;;
"") ;;
*) echo "usage: $0 [--rules-only|--all OUTDIR [OVERRIDES.libsonnet]]" >&2; exit 2 ;;
esac

ext=(--ext-code 'overrides={}')
if [[ -n $overrides ]]; then
	[[ -f $overrides ]] || { echo "generate.sh: no such overrides file: $overrides" >&2; exit 1; }
	ext=(--ext-code-file "overrides=$(cd "$(dirname "$overrides")" && pwd)/$(basename "$overrides")")
fi

# render PART DIR: writes every file of render.jsonnet's PART into DIR. In the repository it
# also removes files of a previous render that the mixin no longer produces (so a renamed
# dashboard cannot linger); an OUTDIR of the caller may hold other files and is left alone.
render() {
	local part=$1 dir=$2 tmp
	mkdir -p "$dir"
	tmp=$(mktemp -d)
	"$jsonnet" -J "$here" "${ext[@]}" -S -m "$tmp" -e "(import '$here/render.jsonnet').$part" >/dev/null
	for f in "$dir"/*; do
		[[ $mode == repo ]] || continue
		[[ -e $tmp/$(basename "$f") ]] || rm -f "$f"
	done
	for f in "$tmp"/*; do
		cmp -s "$f" "$dir/$(basename "$f")" || cp "$f" "$dir/$(basename "$f")"
	done
	rm -rf "$tmp"
}

case $mode in
rules-only)
	render rules "$out"
	;;
repo | all)
	render rules "$out/alerts"
	render dashboards "$out/dashboards"
	render deploy "$out/deploy"
	;;
esac
