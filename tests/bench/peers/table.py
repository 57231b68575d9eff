#!/usr/bin/env python3
"""table.py - the benchmark table of tests/bench/run.sh, plain aligned text.

    table.py TIMES.tsv SIZES.tsv GROUPS.tsv MEMBW_GBPS < HEADING

TIMES.tsv: data set, query, tool, cores, seconds (or a word such as n/a),
one line per run. SIZES.tsv: data set, bytes. GROUPS.tsv: data set, query,
groups in mpibatch's answer. For each query and tool: the median wall time,
input GB/s per core (bytes / seconds / cores) and the ratio to mpibatch with
the same number of cores (peer time / mpibatch time: > 1 means mpibatch is
faster); mpibatch on 2 ranks shows its speed-up over 1 rank instead.
"""
import statistics
import sys

DATA = {"a": "(a) group-by table, id1..id6 v1..v3",
        "b": "(b) the same with quoted keys and a quoted note (commas, newlines)",
        "c": "(c) wide table, 40 columns, 3 used",
        "d": "(d) flight records (dates, text, NULLs, quoted remarks)",
        "ceiling": "the machine's ceiling: reading (a) from the page cache"}
QUERY = {"few": "few: by id1", "many": "many: by id3", "two": "two keys: id1,id2",
         "all": "all 11 aggs: by id1", "ceiling": "read speed",
         "sql-filter": "SQL: WHERE, by id1", "sql-month": "SQL: month buckets",
         "sql-minmax": "SQL: text min/max"}


def rows(path):
    with open(path, encoding="utf-8") as f:  # tab-separated
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 64
    times, sizes, groups = rows(argv[0]), dict(rows(argv[1])), rows(argv[2])
    ngroups = {(d, q): int(n) for d, q, n in groups}
    runs, order = {}, []
    for d, q, tool, cores, s in times:
        key = (d, q, tool)
        if key not in runs:
            runs[key] = (int(cores), [])
            order.append(key)
        runs[key][1].append(s)

    def median(key):
        vals = [float(s) for s in runs.get(key, (0, []))[1] if s.replace(".", "", 1).isdigit()]
        return statistics.median(vals) if vals else None

    out = [line.rstrip("\n") for line in sys.stdin]
    fmt = "%-27s %-11s %5s %4s %9s %10s  %s"
    last_d = last_q = None
    for d, q, tool in order:
        cores, vals = runs[(d, q, tool)]
        if d != last_d:
            title = "data set %s" % DATA[d] if d in DATA and d != "ceiling" else DATA.get(d, d)
            out += ["", "%s, %.2f GB" % (title, int(sizes[d]) / 1e9),
                    fmt % ("query (groups)", "tool", "cores", "runs", "median s", "GB/s/core",
                          "vs mpibatch")]
            last_d, last_q = d, None
        label = ""
        if q != last_q:
            label = QUERY.get(q, q)
            if (d, q) in ngroups and d != "ceiling":
                label += " (%d)" % ngroups[(d, q)]
            last_q = q
        m = median((d, q, tool))
        if m is None:
            word = next((s for s in vals if not s.replace(".", "", 1).isdigit()), "n/a")
            out.append((fmt % (label, tool, cores, "", word, "", "")).rstrip())
            continue
        gbs = int(sizes[d]) / 1e9 / m / cores
        ref = median((d, q, "mpibatch-%d" % cores))
        if tool == "mpibatch-2":
            one = median((d, q, "mpibatch-1"))
            ratio = "x%.2f vs 1 rank" % (one / m) if one else ""
        elif tool.startswith("mpibatch") or d == "ceiling":
            ratio = ""
        else:
            ratio = "%.2f" % (m / ref) if ref else "n/a"
        out.append((fmt % (label, tool, cores, len(vals), "%.3f" % m, "%.3f" % gbs,
                           ratio)).rstrip())
    try:
        line = fmt % ("", "memory loop", 1, "", "", "%.3f" % float(argv[3]), "")
    except ValueError:
        line = fmt % ("", "memory loop", 1, "", "n/a", "", "")
    out.append(line.rstrip())
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
