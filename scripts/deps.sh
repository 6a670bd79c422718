#!/usr/bin/env bash
# Install the Debian packages the harness needs, but only those missing.
# Usage: deps.sh [build|boot|check|all]
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
if [ "$want" = build ] || [ "$want" = all ]; then
	for h in "${!hdr[@]}"; do [ -e "$h" ] || missing+=("${hdr[$h]}"); done
fi
[ ${#missing[@]} = 0 ] && exit 0

mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
log "installing missing packages: ${missing[*]}"
[ "$(id -u)" = 0 ] || die "need root to install: ${missing[*]} (or install them yourself)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || die "apt-get update failed"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
	die "apt-get install ${missing[*]} failed"
log "installed: ${missing[*]}"
