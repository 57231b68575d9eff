#!/usr/bin/env python3
"""compare.py - does a peer's group-by result agree with mpibatch's?

    compare.py REFERENCE CANDIDATE [--rtol 1e-9] [--keys N]

Both files are result CSVs (header = group columns, then the aggregates as
written; with --keys N, as for SQL answers whose columns are aliases, the
first N columns are the keys). The candidate must have the same header, the same set of group
keys (row order is not compared), equal counts (count(*) and count(col)
exactly) and every other value within a relative tolerance: the peers use
double arithmetic, mpibatch rounds exact sums once, so the last digits may
differ but a wrong group or count may not. Empty, NaN and NULL are one value.
A value that is not a number in either file (a text min/max, a date) must be
the same text in both.

Exit status: 0 agree, 1 mismatch (the first one on stdout), 64 bad usage.
"""
import csv
import math
import sys


def read(path):
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError("%s: empty file" % path)
    return rows[0], rows[1:]


def nkeys(header):
    """Number of group columns: those before the first aggregate."""
    for i, name in enumerate(header):
        if "(" in name:
            return i
    return len(header)


def number(text):
    t = text.strip()
    if t == "" or t.lower() in ("nan", "null", "na", "none"):
        return None
    return float(t)


def same_value(a, b, rtol):
    """Numbers within rtol, anything else (text, dates) the same text."""
    try:
        return close(number(a), number(b), rtol)
    except ValueError:
        return a == b


def close(a, b, rtol):
    if a is None or b is None:
        return a is None and b is None
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= rtol * max(abs(a), abs(b)) or abs(a - b) <= 1e-300


def compare(ref_path, cand_path, rtol, keys=None):
    """None when they agree, else a message naming the first difference."""
    rh, rrows = read(ref_path)
    ch, crows = read(cand_path)
    if [h.replace(" ", "") for h in rh] != [h.replace(" ", "") for h in ch]:
        return "header differs: %s vs %s" % (",".join(rh), ",".join(ch))
    k = nkeys(rh) if keys is None else keys
    ref = {tuple(r[:k]): r[k:] for r in rrows}
    cand = {}
    for r in crows:
        if len(r) != len(ch):
            return "row of %d fields (want %d): %s" % (len(r), len(ch), r)
        if tuple(r[:k]) in cand:
            return "group %s twice" % (r[:k],)
        cand[tuple(r[:k])] = r[k:]
    if len(ref) != len(cand):
        return "%d groups, mpibatch has %d" % (len(cand), len(ref))
    for key in sorted(ref):
        if key not in cand:
            return "group %s missing" % (key,)
        for name, a, b in zip(rh[k:], ref[key], cand[key]):
            if name.startswith("count("):
                if int(float(a)) != int(float(b)):
                    return "group %s %s: %s, mpibatch %s" % (key, name, b, a)
            elif not same_value(a, b, rtol):
                return "group %s %s: %s, mpibatch %s" % (key, name, b, a)
    return None


def main(argv):
    rtol = 1e-9
    keys = None
    if "--keys" in argv:
        i = argv.index("--keys")
        keys = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    if "--rtol" in argv:
        i = argv.index("--rtol")
        rtol = float(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 64
    try:
        msg = compare(argv[0], argv[1], rtol, keys)
    except (OSError, ValueError) as e:
        msg = str(e)
    if msg:
        print(msg)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
