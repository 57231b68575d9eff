#!/usr/bin/env python3
"""oracle.py - an independent exact reference for mpibatch's merged result CSV.

Reads the input files with the csv module, computes every aggregate exactly
with fractions.Fraction and prints the result the way `mpibatch results
--merge` must. A column of only integers is BIGINT: its sums are exact
integers. Any other aggregated column is DOUBLE, as the query an --agg job
stands for types it: each value is first the double nearest its text, and
sums and variances are the exact values of those doubles, rounded once,
and a mean is that sum divided by the count (as DuckDB's avg). Written for the integration tests only: it deliberately shares
no code or algorithm with the C implementation (no scaled integers, no
hand-written rounding) and does not enforce the C program's exact range
(38 digits, 256-bit sums): test data is expected to stay inside it.

    python3 tests/oracle.py --group-by a,b --agg "count(*), sum(x)" FILE...

Exit status: 0 ok, 64 bad arguments, 65 bad data (message on stderr).
"""

import argparse
import csv
import io
import math
import re
import sys
from fractions import Fraction

EX_USAGE, EX_DATAERR = 64, 65

KINDS = {"count": "count", "sum": "sum", "mean": "mean", "avg": "mean",
         "min": "min", "max": "max", "var": "var", "stddev": "stddev"}
NUMERIC = {"sum", "mean", "min", "max", "var", "stddev"}

ITEM = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*([^()]*?)\s*\)", re.S)
NUMBER = re.compile(r"[ \t]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")


class Fail(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


def parse_aggs(text):
    """[(text, kind, column or None)] from "count(*), sum(x)"."""
    out = []
    for piece in text.split(","):
        item = piece.strip()
        m = ITEM.fullmatch(item)
        if not m:
            raise Fail(EX_USAGE, "bad aggregate %r" % item)
        name, arg = m.group(1).lower(), m.group(2)
        if name not in KINDS:
            raise Fail(EX_USAGE, "unknown aggregate %r" % m.group(1))
        kind = KINDS[name]
        if arg == "*":
            if kind != "count":
                raise Fail(EX_USAGE, "'*' is only allowed in count(*)")
            kind, arg = "count(*)", None
        elif arg == "":
            raise Fail(EX_USAGE, "%s() needs a column" % name)
        out.append((item, kind, arg))
    return out


def read_records(path, delimiter):
    """Yields (line number, fields) for every non-blank record of a file."""
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode("utf-8", "surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                        quotechar='"', doublequote=True, strict=True)
    try:
        for fields in reader:
            if fields:
                yield reader.line_num, fields
    except csv.Error as e:
        raise Fail(EX_DATAERR, "%s:%d: %s" % (path, reader.line_num, e))


class Column:
    """Exact running values of one (group, column)."""

    def __init__(self):
        self.n = 0
        self.total = Fraction(0)      # of the values as written (BIGINT)
        self.squares = Fraction(0)
        self.dtotal = Fraction(0)     # of their doubles (DOUBLE)
        self.dsquares = Fraction(0)
        self.low = None
        self.high = None

    def take(self, x):
        d = Fraction(float(x))        # exact: the double itself
        self.n += 1
        self.total += x
        self.squares += x * x
        self.dtotal += d
        self.dsquares += d * d
        self.low = x if self.low is None else min(self.low, x)
        self.high = x if self.high is None else max(self.high, x)


class Group:
    def __init__(self, columns):
        self.rows = 0
        self.cols = {c: Column() for c in columns}


def shortest(x):
    """The correctly rounded double of x as its shortest text that reads
    back (Python's repr, which is what mpibatch and DuckDB print)."""
    return repr(float(x))


def result(group, kind, col, integral):
    if kind == "count(*)":
        return str(group.rows)
    c = group.cols[col]
    if kind == "count":
        return str(c.n)
    if c.n == 0 or (kind in ("var", "stddev") and c.n < 2):
        return ""
    if kind in ("sum", "min", "max"):
        if integral[col]:
            v = {"sum": c.total, "min": c.low, "max": c.high}[kind]
            assert v.denominator == 1
            return str(v.numerator)
        return shortest({"sum": c.dtotal, "min": c.low, "max": c.high}[kind])
    total, squares = (c.total, c.squares) if integral[col] else (c.dtotal, c.dsquares)
    if kind == "mean":               # DOUBLE: the rounded sum divided by n
        return shortest(total / c.n) if integral[col] else repr(float(total) / c.n)
    var = (squares - total * total / c.n) / (c.n - 1)
    if kind == "var":
        return shortest(var)
    return repr(math.sqrt(float(var)))


def quote(field):
    if any(ch in field for ch in ',"\r\n') or field[:1] == " " or field[-1:] == " ":
        return '"' + field.replace('"', '""') + '"'
    return field


def column_index(names, wanted, where):
    try:
        return names.index(wanted)
    except ValueError:
        raise Fail(EX_DATAERR, "%s: no column named %r" % (where, wanted))


def aggregate(args, keys, aggs):
    counted = sorted({col for _, kind, col in aggs if col is not None})
    numeric = sorted({col for _, kind, col in aggs if kind in NUMERIC})
    groups, integral = {}, {c: True for c in numeric}
    for path in args.files:
        names, width = None, None
        for line, fields in read_records(path, args.delimiter):
            if names is None:
                width = len(fields)
                names = fields if args.header else [str(i + 1) for i in range(width)]
                idx = {c: column_index(names, c, path) for c in set(keys) | set(counted)}
                if args.header:
                    continue
            if len(fields) != width:
                raise Fail(EX_DATAERR, "%s:%d: %d fields, the header has %d"
                           % (path, line, len(fields), width))
            key = tuple(fields[idx[k]] for k in keys)
            group = groups.get(key)
            if group is None:
                group = groups[key] = Group(counted)
            group.rows += 1
            for col in counted:
                cell = fields[idx[col]]
                if cell == "":
                    continue
                if col not in integral:
                    group.cols[col].n += 1
                    continue
                if not NUMBER.fullmatch(cell):
                    raise Fail(EX_DATAERR, "%s:%d:%d: %r is not a number"
                               % (path, line, idx[col] + 1, cell))
                if any(ch in cell for ch in ".eE"):
                    integral[col] = False
                group.cols[col].take(Fraction(cell.strip(" \t")))
    return groups, integral


def render(args, keys, aggs, groups, integral):
    out = [",".join(quote(x) for x in list(keys) + [a[0] for a in aggs])]

    def sort_key(key):
        return tuple(x.encode("utf-8", "surrogateescape") for x in key)

    for key in sorted(groups, key=sort_key):
        g = groups[key]
        row = list(key) + [result(g, kind, col, integral) for _, kind, col in aggs]
        out.append(",".join(quote(x) for x in row))
    return "".join(line + "\n" for line in out)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--group-by", default="", help="comma-separated group columns")
    p.add_argument("--agg", required=True, help='e.g. "count(*), sum(x), mean(x)"')
    p.add_argument("--delimiter", default=",", help="one character; 'tab' or '\\t' for TAB")
    p.add_argument("--no-header", dest="header", action="store_false",
                   help="no header line; columns are named 1, 2, ...")
    p.add_argument("files", nargs="+", metavar="FILE")
    args = p.parse_args(argv)
    if args.delimiter in ("tab", "\\t"):
        args.delimiter = "\t"
    try:
        if len(args.delimiter) != 1:
            raise Fail(EX_USAGE, "--delimiter must be one character")
        keys = [k.strip() for k in args.group_by.split(",")] if args.group_by.strip() else []
        aggs = parse_aggs(args.agg)
        groups, integral = aggregate(args, keys, aggs)
        text = render(args, keys, aggs, groups, integral)
    except Fail as e:
        print("oracle: %s" % e, file=sys.stderr)
        return e.code
    except OSError as e:
        print("oracle: %s" % e, file=sys.stderr)
        return EX_DATAERR
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    return 0


if __name__ == "__main__":
    csv.field_size_limit(1 << 30)
    sys.exit(main(sys.argv[1:]))
