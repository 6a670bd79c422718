#!/usr/bin/env bash
# Make $TREE: a git repo of the Debian base (one commit, tagged vtd-base)
# with patches/ applied by git am, one commit per patch.
#   tree.sh create   make it anew (refuses to drop unexported commits)
#   tree.sh ensure   make it if missing or stale; keep local work
#   tree.sh status   say whether the tree and patches/ agree
#   tree.sh checkout REV   put REV in $SRC, the worktree builds compile from.
#                    One path for every variant lets ccache and make reuse
#                    objects between stock, series and per-patch builds.
#                    (The debug and kcsan kernels have their own:
#                    $SRC_DEBUG, by VTD_SRC.)
#   tree.sh rev series|debug|stock   the commit a variant builds: the base, or
#                    HEAD, plus one commit of any uncommitted changes
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

# What went wrong in a failed git am, from its log: a patch that does not
# apply (a conflict with the base) or git itself failing (I/O, index).
am_failure() {
	if grep -qE '^(error: patch failed|error: .*: patch does not apply|Patch failed at|error: .*already exists in index|error: .*does not exist in index)' "$1"; then
		echo conflict
	else
		echo git
	fi
}

create() {
	local base debver f n=0 new=$TREE.new why
	base=$("$TOP/scripts/base.sh")
	debver=$(cat "$base/.debian-version")
	if [ -d "$TREE/.git" ] && [ -z "${FORCE:-}" ] && ! in_sync && ! untouched; then
		die "$TREE holds commits or changes that are not in patches/.
Run 'make export' to keep them, or 'make tree FORCE=1' to throw them away."
	fi
	# The new tree is made beside the old one and takes its place only when
	# every patch applied: a failed or interrupted apply leaves no tree that
	# could pass for the series, or for local work.
	rm -rf "$new"
	mkdir -p "$WORK"
	log "copying base $debver to $new"
	cp -a "$base" "$new"
	rm -f "$new/.unpacked"
	(
		cd "$new"
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
		if ! git -C "$new" am -q --committer-date-is-author-date "$f" >"$WORK/am.log" 2>&1; then
			sed 's/^/  git am: /' "$WORK/am.log" >&2
			why=$(am_failure "$WORK/am.log")
			rm -rf "$new"
			if [ "$why" = conflict ]; then
				die "patch $n, $(basename "$f"), does not apply to Debian linux-source-6.1 $debver (git am's words above; tested on $(tested_base)).
$( [ -d "$TREE/.git" ] && echo "The existing $TREE is left as it was." || echo "No tree was made.")
If Debian moved the 6.1 base, rebase the series (BASE_VERSION=$(tested_base) make tree, then git rebase onto the new base)."
			fi
			die "git failed while applying patch $n, $(basename "$f") (git am's words above): not a conflict.
$( [ -d "$TREE/.git" ] && echo "The existing $TREE is left as it was." || echo "No tree was made.") Run the command again."
		fi
	done
	git -C "$new" update-ref $APPLIED_REF HEAD
	rm -rf "$SRC" "$SRC_DEBUG" "$TREE"
	mv "$new" "$TREE"
	log "tree ready: $TREE, base $debver + $n patches"
}

# The commit a variant builds. Uncommitted changes of the tree become one
# commit on top of HEAD, so they are built and tested as they are; they are
# not a patch: checkpatch and bisect see only base..HEAD.
rev_of() {
	local t c
	if [ "$1" = stock ]; then git -C "$TREE" rev-parse "$BASE_TAG"; return; fi
	if [ -z "$(git -C "$TREE" status --porcelain -uno)" ]; then git -C "$TREE" rev-parse HEAD; return; fi
	t=$(git -C "$TREE" stash create)
	c=$(git -C "$TREE" commit-tree "$t^{tree}" -p HEAD -m "uncommitted changes of $TREE")
	log "NOTE: including uncommitted changes of $TREE (built and tested, not a patch of the series)"
	echo "$c"
}

case ${1:-ensure} in
create) create ;;
ensure)
	rm -rf "$TREE.new"	# what an interrupted create left
	if [ ! -d "$TREE/.git" ]; then create
	elif [ -d "$TREE/.git/rebase-apply" ] || [ -d "$TREE/.git/rebase-merge" ]; then
		die "$TREE is in the middle of a git am or rebase: finish it (--continue) or abort it (--abort) first"
	elif in_sync; then git -C "$TREE" update-ref $APPLIED_REF HEAD
	elif untouched; then log "patches/ changed since the tree was made: remaking it"; create
	else log "NOTE: testing the tree as it is: it holds work not yet exported to patches/ (make export)"
	fi ;;
status)
	if [ ! -d "$TREE/.git" ]; then echo "no tree"; exit 1; fi
	if in_sync; then echo "in sync"; else echo "differs from patches/"; exit 1; fi ;;
rev)
	[ -d "$TREE/.git" ] || create
	rev_of "$2" ;;
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
