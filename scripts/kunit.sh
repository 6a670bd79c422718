#!/usr/bin/env bash
# make kunit: the series' KUnit suites, run the way a kernel developer runs
# them, with the tree's own kunit.py:
#   ./tools/testing/kunit/kunit.py run --arch=x86_64 --kunitconfig=drivers/iommu/intel \
#       --qemu_args='-smp 2'
# kunit.py configures a kernel of its own from drivers/iommu/intel/.kunitconfig,
# builds it (in work/build/kunit, with ccache) and boots it under QEMU (TCG)
# with two CPUs: two cases race flushes against attach and detach.
#   kunit.sh [run|config|build]   (make test proves the .kunitconfig with
#                                  "config": every option must survive)
#   KUNIT_ARGS='...'              more kunit.py options, e.g. a filter glob
. "$(dirname "$0")/lib.sh"
"$TOP/scripts/deps.sh" build
"$TOP/scripts/deps.sh" boot
mode=${1:-run}
"$TOP/scripts/tree.sh" ensure
"$TOP/scripts/tree.sh" checkout "$("$TOP/scripts/tree.sh" rev series)"
[ -f "$SRC/drivers/iommu/intel/.kunitconfig" ] || die "the tree has no drivers/iommu/intel/.kunitconfig"
args=(--arch=x86_64 --kunitconfig="$SRC/drivers/iommu/intel" --build_dir="$BUILD/kunit")
case $mode in
run) args+=(--jobs="$NPROC" --make_options "CC=ccache gcc" --qemu_args="-smp 2") ;;
build) args+=(--jobs="$NPROC" --make_options "CC=ccache gcc") ;;
config) ;;
*) die "kunit.sh: run, config or build, not '$mode'" ;;
esac
# shellcheck disable=SC2086
exec python3 "$SRC/tools/testing/kunit/kunit.py" "$mode" "${args[@]}" ${KUNIT_ARGS:-}
