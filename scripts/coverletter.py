#!/usr/bin/env python3
"""Carry the hand-written part of a cover letter into a regenerated one.

usage: coverletter.py OLD NEW [DATE]

git format-patch --cover-letter writes a template whose subject is
'*** SUBJECT HERE ***' and whose blurb is '*** BLURB HERE ***', followed by
the shortlog and diffstat it computed. We keep OLD's subject and blurb (the
text before its shortlog) and NEW's shortlog and diffstat.
"""
import os
import re
import sys

SHORTLOG = re.compile(r'^\S.* \(\d+\):$')


def split(text):
    head, _, body = text.partition('\n\n')
    return head, body


def blurb_of(body):
    lines = body.split('\n')
    for i, line in enumerate(lines):
        if SHORTLOG.match(line):
            return '\n'.join(lines[:i]).rstrip('\n')
    return body.rstrip('\n')


def main(old_path, new_path, date=None):
    with open(new_path) as f:
        new = f.read()
    if date:
        # The template is dated now; the newest commit's date keeps
        # re-exports of an unchanged series byte-identical.
        new = re.sub(r'^Date: .*$', 'Date: ' + date, new, count=1, flags=re.M)
    if not os.path.exists(old_path):
        with open(new_path, 'w') as f:
            f.write(new)
        return
    with open(old_path) as f:
        old = f.read()
    old_head, old_body = split(old)
    m = re.search(r'^Subject: \[PATCH[^\]]*\] (.*(?:\n [^\n]*)*)', old_head, re.M)
    subject = m.group(1) if m else None
    blurb = blurb_of(old_body)
    if subject and '*** SUBJECT HERE ***' not in subject:
        new = new.replace('*** SUBJECT HERE ***', subject, 1)
    if blurb and '*** BLURB HERE ***' not in blurb:
        new = new.replace('*** BLURB HERE ***', blurb, 1)
    with open(new_path, 'w') as f:
        f.write(new)


if __name__ == '__main__':
    main(*sys.argv[1:4])
