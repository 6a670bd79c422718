# Shared by every script: paths, logging with timings, the work/ lock and
# small helpers.
# shellcheck shell=bash
set -euo pipefail
# Command substitutions fail like any other command.
shopt -s inherit_errexit

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${VTD_CACHE:-$HOME/.cache/vtd-cache-tags}
WORK=${VTD_WORK:-$TOP/work}
TREE=$WORK/linux            # git tree: base commit + one commit per patch
SRC=${VTD_SRC:-$WORK/src}   # detached worktree every build compiles from
SRC_DEBUG=$WORK/src-debug   # the debug and kcsan kernels' own: $SRC's checkout stays
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

log()  { printf '[%5ss] %s\n' "$(( $(date +%s) - _t0 ))" "$*" >&2; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# One make command at a time on a work/ directory: the first script of a
# command takes the lock (fd 9 on work/.lock) and notes itself and its
# start in work/.lock.holder; the scripts it runs inherit the open lock,
# and so know they hold it, and take the command's start from the note:
# one clock for the whole command. (Nothing of it goes through the
# environment.)
lock_work() {
	mkdir -p "$WORK"
	if [ "$(readlink "/proc/$$/fd/9" 2>/dev/null || true)" = "$(readlink -f "$WORK/.lock")" ]; then
		_t0=$(sed -n 's/^t0=//p' "$WORK/.lock.holder" 2>/dev/null || true)
		_t0=${_t0:-$(date +%s)}
		return 0
	fi
	_t0=$(date +%s)
	exec 9>>"$WORK/.lock"
	if ! flock -n 9; then
		die "$WORK is in use by another command: $(head -n 1 "$WORK/.lock.holder" 2>/dev/null || echo unknown).
Wait for it to finish, or stop it (kill that pid), then run this again."
	fi
	printf "'%s' (pid %s, started %s)\nt0=%s\n" "${VTD_COMMAND:-$(basename "$0") $*}" "$$" "$(date -d "@$_t0" '+%F %T')" "$_t0" \
		> "$WORK/.lock.holder"
}
lock_work "$@"

# step NAME CMD...: run a command as a named step, print how long it took,
# and leave its exit status in STEP_RC. The command runs in a subshell with
# errexit on: called as `step ... || x`, bash would switch errexit off for
# everything the command runs, so step never fails; read STEP_RC instead.
STEP_RC=0
step() {
	local name=$1 s
	s=$(date +%s)
	shift
	log "$name ..."
	set +e
	(set -e; "$@")
	STEP_RC=$?
	set -e
	log "$name: $([ $STEP_RC = 0 ] && echo done || echo "FAILED (exit $STEP_RC)") in $(( $(date +%s) - s ))s"
	return 0
}
# must NAME CMD...: a step the command cannot go on without.
must() {
	step "$@"
	[ "$STEP_RC" = 0 ] || die "$1 failed (exit $STEP_RC)"
}

# result STATUS NAME PROFILE DETAIL: one line of the summary make test prints.
result() {
	mkdir -p "$(dirname "$RESULTS")"
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "${3:--}" "${4:-}" >> "$RESULTS"
	printf '%-4s %-34s %-10s %s\n' "$1" "$2" "${3:--}" "${4:-}"
}

# $RESULTS as KTAP v1 (scripts/ktap.py), beside it as results.ktap, and
# two checks of it: the tree's kunit.py parse must accept it with the
# verdict of the results (exit 0 only if none failed), and must reject a
# copy in which one passed result is turned into a failure.
ktap_results() {
	local ktap=${RESULTS%.tsv}.ktap kunit=$TREE/tools/testing/kunit/kunit.py
	local nfail rc n doctored=$LOGS/results-doctored.ktap
	python3 "$TOP/scripts/ktap.py" "$RESULTS" "$ktap" || { result FAIL ktap-parse - "ktap.py could not write $ktap"; return; }
	if [ ! -f "$kunit" ]; then
		result FAIL ktap-parse - "no kunit.py to read $ktap: $kunit"
		return
	fi
	nfail=$(grep -c '^FAIL' "$RESULTS" || true)
	n=$(grep -c '^\(not \)\?ok ' "$ktap" || true)
	rc=0; python3 "$kunit" parse "$ktap" > "$LOGS/ktap-parse.out" 2>&1 || rc=$?
	if [ "$n" = 0 ]; then
		result FAIL ktap-parse - "$ktap holds no result"
	elif { [ "$nfail" = 0 ] && [ "$rc" = 0 ]; } || { [ "$nfail" != 0 ] && [ "$rc" != 0 ]; }; then
		result PASS ktap-parse - "kunit.py parse read $n results from $ktap and exited $rc ($nfail failed)"
	else
		result FAIL ktap-parse - "kunit.py parse exited $rc on $ktap, which holds $nfail failure(s): $LOGS/ktap-parse.out"
	fi
	# The control: the first passed result, failed.
	if ! awk '!d && /^ok [0-9]+ / && !/# SKIP/ {sub(/^ok/, "not ok"); d=1} {print} END {exit !d}' "$ktap" > "$doctored"; then
		result FAIL control:ktap-parse - "no passed result in $ktap to turn into a failure"
	elif python3 "$kunit" parse "$doctored" > "$LOGS/ktap-parse-doctored.out" 2>&1; then
		result FAIL control:ktap-parse - "kunit.py parse exited 0 on $doctored, which has a failure"
	else
		result PASS control:ktap-parse - "kunit.py parse rejected a copy with one passed result turned into a failure"
	fi
	python3 "$TOP/scripts/ktap.py" "$RESULTS" "$ktap" || true
}

# The closing line: "N passed, N failed, N skipped", with the failures
# repeated above it and the Debian base named when it is not the one the
# series was last tested on.
closing_line() {
	local p f s note="" used tested
	p=$(grep -c '^PASS' "$RESULTS" 2>/dev/null || true)
	f=$(grep -c '^FAIL' "$RESULTS" 2>/dev/null || true)
	s=$(grep -c '^SKIP' "$RESULTS" 2>/dev/null || true)
	tested=$(tested_base)
	used=$(cat "$TREE/.debian-version" 2>/dev/null || true)
	if [ -n "$used" ] && [ "$used" != "$tested" ]; then
		note=" (base $used, series tested on $tested)"
	fi
	if [ "${f:-0}" != 0 ]; then
		echo "failed:"
		awk -F'\t' '$1 == "FAIL" {printf "  %s %s: %s\n", $2, $3, $4}' "$RESULTS"
	fi
	echo "${p:-0} passed, ${f:-0} failed, ${s:-0} skipped$note"
	[ "${f:-0}" = 0 ]
}

# The EXIT trap of make test and make soak (FINISH_NAME, the command;
# FINISH_SCRIPT, the script): whatever stops the script, the closing line
# is printed, and an early stop (FINISHED unset) is a failure of its own.
finish() {
	local rc=$?
	trap - EXIT
	set +e
	if [ -z "${FINISHED:-}" ]; then
		result FAIL harness - "$FINISH_SCRIPT stopped early (exit $rc) at: ${BASH_COMMAND:-?}; the results above are incomplete"
	fi
	kill $(jobs -p) 2>/dev/null
	echo
	ktap_results
	echo "$FINISH_NAME: $(( ($(date +%s) - T0) / 60 ))m$(( ($(date +%s) - T0) % 60 ))s; logs in $LOGS; results in ${RESULTS%.tsv}.ktap"
	closing_line
	exit $?
}

# The Debian version the series was last tested on (patches/tested-on).
tested_base() { sed -n 's/^linux-source-6.1 //p' "$TOP/patches/tested-on" 2>/dev/null || true; }

# Every QEMU profile scripts/qemu.sh knows (docs/profiles.md).
PROFILES_ALL="legacy legacy-ats sm-cm-ats sm-fl sm-fl-ats sm-fl-cm-ats lazy vfio vfio-cm vfio-sm vfio-sm-cm vfio-sm-fl drivers drivers-fl drivers-cm drivers-lazy bridge"
# The series' version: N of "[PATCH vN 00/NN]" in the cover letter, 1 if none.
series_version() {
	local v
	v=$(sed -n 's/^Subject: \[PATCH v\([0-9]*\) .*/\1/p' "$TOP/patches/0000-cover-letter.patch" 2>/dev/null | head -n 1)
	echo "${v:-1}"
}
# The users' tools the guest image carries (scripts/initramfs.sh).
guest_tools() { command -v trace-cmd perf 2>/dev/null || true; }
# variant: "series" (the default), "stock" (SERIES=none), "debug"
# (SERIES=debug: the series with configs/debug.config, the sanitizers) or
# "kcsan" (SERIES=kcsan: the series with configs/kcsan.config).
variant() {
	case "${SERIES:-}" in
	none|stock|0) echo stock ;;
	debug) echo debug ;;
	kcsan) echo kcsan ;;
	*) echo series ;;
	esac
}
build_of() { echo "$BUILD/$1"; }
# The config fragments of a variant, and the stamp a build of REV with them
# leaves in its directory (vtd-stamp): equal stamps, the same kernel.
frags_of() {
	echo "$TOP/configs/vtd.config"
	# make bench's kernels: all three alike, without the series' KUnit suites.
	case $1 in bench-*) echo "$TOP/configs/bench.config"; return ;; esac
	[ "$1" = stock ] || [ ! -f "$TOP/configs/series.config" ] || echo "$TOP/configs/series.config"
	[ "$1" != debug ] || echo "$TOP/configs/debug.config"
	[ "$1" != kcsan ] || echo "$TOP/configs/kcsan.config"
}
build_stamp() {  # build_stamp VARIANT REV
	local f
	mapfile -t f < <(frags_of "$1")
	echo "$2 $(cat "${f[@]}" | md5sum | cut -d' ' -f1)"
}
# Debian's own 6.1 amd64 config (package linux-config-6.1, installed if
# missing) to FILE, with the certificate files only Debian's build has
# cleared (CONFIG_SYSTEM_TRUSTED_KEYS, CONFIG_SYSTEM_REVOCATION_KEYS).
debian_config_pkg() {
	dpkg -s linux-config-6.1 >/dev/null 2>&1 || {
		log "installing linux-config-6.1 (Debian's kernel configs)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-config-6.1 >/dev/null ||
			die "apt-get install linux-config-6.1 failed"; }
}
debian_config() {  # debian_config FILE
	debian_config_pkg
	xz -dc /usr/src/linux-config-6.1/config.amd64_none_amd64.xz > "$1"
	"$SRC/scripts/config" --file "$1" --set-str SYSTEM_TRUSTED_KEYS "" --set-str SYSTEM_REVOCATION_KEYS ""
}
