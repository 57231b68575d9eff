#!/bin/sh
# The deployment templates, checked without Azure, CycleCloud or Slurm:
# the ARM JSON names the Spot scale set (eviction policy, price cap,
# terminate notification, system-assigned identity), the Storage Queue Data
# Message Processor role assignment and the autoscale setting on the queue's
# message count; main.bicep and main.json agree (parameters, variables,
# resources, dependsOn); the cloud-init YAML parses and is main.json's custom
# data; the CycleCloud template's sections are well formed with an HPC and a
# Spot node array. Each checker is also shown a broken copy and must fail.
# The worker script of cloud-init runs against stubs: it adopts the
# checkpoint directory of a VM that is gone, never that of a live one, and
# passes mpibatch's status (75, 0) and a SIGTERM through. Last, shellcheck
# on every shell script of the repository (tests/lib/check_templates.py
# scripts), one test line per script.
# Needs python3 with yaml (python3-yaml) and shellcheck.
. tests/lib/tap.sh

CHECK="python3 $(pwd)/tests/lib/check_templates.py"
command -v shellcheck > /dev/null
ok $? "shellcheck is installed (apt-get install -y shellcheck)"
python3 -c 'import yaml' 2> /dev/null
ok $? "python3 has yaml (apt-get install -y python3-yaml)"

for c in arm parity cloud-init cyclecloud; do
    $CHECK "$c" > "$T/$c.log" 2>&1
    st=$?
    ok "$st" "check_templates $c: $(grep -c '^ok:' "$T/$c.log") checks hold"
    [ "$st" -eq 0 ] || grep '^FAIL' "$T/$c.log" | sed 's/^/#   /'
done

# Broken copies: each checker must notice.
# broken NAME CHECK PYTHON-EDIT DESCRIPTION: copies hpc-templates to
# $T/NAME, applies the edit (python3, cwd = the copy) and expects CHECK to fail.
broken() {
    mkdir -p "$T/$1"
    cp -r hpc-templates "$T/$1/"
    (cd "$T/$1" && python3 -c "$3")
    if $CHECK --root "$T/$1" "$2" > "$T/$1.log" 2>&1; then
        ok 1 "$4"
    else
        ok 0 "$4"
    fi
}
J='import json; p="hpc-templates/azure/main.json"; t=json.load(open(p))'
W='; open(p, "w").write(json.dumps(t, indent=2))'
broken regular arm "$J; t['resources']['vmss']['properties']['virtualMachineProfile']['priority'] = 'Regular'$W" \
    "arm: a scale set that is not Spot fails"
broken norole arm "$J; del t['resources']['workerProcessorRole']$W" \
    "arm: no Message Processor role assignment fails"
broken nodivide arm "$J; t['resources']['autoscale']['properties']['profiles'][0]['rules'][0]['metricTrigger']['dividePerInstance'] = False$W" \
    "arm: a scale-out rule not per instance fails"
broken deps parity "$J; t['resources']['vmss']['dependsOn'].remove('share')$W" \
    "parity: a dependsOn missing in main.json fails"
broken api parity "$J; t['resources']['autoscale']['apiVersion'] = '2015-04-01'$W" \
    "parity: another apiVersion in main.json fails"
broken param parity 'p = "hpc-templates/azure/main.bicep"; s = open(p).read(); open(p, "w").write(s.replace("param vmSku string", "param vmSize string").replace("name: vmSku", "name: vmSize"))' \
    "parity: a parameter renamed in main.bicep fails"
broken ci cloud-init 'p = "hpc-templates/azure/cloud-init.yaml"; open(p, "a").write("# edited\n")' \
    "cloud-init: an edit not synced to main.json's customData fails"
broken yaml cloud-init 'p = "hpc-templates/azure/cloud-init.yaml"; s = open(p).read(); open(p, "w").write(s.replace("packages:\n", "packages: [\n", 1))' \
    "cloud-init: a YAML syntax error fails"
broken header cyclecloud 'p = "hpc-templates/cyclecloud/mpibatch-slurm.txt"; s = open(p).read(); open(p, "w").write(s.replace("[[nodearray spot]]", "[[nodearray spot]"))' \
    "cyclecloud: an unbalanced section header fails"
broken nospot cyclecloud 'p = "hpc-templates/cyclecloud/mpibatch-slurm.txt"; s = open(p).read(); open(p, "w").write(s.replace("Interruptible = true", "Interruptible = false"))' \
    "cyclecloud: no Interruptible node array fails"
broken nesting cyclecloud 'p = "hpc-templates/cyclecloud/mpibatch-slurm.txt"; s = open(p).read(); open(p, "w").write(s.replace("[[node scheduler]]", "[[[[node scheduler]]]]"))' \
    "cyclecloud: a section nested two levels down fails"

# The scripts cloud-init writes: sh ones are shellcheck clean, python compiles.
$CHECK extract "$T/ci" > "$T/ci.list"
while IFS= read -r f; do
    case $(head -n 1 "$f") in
        *python3*) python3 -m py_compile "$f" 2> "$T/py.log" < /dev/null; ok $? "cloud-init ${f##*/} compiles" ;;
        *)
            shellcheck "$f" > "$T/sc.log" 2>&1 < /dev/null
            ok $? "cloud-init ${f##*/} is shellcheck clean"
            sed 's/^/#   /' "$T/sc.log" | head -20
            ;;
    esac
done < "$T/ci.list"

# The worker against stubs: hostname, and a launch wrapper that records its
# arguments and exits with $STUB_RC (or 75 on SIGTERM).
mkdir -p "$T/bin" "$T/ckpt"
cat > "$T/bin/mpibatch-mpirun" <<'EOF'
#!/bin/sh
printf '%s\n' "$*" > "$STUB_ARGS"
trap 'echo TERM > "$STUB_ARGS.term"; exit 75' TERM
[ -n "${STUB_WAIT:-}" ] && { sleep 30 & wait; }
exit "${STUB_RC:-0}"
EOF
cat > "$T/bin/hostname" <<'EOF'
#!/bin/sh
echo "$STUB_HOST"
EOF
chmod +x "$T/bin/mpibatch-mpirun" "$T/bin/hostname"
cat > "$T/node.env" <<'EOF'
MPIBATCH_QUEUE_URL=https://account.queue.core.windows.net/jobs
MPIBATCH_JOB=/shared/job.job
MPIBATCH_IDLE_EXIT=600
MPIBATCH_RANKS=4
EOF
worker() { # HOST RC: runs the extracted worker as HOST
    PATH="$T/bin:$PATH" STUB_HOST=$1 STUB_RC=$2 STUB_ARGS="$T/args.$1" \
        MPIBATCH_NODE_ENV="$T/node.env" MPIBATCH_CKPT_ROOT="$T/ckpt" \
        sh "$T/ci/mpibatch-worker" > "$T/worker.$1.log" 2>&1
}
mkdir -p "$T/ckpt/mbw000001/task-a" "$T/ckpt/mbw000003"
touch -d '30 minutes ago' "$T/ckpt/mbw000001/.heartbeat"
touch "$T/ckpt/mbw000003/.heartbeat"
worker mbw000002 75
is "$?" 75 "a stopped run's 75 passes through"
worker mbw000004 0
is "$?" 0 "a drained run's 0 passes through"
[ -d "$T/ckpt/mbw000002/task-a" ] && [ ! -e "$T/ckpt/mbw000001" ]
ok $? "a new VM adopts the checkpoints of a VM whose heartbeat is stale"
[ -d "$T/ckpt/mbw000003" ] && [ -d "$T/ckpt/mbw000004" ] && [ ! -e "$T/ckpt/mbw000004/task-a" ]
ok $? "the directory of a live VM (fresh heartbeat) is not adopted"
is "$(cat "$T/args.mbw000002")" \
    "-np 4 --bind-to core mpibatch run --queue https://account.queue.core.windows.net/jobs --out /shared/out --job /shared/job.job --checkpoint-dir $T/ckpt/mbw000002 --checkpoint-interval 60 --idle-exit 600" \
    "the worker's mpirun command line"
PATH="$T/bin:$PATH" STUB_HOST=mbw000005 STUB_WAIT=1 STUB_ARGS="$T/args.mbw000005" \
    MPIBATCH_NODE_ENV="$T/node.env" MPIBATCH_CKPT_ROOT="$T/ckpt" \
    sh "$T/ci/mpibatch-worker" > "$T/worker.mbw000005.log" 2>&1 &
wpid=$!
wait_for_log "$T/args.mbw000005" mpibatch 10
kill -TERM "$wpid"
wait "$wpid"
is "$?" 75 "SIGTERM to the worker reaches the launch wrapper; the worker exits with its 75"
[ -f "$T/args.mbw000005.term" ]
ok $? "the launch wrapper got the TERM"

# Every shell script of the repository through shellcheck.
$CHECK scripts > "$T/scripts"
n=$(wc -l < "$T/scripts")
[ "$n" -ge 10 ]
ok $? "found $n shell scripts"
while IFS= read -r f; do
    shellcheck -x "$f" > "$T/sc.log" 2>&1 < /dev/null
    ok $? "shellcheck clean: $f"
    sed 's/^/#   /' "$T/sc.log" | head -30
done < "$T/scripts"
done_testing
