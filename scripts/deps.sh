#!/usr/bin/env bash
# Install the Debian packages the harness needs, but only those missing.
# Usage: deps.sh [build|boot|check|bench|all]
. "$(dirname "$0")/lib.sh"

want=${1:-all}
# command -> package
declare -A pkg=(
	[gcc]=gcc [make]=make [flex]=flex [bison]=bison [bc]=bc
	[cpio]=cpio [xz]=xz-utils [ccache]=ccache [git]=git [python3]=python3
	[perl]=perl [gzip]=gzip [pahole]=dwarves [openssl]=openssl
	[qemu-system-x86_64]=qemu-system-x86 [busybox]=busybox-static
	[sparse]=sparse [spatch]=coccinelle [socat]=socat
	# coccicheck's OCaml-scripted rules are compiled by spatch with ocamlopt;
	# without it coccicheck stops after a few scripts.
	[ocamlopt]=ocaml-nox [flock]=util-linux
	# Put into the guest, to read the events with users' own tools.
	[trace-cmd]=trace-cmd [perf]=linux-perf
	# make deb (bindeb-pkg)
	[dpkg-buildpackage]=dpkg-dev [fakeroot]=fakeroot [depmod]=kmod [rsync]=rsync
)
declare -A hdr=([/usr/include/libelf.h]=libelf-dev [/usr/include/openssl/ssl.h]=libssl-dev)

case $want in
build) cmds="gcc make flex bison bc cpio xz ccache git python3 perl gzip openssl" ;;
deb)   cmds="dpkg-buildpackage fakeroot depmod rsync" ;;
boot)  cmds="qemu-system-x86_64 busybox cpio gzip python3 socat trace-cmd perf" ;;
check) cmds="sparse spatch ocamlopt perl python3" ;;
bench) cmds="" ;;
*)     cmds="${!pkg[*]}" ;;
esac

missing=()
for c in $cmds; do
	command -v "$c" >/dev/null 2>&1 || missing+=("${pkg[$c]}")
done
# busybox-static specifically: a dynamic busybox cannot run in the guest.
if [[ " $cmds " == *" busybox "* ]] && ! dpkg -s busybox-static >/dev/null 2>&1; then
	missing+=(busybox-static)
fi
# checkpatch's SPDX check runs the system python3 with ply and GitPython.
if [ "$want" = check ] || [ "$want" = all ]; then
	/usr/bin/python3 -c 'import ply, git' 2>/dev/null || missing+=(python3-ply python3-git)
fi
# make bench draws its plot with matplotlib (python3-matplotlib).
if [ "$want" = bench ]; then
	/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || missing+=(python3-matplotlib)
fi
if [ "$want" = build ] || [ "$want" = all ]; then
	for h in "${!hdr[@]}"; do [ -e "$h" ] || missing+=("${hdr[$h]}"); done
fi

# QEMU with first-level translation (intel-iommu x-flts): QEMU 10. Debian 12
# has it only in bookworm-backports; QEMU 7.2, bookworm's own, is not
# enough (docs/profiles.md, "QEMU 10, and why not QEMU 7.2").
qemu_flts() {
	local help
	help=$(qemu-system-x86_64 -device intel-iommu,help 2>/dev/null) || return 1
	[[ $help == *x-flts* ]]
}
BACKPORTS=/etc/apt/sources.list.d/vtd-cache-tags-backports.sources
need_qemu=0
if [[ " $cmds " == *" qemu-system-x86_64 "* ]] && ! qemu_flts; then
	need_qemu=1
	missing=("${missing[@]/qemu-system-x86}")
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep . || true)
[ ${#missing[@]} = 0 ] && [ $need_qemu = 0 ] && exit 0

want_pkgs="${missing[*]}"
[ $need_qemu = 1 ] && want_pkgs+=" qemu-system-x86 (10, from bookworm-backports)"
[ "$(id -u)" = 0 ] || die "need root to install:$want_pkgs (or install them yourself)"
export DEBIAN_FRONTEND=noninteractive
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ $need_qemu = 1 ] && [ "$codename" = bookworm ] && [ ! -e "$BACKPORTS" ]; then
	# A sources file of our own, so that removing it undoes this. Backports
	# have a low default priority: nothing else on the machine upgrades.
	log "adding Debian's bookworm-backports suite ($BACKPORTS) for QEMU 10"
	cat > "$BACKPORTS" <<'SRC'
# Added by the VT-d cache tags harness (scripts/deps.sh): QEMU 10, whose
# intel-iommu emulates first-level translation (x-flts), is in backports.
# Nothing else is installed from here unless asked for with -t.
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -qq || die "apt-get update failed"
if [ ${#missing[@]} -gt 0 ]; then
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	log "installing missing packages: ${missing[*]}"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
	log "installed: ${missing[*]}"
fi
if [ $need_qemu = 1 ]; then
	t=()
	[ "$codename" = bookworm ] && t=(-t bookworm-backports)
	log "installing QEMU 10 (qemu-system-x86 ${t[*]}): this QEMU has no intel-iommu x-flts"
	apt-get install -y -qq --no-install-recommends "${t[@]}" qemu-system-x86 >/dev/null ||
		die "apt-get install ${t[*]} qemu-system-x86 failed"
	qemu_flts || die "$(qemu-system-x86_64 --version | head -n 1): still no intel-iommu x-flts; the harness needs QEMU 10"
	log "installed: $(qemu-system-x86_64 --version | head -n 1)"
fi
