#!/bin/sh
# Real Slurm: the sbatch template (hpc-templates/slurm/mpibatch.sbatch),
# submitted unchanged with `sbatch -N1 -n2` to a private one-node cluster,
# drains a dir: queue of four files through mpirun inside the allocation:
# the job ends COMPLETED with exit 0, the merged result equals the oracle,
# the queue is empty, and the log names the restart count, the fresh start
# and the launch wrapper found beside the template. hostfile-from-slurm
# turns the allocation into an Open MPI hostfile.
. tests/lib/tap.sh
. tests/lib/slurm.sh
slurm_skip_unless_usable

slurm_start_or_bail

mkdir -p "$T/data"
for s in 1 2 3 4; do
    "$GEN" --profile flights --rows 20000 --seed $s > "$T/data/f$s.csv"
done
"$MB" enqueue --queue "dir:$T/q" "$T"/data/*.csv > /dev/null

# The template takes its settings from the environment (sbatch --export=ALL).
# Root needs Open MPI's consent; two ranks on two cores need no
# oversubscription, but other tests may load the machine.
MPIBATCH_QUEUE=dir:$T/q
MPIBATCH_OUT=$T/out
MPIBATCH_JOB=$(pwd)/jobs/flights.job
MPIBATCH_CHECKPOINT_DIR=$T/ck
MPIBATCH_BIN=$MB
MPIBATCH_ARGS="--chunk-size 64K"
MPIBATCH_MPIRUN_ARGS="--mca btl_vader_single_copy_mechanism none"
OMPI_ALLOW_RUN_AS_ROOT=1
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export MPIBATCH_QUEUE MPIBATCH_OUT MPIBATCH_JOB MPIBATCH_CHECKPOINT_DIR MPIBATCH_BIN \
    MPIBATCH_ARGS MPIBATCH_MPIRUN_ARGS OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM

t0=$(now)
jid=$(sbatch --parsable -N1 -n2 -o "$T/job.log" hpc-templates/slurm/mpibatch.sbatch 2> "$T/sbatch.err")
case $jid in
    '' | *[!0-9]*) ok 1 "sbatch accepted the template"; sed 's/^/#   /' "$T/sbatch.err" ;;
    *) ok 0 "sbatch accepted the template (job $jid)" ;;
esac
slurm_wait_done "$jid" 150; ok $? "job $jid ended within 150 s ($(elapsed "$t0" "$(now)") s)"
is "$(slurm_job_field "$jid" JobState)" COMPLETED "job state COMPLETED"
is "$(slurm_job_field "$jid" ExitCode)" 0:0 "exit code 0:0"
is "$(slurm_job_field "$jid" Restarts)" 0 "never restarted"
contains "$T/job.log" "job $jid on .*: 2 tasks, SLURM_RESTART_COUNT=0 " "the log names the job, its tasks and restart count 0"
contains "$T/job.log" "no checkpoint: fresh start" "the log says the job starts fresh"
contains "$T/job.log" "launching through .*/hpc-templates/launch/mpibatch-mpirun" \
    "the template found the launch wrapper beside itself"
contains "$T/job.log" "done: the queue is drained" "the log says the queue is drained"

"$MB" results "$T/out" --merge > "$T/merged.csv"; ok $? "results --merge"
aggs=$(sed -n 's/^aggregates *= *//p' jobs/flights.job)
$ORACLE --group-by origin --agg "$aggs" "$T"/data/*.csv > "$T/oracle.csv"
same_file "$T/merged.csv" "$T/oracle.csv" "merged result equals the oracle"
is "$(find "$T/out" -maxdepth 1 -name "*.csv" | wc -l)" 4 "four task results"
left=$("$MB" queue stats --queue "dir:$T/q" | sed -n 's/^approximate_messages //p')
is "$left" 0 "the queue is empty"
if [ "$tap_failed" -ne 0 ]; then sed 's/^/#   job.log: /' "$T/job.log"; slurm_dump_logs; fi

# hostfile-from-slurm, inside an allocation and for a made-up one.
hjid=$(sbatch --parsable -N1 -n2 -o "$T/hostfile.log" --wrap "hpc-templates/launch/hostfile-from-slurm")
slurm_wait_done "$hjid" 60
is "$(cat "$T/hostfile.log")" "$(hostname -s) slots=2" "hostfile-from-slurm inside sbatch -N1 -n2"
hf=$(SLURM_JOB_NODELIST='n[01-03],gpu7' SLURM_TASKS_PER_NODE='2(x2),1,4' \
    hpc-templates/launch/hostfile-from-slurm | tr '\n' ' ')
is "$hf" "n01 slots=2 n02 slots=2 n03 slots=1 gpu7 slots=4 " "hostfile-from-slurm expands 2(x2),1,4"
hf=$(SLURM_JOB_NODELIST='n[1-2]' SLURM_NTASKS_PER_NODE=8 SLURM_TASKS_PER_NODE='2(x2)' \
    hpc-templates/launch/hostfile-from-slurm | tr '\n' ' ')
is "$hf" "n1 slots=8 n2 slots=8 " "SLURM_NTASKS_PER_NODE wins"
done_testing
