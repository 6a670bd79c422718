#!/usr/bin/env python3
"""Hold the series' cache_tag_* trace events against upstream's.

  traceformat.py SERIES-TRACE.H UPSTREAM-TRACE.H [UPSTREAM-NAME]

Reads the TRACE_EVENT, DECLARE_EVENT_CLASS and DEFINE_EVENT blocks of
both files (comments and preprocessor lines left out, each block's macro
arguments split at their top-level commas) and compares, token by token:
  - the events: every cache_tag_* event of either file is in the other,
    of the same class (a TRACE_EVENT is a class of its own), with the
    same TP_PROTO and TP_ARGS;
  - their classes: the same TP_PROTO and TP_ARGS, the same TP_STRUCT__entry
    (each field's macro, type and name, in order; not a __string()'s
    source), the same TP_printk format string and the same argument
    expressions.
TP_fast_assign is not compared: how the fields are filled (6.1's
two-argument __assign_str(), a guarded dev_name(), READ_ONCE()) is not
the events' format. The one difference allowed: __print_symbolic()
entries of CACHE_TAG_NESTING_* (6.1 has no nested domains) are left out
on both sides; the summary names those upstream has.

Prints one line per difference and exits 1; or, with none, one summary
line and exits 0. Standard library only.
"""
import collections
import re
import sys

EVENT_MACROS = ('TRACE_EVENT', 'DECLARE_EVENT_CLASS', 'DEFINE_EVENT')
# Other event macros (DEFINE_EVENT_PRINT, TRACE_EVENT_CONDITION, ...):
# not read; one that names a cache_tag_* event is a difference.
OTHER_MACRO = re.compile(r'^(TRACE_EVENT|DECLARE_EVENT_CLASS|DEFINE_EVENT)\w+$')
PREFIX = 'cache_tag_'
ALLOWED = re.compile(r'^CACHE_TAG_NESTING_\w+$')

TOKEN = re.compile(r'''
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<chr>'(?:[^'\\\n]|\\.)*')
  | (?P<id>[A-Za-z_]\w*)
  | (?P<num>\.?\d(?:[eEpP][+-]|[\w.])*)
  | (?P<op>\.\.\.|<<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|\#\#|\S)
''', re.X)
COMMENT_OR_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|/\*.*?\*/|//[^\n]*', re.S)


class Unreadable(Exception):
    pass


def strip(text):
    """The C text without comments, line continuations and preprocessor
    lines (#define, #include, #if ...)."""
    text = COMMENT_OR_LITERAL.sub(lambda m: m.group(0) if m.group(0)[0] in '"\'' else ' ', text)
    text = text.replace('\\\n', ' ')
    return '\n'.join(l for l in text.split('\n') if not l.lstrip().startswith('#'))


def tokens(text):
    return [m.group(0) for m in TOKEN.finditer(strip(text)) if m.lastgroup != 'ws']


def close(toks, i):
    """The index of the bracket that closes toks[i]."""
    pairs = {'(': ')', '[': ']', '{': '}'}
    stack = []
    for j in range(i, len(toks)):
        t = toks[j]
        if t in pairs:
            stack.append(pairs[t])
        elif t in ')]}':
            if not stack or stack.pop() != t:
                raise Unreadable('unbalanced %r' % t)
            if not stack:
                return j
    raise Unreadable('%r not closed' % toks[i])


def split_args(toks):
    """A macro's arguments (the tokens inside its parentheses), split at
    the top-level commas."""
    out, cur, depth = [], [], 0
    for t in toks:
        if t in '([{' and len(t) == 1:
            depth += 1
        elif t in ')]}' and len(t) == 1:
            depth -= 1
        if t == ',' and depth == 0:
            out.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur or out:
        out.append(cur)
    return out


def call(toks, name):
    """The arguments of NAME(...), which toks must be, whole."""
    if len(toks) < 3 or toks[0] != name or toks[1] != '(' or close(toks, 1) != len(toks) - 1:
        raise Unreadable('%s(...) expected, found %s' % (name, render(toks)[:60]))
    return split_args(toks[2:-1])


def render(toks):
    """Tokens as C text, for the messages."""
    s = ' '.join(toks)
    s = re.sub(r' ?(->|\.(?!\.\.)) ?', r'\1', s)
    s = re.sub(r'([(\[{]) ', r'\1', s)
    s = re.sub(r' ([)\]},;])', r'\1', s)
    s = re.sub(r'(\w) ([(\[])', r'\1\2', s)
    return s


def without_nesting(toks, dropped):
    """TOKS with every __print_symbolic() entry { CACHE_TAG_NESTING_*, ... }
    left out (and added to DROPPED)."""
    out, i = [], 0
    while i < len(toks):
        if toks[i] == '__print_symbolic' and i + 1 < len(toks) and toks[i + 1] == '(':
            j = close(toks, i + 1)
            parts = split_args(toks[i + 2:j])
            kept = [parts[0]] if parts else []
            for p in parts[1:]:
                if len(p) > 2 and p[0] == '{' and ALLOWED.match(p[1]):
                    dropped.add(p[1])
                else:
                    kept.append(p)
            out += ['__print_symbolic', '(']
            for n, p in enumerate(kept):
                out += ([','] if n else []) + without_nesting(p, dropped)
            out.append(')')
            i = j + 1
        else:
            out.append(toks[i])
            i += 1
    return out


# Which arguments of a TP_STRUCT__entry macro are the field's type and
# name ('t', 'n', compared), or its length ('l', compared: part of the
# type), or what fills it ('-', not compared: TP_fast_assign's business).
# A macro not listed has every argument compared.
FIELD_ARGS = {
    '__field': 'tn', '__field_ext': 'tn-', '__field_struct': 'tn', '__field_struct_ext': 'tn-',
    '__field_packed': 'tn', '__array': 'tnl', '__dynamic_array': 'tn-', '__rel_dynamic_array': 'tn-',
    '__string': 'n-', '__string_len': 'n--', '__rel_string': 'n-', '__rel_string_len': 'n--',
    '__bitmask': 'n-', '__rel_bitmask': 'n-', '__cpumask': 'n', '__rel_cpumask': 'n',
    '__sockaddr': 'n-', '__rel_sockaddr': 'n-',
}


def fields(toks):
    """TP_STRUCT__entry's fields, in order, as 'MACRO(TYPE, NAME)' with
    only the compared arguments."""
    out, i = [], 0
    while i < len(toks):
        if toks[i] == ';':
            i += 1
            continue
        if i + 1 >= len(toks) or toks[i + 1] != '(':
            raise Unreadable('a field macro expected, found %s' % render(toks[i:i + 4]))
        j = close(toks, i + 1)
        args = split_args(toks[i + 2:j])
        kinds = FIELD_ARGS.get(toks[i], 'x' * len(args))
        if len(args) != len(kinds):
            raise Unreadable('%s with %d arguments' % (render(toks[i:j + 1]), len(args)))
        out.append('%s(%s)' % (toks[i], ', '.join(render(a) for a, k in zip(args, kinds) if k != '-')))
        i = j + 1
    return out


def printk(args):
    """TP_printk's format string (its literals joined) and arguments."""
    if not args or not args[0] or not all(t.startswith('"') for t in args[0]):
        raise Unreadable('TP_printk without a format string')
    return ''.join(t[1:-1] for t in args[0]), args[1:]


Event = collections.namedtuple('Event', 'macro cls proto args')
Class = collections.namedtuple('Class', 'macro proto args fields fmt pargs')


def parse(text):
    """(events, classes, problems) of a trace.h: {name: Event}, {name:
    Class}; a TRACE_EVENT is an Event and a Class of the same name."""
    toks = tokens(text)
    events, classes, problems = {}, {}, []
    i = 0
    while i < len(toks):
        t = toks[i]
        if not (t in EVENT_MACROS or OTHER_MACRO.match(t)) or i + 1 >= len(toks) or toks[i + 1] != '(':
            i += 1
            continue
        try:
            j = close(toks, i + 1)
        except Unreadable as e:
            problems.append('%s at token %d: %s' % (t, i, e))
            break
        args = split_args(toks[i + 2:j])
        i = j + 1
        names = [a[0] for a in args[:2] if len(a) == 1]
        if t not in EVENT_MACROS:
            if any(n.startswith(PREFIX) for n in names):
                problems.append('%s(%s, ...): a macro this check does not read' % (t, ', '.join(names)))
            continue
        name = ' '.join(args[1 if t == 'DEFINE_EVENT' else 0]) if args else '?'
        try:
            if t == 'DEFINE_EVENT':
                if len(args) != 4:
                    raise Unreadable('%d arguments, not 4' % len(args))
                events[name] = Event(t, ' '.join(args[0]), call(args[2], 'TP_PROTO'), call(args[3], 'TP_ARGS'))
                continue
            if len(args) != 6:
                raise Unreadable('%d arguments, not 6' % len(args))
            fmt, pargs = printk(call(args[5], 'TP_printk'))
            call(args[4], 'TP_fast_assign')
            entry = call(args[3], 'TP_STRUCT__entry')
            if len(entry) > 1:
                raise Unreadable('TP_STRUCT__entry with a top-level comma')
            cls = Class(t, call(args[1], 'TP_PROTO'), call(args[2], 'TP_ARGS'),
                        fields(entry[0] if entry else []), fmt, pargs)
        except Unreadable as e:
            problems.append('%s(%s): cannot read it: %s' % (t, name, e))
            continue
        classes[name] = cls
        if t == 'TRACE_EVENT':
            events[name] = Event(t, name, cls.proto, cls.args)
    return events, classes, problems


def listing(arglist):
    return '(%s)' % ', '.join(render(a) for a in arglist)


def compare(series, upstream):
    """Differences of SERIES's cache_tag_* events from UPSTREAM's (the two
    files' text): (lines, what was compared, nesting entries left out)."""
    s_ev, s_cl, s_bad = parse(series)
    u_ev, u_cl, u_bad = parse(upstream)
    diffs = ['the series: %s' % p for p in s_bad] + ['upstream: %s' % p for p in u_bad]
    s_ev = {n: e for n, e in s_ev.items() if n.startswith(PREFIX)}
    u_ev = {n: e for n, e in u_ev.items() if n.startswith(PREFIX)}
    if not u_ev:
        diffs.append("upstream's file defines no %s* event: nothing compared" % PREFIX)
        return diffs, ([], []), set()

    def kind(e):
        return 'its own TRACE_EVENT' if e.macro == 'TRACE_EVENT' else e.cls

    for n in sorted(set(s_ev) | set(u_ev)):
        s, u = s_ev.get(n), u_ev.get(n)
        if s is None:
            diffs.append('event %s: missing from the series (upstream: class %s)' % (n, kind(u)))
        elif u is None:
            diffs.append('event %s: not upstream\'s (upstream has no such event; here class %s)' % (n, kind(s)))
        else:
            if (s.macro == 'TRACE_EVENT') != (u.macro == 'TRACE_EVENT') or s.cls != u.cls:
                diffs.append('event %s: class %s, upstream %s' % (n, kind(s), kind(u)))
            for what, a, b in (('TP_PROTO', s.proto, u.proto), ('TP_ARGS', s.args, u.args)):
                if a != b:
                    diffs.append('event %s: %s %s, upstream %s' % (n, what, listing(a), listing(b)))
    names = {e.cls for e in list(s_ev.values()) + list(u_ev.values())}
    names |= {c for c in list(s_cl) + list(u_cl) if c.startswith(PREFIX)}
    dropped = set()
    for n in sorted(names):
        s, u = s_cl.get(n), u_cl.get(n)
        if s is None or u is None:
            if s is None and u is None:
                diffs.append('class %s: used by an event, defined in neither file' % n)
            elif s is None:
                diffs.append('class %s: missing from the series' % n)
            else:
                diffs.append('class %s: not upstream\'s (upstream has no such class)' % n)
            continue
        if s.macro != u.macro:
            diffs.append('class %s: a %s, upstream a %s' % (n, s.macro, u.macro))
        for what, a, b in (('TP_PROTO', s.proto, u.proto), ('TP_ARGS', s.args, u.args)):
            if a != b:
                diffs.append('class %s: %s %s, upstream %s' % (n, what, listing(a), listing(b)))
        for k in range(max(len(s.fields), len(u.fields))):
            a = s.fields[k] if k < len(s.fields) else 'none'
            b = u.fields[k] if k < len(u.fields) else 'none'
            if a != b:
                diffs.append('class %s: TP_STRUCT__entry field %d: %s, upstream %s' % (n, k + 1, a, b))
        if s.fmt != u.fmt:
            diffs.append('class %s: TP_printk format "%s", upstream "%s"' % (n, s.fmt, u.fmt))
        sa = [without_nesting(a, set()) for a in s.pargs]
        ua = [without_nesting(a, dropped) for a in u.pargs]
        if len(sa) != len(ua):
            diffs.append('class %s: TP_printk has %d arguments, upstream %d' % (n, len(sa), len(ua)))
        for k in range(max(len(sa), len(ua))):
            a = render(sa[k]) if k < len(sa) else 'none'
            b = render(ua[k]) if k < len(ua) else 'none'
            if a != b:
                diffs.append('class %s: TP_printk argument %d: %s, upstream %s' % (n, k + 1, a, b))
    return diffs, (sorted(u_ev), sorted(names)), dropped


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    with open(argv[1]) as f:
        series = f.read()
    with open(argv[2]) as f:
        upstream = f.read()
    label = argv[3] if len(argv) > 3 else 'upstream'
    diffs, (evs, classes), dropped = compare(series, upstream)
    if diffs:
        for d in diffs:
            print(d)
        return 1
    print('%d %s* events (%s) in %d classes (%s) as in %s: class membership, TP_PROTO, TP_ARGS, '
          'TP_STRUCT__entry fields, TP_printk format and arguments; only upstream\'s '
          '__print_symbolic() entries %s left out' % (
              len(evs), PREFIX, ', '.join(evs), len(classes), ', '.join(classes), label,
              ', '.join(sorted(dropped)) or 'none'))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
