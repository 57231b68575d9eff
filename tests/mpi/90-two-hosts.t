#!/bin/sh
# Two hosts: one mpirun spans two network namespaces joined by a veth pair,
# each a "host" with its own address and hostname; the daemon on the second
# host is started by a launch agent (the stand-in for ssh) and the ranks talk
# TCP only. The run drains a shared dir: queue, and every per-task result
# and the merged total are byte-identical to a one-host run of the same
# files. Each host runs its own Scheduled Events watcher. A stop requested
# through the launch wrapper checkpoints on both hosts (exit 75) and the
# two-host rerun resumes to the same bytes. Skipped where namespaces cannot
# be created.
. tests/lib/tap.sh
. tests/lib/netns.sh

if ! why=$(netns_check); then
    echo "1..0 # SKIP $why"
    exit 0
fi
trap 'netns_down; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM HUP
netns_reap
NETNS_TIMEOUT=${NETNS_TIMEOUT:-300}

netns_up; up=$?
ok $up "two hosts: $NS_A ($NS_ADDR_A) and $NS_B ($NS_ADDR_B) on a veth pair"
if [ $up -ne 0 ]; then
    echo "Bail out! the two hosts could not be set up"
    exit 1
fi
netns_agent "$T/agent"
printf '%s slots=1\n%s slots=1\n' "$NS_ADDR_A" "$NS_ADDR_B" > "$T/hosts"
mkdir -p "$T/nosys"

# No Scheduled Events service here: a refused local port, so that the
# watcher's probe never leaves the machine (nor the namespace).
MPIBATCH_IMDS_ENDPOINT=http://127.0.0.1:9
export MPIBATCH_IMDS_ENDPOINT
MPIRUN="$MPIRUN -x MPIBATCH_IMDS_ENDPOINT"

# The two-host launch: mpirun on host A through the launch wrapper (fabric
# detection pointed at an empty /sys, so it adds only `--mca pml ob1` to our
# TCP btl list), one slot per host, the agent for host B, and TCP for both
# the runtime (oob) and MPI traffic (btl) confined to the test subnet.
# Only the variables named with -x reach the ranks (netns_inner): the
# endpoint, and the sanitizer options when the suite runs under ASan.
WRAP="$(pwd)/hpc-templates/launch/mpibatch-mpirun"
fwd="" xs=""
for v in MPIBATCH_IMDS_ENDPOINT ASAN_OPTIONS UBSAN_OPTIONS; do
    eval "val=\${$v-}"
    [ -n "$val" ] && fwd="$fwd $v=$val" xs="$xs -x $v"
done
MPI2="env MPIBATCH_SYSFS=$T/nosys$fwd $WRAP
 --allow-run-as-root -np 2 --hostfile $T/hosts --mca plm_rsh_agent $T/agent
 --mca btl tcp,self --mca btl_tcp_if_include $NS_NET.0/24
 --mca oob_tcp_if_include $NS_NET.0/24$xs"
MPI2=$(printf '%s' "$MPI2" | tr '\n' ' ')

out=$(netns_on A "MPIBATCH_LAUNCH_DRY_RUN=1 $MPI2 true")
case $out in
    "mpirun --mca pml ob1 --allow-run-as-root"*"--mca btl tcp,self"*) ok 0 "the wrapper adds only pml ob1 to our TCP btl list" ;;
    *) ok 1 "the wrapper adds only pml ob1 to our TCP btl list"; echo "#   $out" ;;
esac

# Where the ranks run: rank 0 on host A (started by mpirun itself), rank 1
# on host B (started by the agent), each with its own hostname and address.
cat > "$T/whereami" <<'EOF'
#!/bin/sh
echo "rank $OMPI_COMM_WORLD_RANK host $(hostname) addr $(ip -4 -o addr show scope global | awk '{print $4}' | paste -sd' ' -)"
EOF
chmod 755 "$T/whereami"
netns_on A "$MPI2 $T/whereami" 2> "$T/where.err" | sort > "$T/where"
ok $? "a two-host mpirun runs a command on both hosts"
printf 'rank 0 host %s addr %s/24\nrank 1 host %s addr %s/24\n' \
    "$NS_A" "$NS_ADDR_A" "$NS_B" "$NS_ADDR_B" > "$T/where.want"
same_file "$T/where" "$T/where.want" "rank 0 on host A, rank 1 on host B (hostname, address)"
n=$(grep -c " orted " "$T/agent.log")
is "$n" 1 "the agent started one daemon"
contains "$T/agent.log" "^$NS_ADDR_B .*orted .*orte_hnp_uri .*tcp://$NS_ADDR_A:" \
    "it started it on host B, calling back to mpirun on host A"

# Real work from a shared dir: queue, once on one host and once on two.
mkdir -p "$T/data"
"$GEN" --profile stress --rows 20000 --seed 91 --groups 40 > "$T/data/a.csv"
"$GEN" --profile stress --rows 30000 --seed 92 --groups 5000 > "$T/data/b.csv"
"$GEN" --profile stress --rows 8000 --seed 93 --groups 7 > "$T/data/c.csv"
AGG='count(*), count(i), sum(i), mean(f), min(f), max(big), var(i), stddev(f), sum(big)'
cat > "$T/stress.job" <<EOF
[job]
name       = two-hosts
group_by   = k1,k2
aggregates = $AGG
[run]
chunk_size = 32K
EOF
"$MB" enqueue --queue "dir:$T/q1" "$T"/data/*.csv > /dev/null
"$MB" enqueue --queue "dir:$T/q2" "$T"/data/*.csv > /dev/null

t0=$(now)
LOG=$T/one.log mb_run 2 "dir:$T/q1" "$T/out1" --job "$T/stress.job" -v
ok $? "one host: np=2 drained the queue ($(elapsed "$t0" "$(now)") s)"

t0=$(now)
netns_on A "$MPI2 $MB run -v --queue dir:$T/q2 --out $T/out2 --job $T/stress.job" 2> "$T/two.log"
ok $? "two hosts: np=2 drained the queue ($(elapsed "$t0" "$(now)") s)"

n=$(find "$T/out1" -maxdepth 1 -name '*.csv' | wc -l)
is "$n" 3 "three task results on one host"
for f in "$T/out1"/*.csv "$T/out1"/*.h5; do
    same_file "$f" "$T/out2/${f##*/}" "two hosts: ${f##*/} identical to one host"
done
"$MB" results "$T/out1" --merge > "$T/merged1.csv"
"$MB" results "$T/out2" --merge > "$T/merged2.csv"; ok $? "two hosts: results --merge"
same_file "$T/merged2.csv" "$T/merged1.csv" "two hosts: merged result identical to one host"
$ORACLE --group-by k1,k2 --agg "$AGG" "$T"/data/*.csv > "$T/oracle.csv"
same_file "$T/merged2.csv" "$T/oracle.csv" "two hosts: merged result equals the oracle"
st=$("$MB" queue stats --queue "dir:$T/q2" | sed -n 's/^approximate_messages //p')
is "$st" 0 "two hosts: queue empty afterwards"

# One Scheduled Events watcher per host: the lowest rank of each node.
contains "$T/two.log" "^[0-9T:-]+Z $NS_A mpibatch\[0\]: debug: no instance metadata service" "two hosts: rank 0 watches host A (its log lines name it)"
contains "$T/two.log" "^[0-9T:-]+Z $NS_B mpibatch\[1\]: debug: no instance metadata service" "two hosts: rank 1 watches host B (its log lines name it)"
n=$(grep -c "no instance metadata service" "$T/one.log")
is "$n" 1 "one host: a single watcher for both ranks"

# A stop through the launch wrapper on host A reaches the rank on host B:
# both checkpoint (shared storage), mpirun exits 75, and a two-host rerun
# resumes and commits the same bytes as an uninterrupted one-host run.
"$GEN" --profile flights --rows 100000 --seed 94 > "$T/data/f.csv"
FOPTS="--job $(pwd)/jobs/flights.job --chunk-size 64K --visibility-timeout 5"
"$MB" enqueue --queue "dir:$T/fq1" "$T/data/f.csv" > /dev/null
"$MB" enqueue --queue "dir:$T/fq2" "$T/data/f.csv" > /dev/null
# shellcheck disable=SC2086 # FOPTS is a list of words
LOG=$T/fone.log mb_run 2 "dir:$T/fq1" "$T/fout1" $FOPTS
ok $? "one host: flights reference run"

STOP="exec env MPIBATCH_FAULT_SLEEP_MS=60 $MPI2 -x MPIBATCH_FAULT_SLEEP_MS"
netns_on A "echo \$\$ > $T/stop.pid; $STOP $MB run --queue dir:$T/fq2 --out $T/fout2 $FOPTS --checkpoint-dir $T/ck" \
    2> "$T/stop.log" &
bg=$!
wait_for_log "$T/stop.log" "run: queue" 60
sleep 0.5
kill -TERM "$(cat "$T/stop.pid")"
wait "$bg"
is $? 75 "two hosts: SIGTERM to the wrapper on host A stops the job with exit 75"
contains "$T/stop.log" "stopping on request" "the stop was requested by signal"
ck=$(find "$T/ck" -name 'ckpt-*.h5' | sort | tail -1)
"$MB" inspect "$ck" > "$T/inspect" 2>&1; ok $? "the checkpoint written by both hosts is valid"
contains "$T/inspect" "VALID" "inspect reports it valid"
netns_on A "$MPI2 $MB run --queue dir:$T/fq2 --out $T/fout2 $FOPTS --checkpoint-dir $T/ck" 2> "$T/resume.log"
ok $? "two hosts: the rerun drains the queue"
contains "$T/resume.log" "resuming from" "the rerun resumed from the checkpoint"
for f in "$T/fout1"/*.csv; do
    same_file "$f" "$T/fout2/${f##*/}" "two hosts after a stop: ${f##*/} identical to one host"
done

netns_down
ip netns list | grep -qE "^($NS_A|$NS_B)( |$)"
is $? 1 "both namespaces (and the veth pair) are gone"
done_testing
