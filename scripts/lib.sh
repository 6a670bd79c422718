# Shared by every script: paths, logging with timings, and small helpers.
# shellcheck shell=bash
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${VTD_CACHE:-$HOME/.cache/vtd-cache-tags}
WORK=${VTD_WORK:-$TOP/work}
TREE=$WORK/linux            # git tree: base commit + one commit per patch
SRC=$WORK/src               # detached worktree every build compiles from
BUILD=$WORK/build           # O= directories, one per variant
LOGS=$WORK/logs
RESULTS=${RESULTS:-$WORK/results.tsv}
BASE_TAG=vtd-base           # the base commit in $TREE
APPLIED_REF=refs/vtd/synced # HEAD when the tree last matched patches/
export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache}
export CCACHE_BASEDIR=$WORK
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
ARCH=x86_64
export ARCH
NPROC=$(nproc)

_t0=$(date +%s)
log()  { printf '[%5ss] %s\n' "$(( $(date +%s) - _t0 ))" "$*" >&2; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# step NAME CMD...: run a command as a named step and print how long it took.
step() {
	local name=$1 s=$(date +%s) rc=0
	shift
	log "$name ..."
	"$@" || rc=$?
	log "$name: $([ $rc = 0 ] && echo done || echo "FAILED (exit $rc)") in $(( $(date +%s) - s ))s"
	return $rc
}

# result STATUS NAME PROFILE DETAIL: one line of the summary make test prints.
result() {
	mkdir -p "$(dirname "$RESULTS")"
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "${3:--}" "${4:-}" >> "$RESULTS"
	printf '%-4s %-34s %-10s %s\n' "$1" "$2" "${3:--}" "${4:-}"
}

# variant: "series" (the default) or "stock" (SERIES=none).
variant() {
	case "${SERIES:-}" in
	none|stock|0) echo stock ;;
	*) echo series ;;
	esac
}
build_of() { echo "$BUILD/$1"; }
