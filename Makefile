# VT-d cache tags for Linux 6.1 LTS: the harness.
#   make run      build if needed, boot PROFILE, run a DMA workload, show the cache tags
#   make test     every check; ends with "N passed, N failed"
#   make deb      Debian packages of the patched kernel (DEB_CONFIG=debian|small|localmodconfig|FILE)
#   make hwcheck  as root, on a VT-d machine running make deb's kernel: its cache tags checked (DEV=, REBIND=1)
#   make kunit    the KUnit suites with the tree's kunit.py (its own kernel, under QEMU)
#   make sanitize the debug kernel (KASAN, UBSAN, kmemleak, fault injection) on its profiles, with its controls
#   make soak     hours: the sanitizer kernels (debug, kcsan) under load, on every profile (scripts/soak.sh)
# Variables: PROFILE=legacy-ats, or any profile of docs/profiles.md (run, shell)
#            SERIES=none builds stock 6.1 from the same base, SERIES=debug the
#            series with the sanitizers (configs/debug.config), SERIES=kcsan
#            the series with KCSAN (configs/kcsan.config)
.PHONY: help run test tree export check bench soak sanitize shell build initramfs deb hwcheck kunit clean distclean

PROFILE ?= legacy-ats
export PROFILE SERIES FORCE
export VTD_COMMAND = make $(MAKECMDGOALS)

help:
	@sed -n 's/^#   //p' Makefile

run:
	@scripts/run.sh
test:
	@scripts/test.sh
check:
	@scripts/test.sh check
bench:
	@scripts/bench.sh
soak:
	@scripts/soak.sh
sanitize:
	@scripts/soak.sh sanitize
tree:
	@scripts/tree.sh create
export:
	@scripts/export.sh
deb:
	@scripts/deb.sh
hwcheck:
	@python3 scripts/hwcheck.py run
kunit:
	@scripts/kunit.sh
build:
	@scripts/build.sh
initramfs:
	@scripts/initramfs.sh
shell:
	@scripts/run.sh shell
# Build outputs, logs and every cached check result and configuration (kept in the download
# cache, keyed by what they measured, so that a new work/ reuses them).
clean:
	rm -rf work/build work/logs work/initramfs work/initramfs.cpio.gz* work/results.tsv \
		work/check work/kselftest $${VTD_CACHE:-$$HOME/.cache/vtd-cache-tags}/check \
		$${VTD_CACHE:-$$HOME/.cache/vtd-cache-tags}/config
distclean:
	@scripts/tree.sh status >/dev/null 2>&1 || [ ! -d work/linux/.git ] || [ -n "$(FORCE)" ] || \
		{ echo "work/linux holds work not in patches/: make export, or FORCE=1"; exit 1; }
	rm -rf work
