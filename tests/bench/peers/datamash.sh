#!/bin/sh
# datamash.sh - the GNU datamash peer: `datamash -s -t, --header-in groupby`
# on an unsorted file, result written as CSV like mpibatch's. datamash splits
# on every comma and newline (no CSV quoting), so it cannot read quoted
# fields; run.sh does not give it such files.
# Usage: datamash.sh IN OUT THREADS GROUP_BY AGGS [INT_COLS]
set -eu
[ $# -ge 5 ] || { echo "usage: datamash.sh IN OUT THREADS GROUP_BY AGGS [INT_COLS]" >&2; exit 64; }
in=$1 out=$2 keys=$4 aggs=$5
header=$(head -n 1 "$in" | tr -d '\r')

colno() { # NAME: its 1-based number in the header
    printf '%s\n' "$header" | tr ',' '\n' | awk -v n="$1" '$0 == n { print NR; f = 1; exit } END { if (!f) exit 1 }' ||
        { echo "datamash.sh: no column $1" >&2; exit 64; }
}

groups=""
for k in $(printf '%s' "$keys" | tr ',' ' '); do
    groups="$groups${groups:+,}$(colno "$k")"
done
first=${groups%%,*}
ops=""
for a in $(printf '%s' "$aggs" | tr ',' ' '); do
    fn=${a%%(*}
    col=${a#*(}
    col=${col%)}
    case "$fn" in
    count) op=count; [ "$col" = "*" ] && col="" ;;
    sum | mean | min | max) op=$fn ;;
    avg) op=mean ;;
    var) op=svar ;;
    stddev) op=sstdev ;;
    *) echo "datamash.sh: unsupported aggregate $a" >&2; exit 64 ;;
    esac
    if [ -z "$col" ]; then n=$first; else n=$(colno "$col"); fi
    ops="$ops $op $n"
done
{
    printf '%s,%s\n' "$keys" "$aggs"
    # shellcheck disable=SC2086 # ops is a list of "OP COLUMN" words
    LC_ALL=C datamash -s -t, --header-in --format '%.17g' groupby "$groups" $ops < "$in"
} > "$out"
