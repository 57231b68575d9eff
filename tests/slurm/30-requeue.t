#!/bin/sh
# Real Slurm: the sbatch template's job, interrupted in the middle of its
# work (one task committed, the next one checkpointed part-way), comes back
# with SLURM_RESTART_COUNT=1, resumes from its checkpoint and ends
# COMPLETED; merged and per-task results are byte-identical to an
# uninterrupted mpirun run. Twice: `scontrol requeue` (SIGTERM to every
# process of the job, mpirun and ranks, SIGKILL after KillWait; Slurm
# requeues), and the USR1 that --signal=B:USR1@120 sends before the time
# limit (mpibatch exits 75, the template requeues the job itself). Whether
# the ranks stop gracefully within mpirun's kill delay (raised to 5 s by the
# template) or are killed, checkpoint and lease reclaim must give the same
# result; the test says which happened.
. tests/lib/tap.sh
. tests/lib/slurm.sh
slurm_skip_unless_usable

slurm_start_or_bail

# Three flight files, chunks slowed to 40 ms, and the uninterrupted
# reference run under plain mpirun ($T/ref, $T/ref.csv).
OMPI_ALLOW_RUN_AS_ROOT=1
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
t0=$(now)
. tests/lib/restart.sh
[ "$(find "$T/ref/.ledger" -name '*.json' | wc -l)" -eq 3 ] && [ -s "$T/ref.csv" ]
ok $? "reference run without Slurm: 3 tasks ($(elapsed "$t0" "$(now)") s)"

MPIBATCH_JOB=$(pwd)/jobs/flights.job
MPIBATCH_BIN=$MB
MPIBATCH_ARGS="--chunk-size 64K --visibility-timeout 2 --checkpoint-interval 0.2"
MPIBATCH_MPIRUN_ARGS="--mca btl_vader_single_copy_mechanism none"
export MPIBATCH_JOB MPIBATCH_BIN MPIBATCH_ARGS MPIBATCH_MPIRUN_ARGS

# interrupt NAME HOW COMMAND...: submits the template on a queue of its own,
# runs COMMAND (the job id appended) once one task is committed and the next
# one has a checkpoint, and checks the restart, the resume and the result.
interrupt() {
    name=$1; how=$2; shift 2
    D=$T/$name
    mkdir -p "$D"
    "$MB" enqueue --queue "dir:$D/q" "$T"/data/*.csv > /dev/null
    MPIBATCH_QUEUE=dir:$D/q MPIBATCH_OUT=$D/out MPIBATCH_CHECKPOINT_DIR=$D/ck
    export MPIBATCH_QUEUE MPIBATCH_OUT MPIBATCH_CHECKPOINT_DIR
    t0=$(now)
    jid=$(sbatch --parsable -N1 -n2 -o "$D/job.log" hpc-templates/slurm/mpibatch.sbatch 2> "$D/sbatch.err")
    case $jid in
        '' | *[!0-9]*) ok 1 "$name: sbatch accepted the template"; sed 's/^/#   /' "$D/sbatch.err"
            return ;;
        *) ok 0 "$name: sbatch accepted the template (job $jid)" ;;
    esac
    wait_for_log "$D/job.log" "committed" 60; ok $? "$name: the job committed its first task"
    i=0
    while [ $i -lt 100 ] && [ -z "$(newest_ckpt "$D")" ]; do sleep 0.1; i=$((i + 1)); done
    ck=$(newest_ckpt "$D")
    [ -n "$ck" ]; ok $? "$name: the in-flight task has a checkpoint (${ck#"$D"/})"
    is "$(grep -c committed "$D/job.log")" 1 "$name: stopped in the middle: one of three tasks committed"
    "$@" "$jid"; ok $? "$name: $how ($(elapsed "$t0" "$(now)") s after submission)"

    slurm_wait_done "$jid" 150; ok $? "$name: job $jid ended for good ($(elapsed "$t0" "$(now)") s after submission)"
    is "$(slurm_job_field "$jid" JobState)" COMPLETED "$name: job state COMPLETED"
    is "$(slurm_job_field "$jid" ExitCode)" 0:0 "$name: exit code 0:0"
    is "$(slurm_job_field "$jid" Restarts)" 1 "$name: Slurm counts one restart"
    contains "$D/job.log" "job $jid on .*SLURM_RESTART_COUNT=0 " "$name: first run: restart count 0"
    contains "$D/job.log" "job $jid on .*SLURM_RESTART_COUNT=1 " "$name: second run: restart count 1"
    contains "$D/job.log" "mpibatch.sbatch: resuming from checkpoint .*/ckpt-[0-9]+\.h5" \
        "$name: the template announces the resume from a checkpoint"
    contains "$D/job.log" "task [0-9a-f]+: resuming from .*chunks already done" \
        "$name: mpibatch resumed the task from the checkpoint"
    same_as_ref "$D"; ok $? "$name: merged and per-task results byte-identical to the uninterrupted run"
    left=$("$MB" queue stats --queue "dir:$D/q" | sed -n 's/^approximate_messages //p')
    is "$left" 0 "$name: the queue is empty"
    # A graceful stop releases the message and forgets the lease; after a
    # kill the rerun reclaims the message with the lease left in lease.json.
    if grep -q "reclaimed from the previous run with its lease" "$D/job.log"; then
        echo "# $name: first run killed before a graceful stop; resumed from a periodic checkpoint, message reclaimed with lease.json"
    else
        echo "# $name: first run stopped gracefully (stop checkpoint, message released)"
    fi
    grep -E "mpibatch.sbatch: (got|mpibatch failed|stopped|ended by)" "$D/job.log" | sed "s/^/#   $name: /"
}

# Slurm requeues the job: SIGTERM to all its processes, Slurm decides.
interrupt requeue "scontrol requeue" scontrol requeue
# The time-limit warning (--signal=B:USR1@120), sent by hand: mpibatch
# exits 75 and the template requeues the job itself.
interrupt usr1 "USR1 to the batch shell, as before the time limit" scancel --signal=USR1 --batch
contains "$T/usr1/job.log" "stopped with a checkpoint \(exit 75\): requeued job" \
    "usr1: exit 75 became a requeue by the template"
if [ "$tap_failed" -ne 0 ]; then
    for d in requeue usr1; do sed "s/^/#   $d job.log: /" "$T/$d/job.log"; done
    slurm_dump_logs
fi
done_testing
