#!/usr/bin/env bash
# Make $TREE: a git repo of the Debian base (one commit, tagged vtd-base)
# with patches/ applied by git am, one commit per patch.
#   tree.sh create   make it anew (refuses to drop unexported commits)
#   tree.sh ensure   make it if missing or stale; keep local work
#   tree.sh status   say whether the tree and patches/ agree
#   tree.sh checkout REV   put REV in $SRC, the worktree builds compile from.
#                    One path for every variant lets ccache and make reuse
#                    objects between stock, series and per-patch builds.
#   tree.sh rev series|stock   the commit a variant builds: the base, or
#                    HEAD with any uncommitted changes (git stash create)
. "$(dirname "$0")/lib.sh"

# The same author and dates every time, so the base commit hash is stable
# and `git format-patch --base` writes the same trailer on every export.
base_env() {
	export GIT_AUTHOR_NAME="Debian linux-source-6.1" GIT_AUTHOR_EMAIL="base@invalid"
	export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
	export GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z"
}

series_files() {
	[ -f "$TOP/patches/series" ] || return 0
	grep -v -e '^#' -e '^[[:space:]]*$' "$TOP/patches/series" | sed "s|^|$TOP/patches/|"
}

# The +/- lines of a series: equal when the tree and patches/ hold the same code.
diffbody() { grep -E '^[-+]' | grep -vE '^(\+\+\+|---)( |$)' | md5sum | cut -d' ' -f1; }
tree_sum()  { git -C "$TREE" format-patch --stdout --no-signature "$BASE_TAG..HEAD" | diffbody; }
patch_sum() { local f; f=$(series_files); if [ -n "$f" ]; then cat $f | diffbody; else printf '' | diffbody; fi; }

in_sync() {
	[ -z "$(git -C "$TREE" status --porcelain -uno)" ] && [ "$(tree_sum)" = "$(patch_sum)" ]
}
untouched() {  # HEAD is where the last apply or export left it
	[ "$(git -C "$TREE" rev-parse HEAD)" = "$(git -C "$TREE" rev-parse -q --verify $APPLIED_REF || true)" ] &&
		[ -z "$(git -C "$TREE" status --porcelain -uno)" ]
}

create() {
	local base debver f n=0
	base=$("$TOP/scripts/base.sh")
	debver=$(cat "$base/.debian-version")
	if [ -d "$TREE/.git" ] && [ -z "${FORCE:-}" ] && ! in_sync && ! untouched; then
		die "$TREE holds commits or changes that are not in patches/.
Run 'make export' to keep them, or 'make tree FORCE=1' to throw them away."
	fi
	rm -rf "$SRC"
	rm -rf "$TREE"
	mkdir -p "$WORK"
	log "copying base $debver to $TREE"
	cp -a "$base" "$TREE"
	rm -f "$TREE/.unpacked"
	(
		cd "$TREE"
		base_env
		git init -q -b main .
		git config user.name "VT-d cache tags project"
		git config user.email "vtd-cache-tags@example.org"
		git config core.abbrev 12
		# Exports carry no "-- <git version>" signature; neither does a
		# plain format-patch here, so both compare equal.
		git config format.signature ""
		echo "/.debian-version" >> .git/info/exclude
		# Debian's packaging appends "/*" to the top .gitignore, which would
		# hide every new file of a patch from git add; drop that rule only.
		sed -i -e '/^# Debian packaging: ignore everything/,/^!\/debian\/$/d' .gitignore
		git add -A -f
		git commit -q -m "Debian linux-source-6.1 $debver" \
			-m "Unpacked from linux-source-6.1_${debver}_all.deb (kernel $(make -s kernelversion)).
The only change: the Debian packaging rule that ignores every top-level
path is dropped from .gitignore, so files that patches add can be added."
		git tag -f "$BASE_TAG" >/dev/null
	)
	for f in $(series_files); do
		n=$((n + 1))
		if ! git -C "$TREE" am -q --committer-date-is-author-date "$f" >"$WORK/am.log" 2>&1; then
			git -C "$TREE" am --abort >/dev/null 2>&1 || true
			git -C "$TREE" reset -q --hard "$BASE_TAG"
			cat "$WORK/am.log" >&2
			die "patch $n, $(basename "$f"), does not apply to Debian linux-source-6.1 $debver.
The tree was reset to the base; no part of the series is applied.
If Debian moved the 6.1 base, rebase the series (make tree on the old base, git rebase)."
		fi
	done
	git -C "$TREE" update-ref $APPLIED_REF HEAD
	log "tree ready: $TREE, base $debver + $n patches"
}

case ${1:-ensure} in
create) create ;;
ensure)
	if [ ! -d "$TREE/.git" ]; then create
	elif in_sync; then git -C "$TREE" update-ref $APPLIED_REF HEAD
	elif untouched; then log "patches/ changed since the tree was made: remaking it"; create
	else log "NOTE: testing the tree as it is: it holds work not yet exported to patches/ (make export)"
	fi ;;
status)
	if [ ! -d "$TREE/.git" ]; then echo "no tree"; exit 1; fi
	if in_sync; then echo "in sync"; else echo "differs from patches/"; exit 1; fi ;;
rev)
	[ -d "$TREE/.git" ] || create
	if [ "$2" = stock ]; then git -C "$TREE" rev-parse "$BASE_TAG"
	else
		c=$(git -C "$TREE" stash create)
		[ -n "$c" ] && log "NOTE: including uncommitted changes of $TREE"
		git -C "$TREE" rev-parse "${c:-HEAD}"
	fi ;;
checkout)
	if [ ! -f "$SRC/Makefile" ]; then
		rm -rf "$SRC"
		git -C "$TREE" worktree prune
		git -C "$TREE" worktree add -q --detach "$SRC" "$2"
	fi
	git -C "$SRC" checkout -q -f --detach "$2"
	git -C "$SRC" clean -q -fd >/dev/null ;;
*) die "usage: tree.sh create|ensure|status|rev VARIANT|checkout REV" ;;
esac
