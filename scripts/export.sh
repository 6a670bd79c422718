#!/usr/bin/env bash
# Write the tree's commits since the base back to patches/: a cover letter,
# one file per commit and a series file. Output is stable: zero commit
# hashes, no git version signature, a fixed base-commit trailer.
. "$(dirname "$0")/lib.sh"
[ -d "$TREE/.git" ] || die "no tree at $TREE: run 'make tree' first"
[ -z "$(git -C "$TREE" status --porcelain -uno)" ] ||
	die "$TREE has uncommitted changes: commit them (or git commit --fixup) first"

n=$(git -C "$TREE" rev-list --count "$BASE_TAG..HEAD")
have=$(grep -cv -e '^#' -e '^[[:space:]]*$' "$TOP/patches/series" 2>/dev/null || true)
if [ "$n" -lt "${have:-0}" ] && [ -z "${FORCE:-}" ]; then
	die "$TREE holds $n commits since the base, but patches/series lists ${have}: exporting would drop patches.
If the tree was not made from patches/ (a failed apply, a reset), run 'make tree'.
To export fewer patches on purpose, run 'make export FORCE=1'."
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if [ "$n" -gt 0 ]; then
	# The version is the cover letter's ("[PATCH vN 00/NN]"), or VERSION=N.
	v=${VERSION:-$(series_version)}
	prefix=PATCH
	[ "$v" = 1 ] || prefix="PATCH v$v"
	git -C "$TREE" format-patch -q --zero-commit --no-signature --cover-letter \
		--base="$BASE_TAG" --subject-prefix="$prefix" -o "$out" "$BASE_TAG..HEAD"
	# Keep the hand-written subject and blurb of the existing cover letter.
	python3 "$TOP/scripts/coverletter.py" "$TOP/patches/0000-cover-letter.patch" \
		"$out/0000-cover-letter.patch" "$(git -C "$TREE" log -1 --format=%aD HEAD)"
fi
rm -f "$TOP"/patches/*.patch "$TOP/patches/series"
mkdir -p "$TOP/patches"
if [ "$n" -gt 0 ]; then
	cp "$out"/*.patch "$TOP/patches/"
	(cd "$TOP/patches" && ls [0-9][0-9][0-9][0-9]-*.patch | grep -v '^0000-cover-letter' > series)
else
	: > "$TOP/patches/series"
fi
git -C "$TREE" update-ref $APPLIED_REF HEAD
log "exported $n patches to patches/ (plus cover letter)"
