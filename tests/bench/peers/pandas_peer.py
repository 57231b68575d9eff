#!/usr/bin/env python3
"""pandas_peer.py - the pandas peer: read_csv with usecols and dtypes,
groupby + named aggregation, result written as CSV like mpibatch's (keys,
then the aggregates as written, rows sorted by key). Single-threaded, as
pandas is. Runs under Debian's /usr/bin/python3 (python3-pandas).

    pandas_peer.py IN OUT THREADS GROUP_BY AGGS [INT_COLS]
"""
import re
import sys

import pandas as pd

KINDS = {"count": "count", "sum": "sum", "mean": "mean", "avg": "mean",
         "min": "min", "max": "max", "var": "var", "stddev": "std"}


def main(argv):
    if len(argv) < 5:
        sys.stderr.write(__doc__)
        return 64
    path, out, _threads, group_by, aggs = argv[:5]
    ints = set(filter(None, argv[5].split(","))) if len(argv) > 5 else set()
    keys = [k for k in group_by.split(",") if k]
    named = {}
    cols = list(keys)
    for text in filter(None, (s.strip() for s in aggs.split(","))):
        m = re.fullmatch(r"([a-z]+)\((\*|[A-Za-z0-9_]+)\)", text)
        if not m or m.group(1) not in KINDS:
            sys.stderr.write("bad aggregate %s\n" % text)
            return 64
        if m.group(2) == "*":
            named[text] = (keys[0], "size")
        else:
            named[text] = (m.group(2), KINDS[m.group(1)])
            if m.group(2) not in cols:
                cols.append(m.group(2))
    dtype = {c: ("int64" if c in ints else "float64") for c in cols if c not in keys}
    dtype.update({k: str for k in keys})
    df = pd.read_csv(path, usecols=cols, dtype=dtype, engine="c")
    res = df.groupby(keys, sort=True).agg(**named).reset_index()
    res.to_csv(out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
