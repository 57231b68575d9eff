#!/bin/sh
# Real Slurm: the sbatch template's job, requeued with `scontrol requeue`
# in the middle of its work (one task committed, the next one checkpointed
# part-way), comes back with SLURM_RESTART_COUNT=1, resumes from its
# checkpoint and ends COMPLETED; merged and per-task results are
# byte-identical to an uninterrupted mpirun run. `scontrol requeue` sends
# SIGTERM to every process of the job (mpirun and the ranks) and SIGKILL
# after KillWait: whether the ranks stop gracefully in mpirun's 1 s window
# or are killed, checkpoint and lease reclaim must give the same result;
# the test says which happened.
. tests/lib/tap.sh
. tests/lib/slurm.sh
slurm_skip_unless_usable

t0=$(now)
slurm_start
st=$?
ok $st "a one-node Slurm cluster is up ($(elapsed "$t0" "$(now)") s)"
if [ $st -ne 0 ]; then slurm_dump_logs; done_testing; exit 1; fi

# Three flight files, chunks slowed to 40 ms, and the uninterrupted
# reference run under plain mpirun ($T/ref, $T/ref.csv).
OMPI_ALLOW_RUN_AS_ROOT=1
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
t0=$(now)
. tests/lib/restart.sh
ok 0 "reference run without Slurm ($(elapsed "$t0" "$(now)") s)"

D=$T/slurm-job
mkdir -p "$D"
"$MB" enqueue --queue "dir:$D/q" "$T"/data/*.csv > /dev/null
MPIBATCH_QUEUE=dir:$D/q
MPIBATCH_OUT=$D/out
MPIBATCH_JOB=$(pwd)/jobs/flights.job
MPIBATCH_CHECKPOINT_DIR=$D/ck
MPIBATCH_BIN=$MB
MPIBATCH_ARGS="--chunk-size 64K --visibility-timeout 2 --checkpoint-interval 0.2"
MPIBATCH_MPIRUN_ARGS="--mca btl_vader_single_copy_mechanism none"
export MPIBATCH_QUEUE MPIBATCH_OUT MPIBATCH_JOB MPIBATCH_CHECKPOINT_DIR MPIBATCH_BIN \
    MPIBATCH_ARGS MPIBATCH_MPIRUN_ARGS

t0=$(now)
jid=$(sbatch --parsable -N1 -n2 -o "$D/job.log" hpc-templates/slurm/mpibatch.sbatch 2> "$D/sbatch.err")
case $jid in
    '' | *[!0-9]*) ok 1 "sbatch accepted the template"; sed 's/^/#   /' "$D/sbatch.err"
        done_testing; exit 1 ;;
    *) ok 0 "sbatch accepted the template (job $jid)" ;;
esac

# Requeue once the first task is committed and the next one has a
# checkpoint of its own.
wait_for_log "$D/job.log" "committed" 60; ok $? "the job committed its first task"
i=0
while [ $i -lt 100 ] && [ -z "$(newest_ckpt "$D")" ]; do sleep 0.1; i=$((i + 1)); done
ck=$(newest_ckpt "$D")
[ -n "$ck" ]; ok $? "the in-flight task has a checkpoint (${ck#"$D"/})"
is "$(grep -c committed "$D/job.log")" 1 "requeued in the middle: one of three tasks committed"
scontrol requeue "$jid"; ok $? "scontrol requeue $jid ($(elapsed "$t0" "$(now)") s after submission)"

slurm_wait_done "$jid" 150; ok $? "job $jid ended for good ($(elapsed "$t0" "$(now)") s after submission)"
is "$(slurm_job_field "$jid" JobState)" COMPLETED "job state COMPLETED"
is "$(slurm_job_field "$jid" ExitCode)" 0:0 "exit code 0:0"
is "$(slurm_job_field "$jid" Restarts)" 1 "Slurm counts one restart"
contains "$D/job.log" "job $jid on .*SLURM_RESTART_COUNT=0 " "first run: restart count 0"
contains "$D/job.log" "job $jid on .*SLURM_RESTART_COUNT=1 " "second run: restart count 1"
contains "$D/job.log" "mpibatch.sbatch: resuming from checkpoint .*/ckpt-[0-9]+\.h5" \
    "the template announces the resume from a checkpoint"
contains "$D/job.log" "task [0-9a-f]+: resuming from .*chunks already done" \
    "mpibatch resumed the task from the checkpoint"
# A graceful stop releases the message and forgets the lease; after a
# kill the rerun reclaims the message with the lease left in lease.json.
if grep -q "reclaimed from the previous run with its lease" "$D/job.log"; then
    echo "# first run: killed before a graceful stop; resumed from a periodic checkpoint, message reclaimed with lease.json"
else
    echo "# first run: graceful stop (stop checkpoint, message released)"
fi
same_as_ref "$D"; ok $? "merged and per-task results byte-identical to the uninterrupted run"
left=$("$MB" queue stats --queue "dir:$D/q" | sed -n 's/^approximate_messages //p')
is "$left" 0 "the queue is empty"
sed "s|^|#   job.log: |" "$D/job.log"; [ "$tap_failed" -ne 0 ] && slurm_dump_logs
done_testing
