#!/bin/sh
# Damaged results: 300 seeded mutations (bit flips, truncations, byte
# overwrites) of a committed task's .h5, its ledger entry and its .csv. Each
# `mpibatch results --merge`, under `timeout 10`, must either fail with an
# error (exit 65 or 74) that names a file of the damaged task, or print
# exactly the true total: no crash (exit >= 128), no hang, never a silently
# wrong total. MB_MUTATIONS changes the number, MB_MUTATION_SEED the seed.
. tests/lib/tap.sh

mkdir -p "$T/data"
for s in 1 2; do
    "$GEN" --profile flights --rows 3000 --seed $s > "$T/data/f$s.csv"
done
"$MB" enqueue --queue "dir:$T/q" "$T"/data/*.csv > "$T/ids"
mb_run 2 "dir:$T/q" "$T/out" --job jobs/flights.job --idle-exit 0
is $? 0 "two tasks committed"
"$MB" results "$T/out" --merge > "$T/true.csv"
ok $? "the intact output reads back"
$ORACLE --group-by origin --agg "$(sed -n 's/^aggregates *= *//p' jobs/flights.job)" "$T"/data/*.csv > "$T/oracle.csv"
same_file "$T/true.csv" "$T/oracle.csv" "the intact total equals the oracle"

start=$(now)
python3 - "$MB" "$T/out" "$T/true.csv" "$T/work" "${MB_MUTATIONS:-300}" \
    "${MB_MUTATION_SEED:-86}" > "$T/summary" <<'EOF'
import os, random, shutil, subprocess, sys

mb, out, true_file, work, count, seed = sys.argv[1:7]
true = open(true_file, "rb").read()
rnd = random.Random(int(seed))
tasks = sorted(f[:-5] for f in os.listdir(os.path.join(out, ".ledger")) if f.endswith(".json"))
kinds = {"rejected": 0, "identical": 0, "crash": 0, "hang": 0, "wrong": 0, "unnamed": 0}
for i in range(int(count)):
    task = rnd.choice(tasks)
    r = rnd.random()
    target = (os.path.join(".ledger", task + ".json") if r < 0.35 else
              task + ".csv" if r < 0.45 else task + ".h5")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(out, work)
    path = os.path.join(work, target)
    data = bytearray(open(path, "rb").read())
    how = rnd.choice(["flip", "flip", "truncate", "overwrite"])
    if how == "flip":
        at = rnd.randrange(len(data))
        data[at] ^= 1 << rnd.randrange(8)
        what = "bit flip at %d" % at
    elif how == "truncate":
        at = rnd.randrange(len(data))
        data = data[:at]
        what = "truncated to %d" % at
    else:
        at = rnd.randrange(len(data))
        n = rnd.randint(1, 16)
        data[at:at + n] = bytes(rnd.randrange(256) for _ in range(n))[:len(data) - at]
        what = "%d bytes overwritten at %d" % (n, at)
    open(path, "wb").write(bytes(data))
    try:
        p = subprocess.run(["timeout", "10", mb, "results", work, "--merge"],
                           capture_output=True, timeout=30)
        rc, so, se = p.returncode, p.stdout, p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        rc, so, se = 124, b"", ""
    if rc == 124:
        kind = "hang"
    elif rc >= 128 or rc < 0:
        kind = "crash"
    elif rc == 0:
        kind = "identical" if so == true else "wrong"
    elif rc in (65, 74) and so == b"" and task in se and work in se:
        kind = "rejected"
    else:
        kind = "unnamed"
    kinds[kind] += 1
    if kind not in ("rejected", "identical"):
        print("# %s: %s of %s (exit %d): %s" % (kind, what, target, rc, se.strip()[:300]))
print(" ".join("%s=%d" % kv for kv in kinds.items()))
shutil.rmtree(work, ignore_errors=True)
EOF
end=$(now)
grep '^#' "$T/summary"
counts=$(tail -1 "$T/summary")
echo "# $counts ($(elapsed "$start" "$end") s)"
for k in crash hang wrong unnamed; do
    n=$(echo "$counts" | tr ' ' '\n' | sed -n "s/^$k=//p")
    case $k in
    crash) d="no mutation crashes results (exit >= 128)" ;;
    hang) d="no mutation makes results hang (timeout 10)" ;;
    wrong) d="no mutation gives a silently wrong total" ;;
    unnamed) d="every refusal exits 65/74, prints nothing and names the task's file" ;;
    esac
    is "$n" 0 "$d"
done
rej=$(echo "$counts" | tr ' ' '\n' | sed -n 's/^rejected=//p')
[ "${rej:-0}" -gt 0 ]; ok $? "mutations are rejected ($rej)"
"$MB" results "$T/out" --merge > "$T/after.csv"
same_file "$T/after.csv" "$T/true.csv" "the original output is untouched"
done_testing
