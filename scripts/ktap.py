#!/usr/bin/env python3
"""make test's results as KTAP v1, the format of the kernel's own tests.

usage: ktap.py RESULTS OUT

RESULTS is the file result() in lib.sh appends to, a line per result:
STATUS<TAB>name<TAB>profile<TAB>detail, STATUS PASS, FAIL or SKIP. OUT
gets one KTAP test per line, in order, its detail as a diagnostic line
above it. The tree's tools/testing/kunit/kunit.py parse reads OUT, and
exits non-zero when a test in it failed. Standard library only.
"""
import sys


def ktap(rows):
    out = ['KTAP version 1', '1..%d' % len(rows)]
    for n, (status, name, profile, detail) in enumerate(rows, 1):
        # '#' starts a directive on a result line: keep it out of names.
        desc = (name if profile in ('', '-') else '%s %s' % (name, profile)).replace('#', '_')
        if detail and status != 'SKIP':
            out.append('# %s' % detail)
        if status == 'PASS':
            out.append('ok %d %s' % (n, desc))
        elif status == 'SKIP':
            out.append('ok %d %s # SKIP %s' % (n, desc, detail))
        else:
            out.append('not ok %d %s' % (n, desc))
    return '\n'.join(out) + '\n'


def rows(path):
    res = []
    with open(path, errors='replace') as f:
        for line in f:
            parts = line.rstrip('\n').split('\t')
            if len(parts) < 2 or parts[0] not in ('PASS', 'FAIL', 'SKIP'):
                continue
            parts += [''] * (4 - len(parts))
            res.append(tuple(parts[:4]))
    return res


def main(src, dst):
    with open(dst, 'w') as f:
        f.write(ktap(rows(src)))


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
