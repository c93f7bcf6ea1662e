#!/usr/bin/env bash
# The SLURM job scripts on a real, private one-machine SLURM (tests/slurm/cluster.sh: munged,
# slurmctld and slurmd from Debian's packages, as root):
#   1. jobs/train.sbatch, 8 ranks through srun --mpi=pmix: USR1 to the batch shell while it
#      trains makes the ranks checkpoint and exit 3 and the script requeue the job; the second
#      run (SLURM_RESTART_COUNT=1) resumes from that very step; 'scontrol requeue' kills the
#      second run, and the third resumes from the newest checkpoint and finishes;
#   2. the same USR1 round trip with MPITRAIN_LAUNCHER=mpirun on 4 ranks;
#   3. jobs/sweep.sbatch, the five-schedule array, one epoch each, then jobs/summarize.sh:
#      one table row per task, and a PNG.
# Fails, saying why, when SLURM cannot be started. Stops every daemon it started, pass or fail.
# ctest sets MPITRAIN, DATA and SOURCE_DIR; see tests/slurm/CMakeLists.txt.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/cluster.sh"

. "$here/../checks.sh"
# give_up REASON: the rest cannot run; counts as a failure.
give_up() {
    fail "$*"
    finish
}

for var in MPITRAIN DATA SOURCE_DIR; do
    if [ -z "${!var:-}" ]; then
        echo "FAIL: $var is not set (run this test through ctest)"; exit 1
    fi
done
if [ ! -e "$DATA/train-images-idx3-ubyte.gz" ] && [ ! -e "$DATA/train-images-idx3-ubyte" ]; then
    echo "FAIL: MNIST is missing in $DATA: run data/get_mnist.sh (or --from a local copy)"
    exit 1
fi
command -v gnuplot >/dev/null 2>&1 || { echo "FAIL: gnuplot is not installed: run jobs/setup.sh"; exit 1; }
jobs_dir=$SOURCE_DIR/jobs

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mpitrain-slurm.XXXXXX")
chmod 755 "$WORK" # munged wants every folder above its socket searchable by all
CLUSTER=$WORK/cluster
SUBMIT=$WORK/submit # the submission folder: job output files and checkpoints go here
mkdir -p "$SUBMIT"
started=$SECONDS

# The whole test has 900 s (ctest's TIMEOUT is 1200): past that, TERM ends it through the
# EXIT trap, which stops the cluster. (The watchdog holds none of ctest's pipes.)
( sleep 900 && kill -TERM $$ ) </dev/null >/dev/null 2>&1 &
watchdog=$!
dump_logs() {
    if ((failed > 0)) && [ -d "$CLUSTER/log" ]; then
        echo "---- the cluster's logs, for the failures above"
        CLUSTER_TAIL=40 cluster_tail "$CLUSTER" 2>&1
    fi
}
cleanup() {
    pkill -P "$watchdog" 2>/dev/null # its sleep
    kill "$watchdog" 2>/dev/null
    dump_logs
    cluster_stop "$CLUSTER" || echo "FAIL: processes of the test cluster are left running (see above)"
    rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'echo "FAIL: stopped by SIGTERM (the test'"'"'s own 900 s deadline, or from outside) after $((SECONDS - started)) s"; exit 143' TERM
trap 'exit 130' INT

elapsed() { echo "$((SECONDS - started)) s"; }

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s until it succeeds.
wait_for() {
    local limit=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + limit))
    while ! "$@"; do
        if ((SECONDS >= deadline)); then
            echo "timed out after $limit s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}

# field JOB NAME: one field of 'scontrol show job' (JobState, Restarts, Reason, ExitCode, ...).
field() {
    cluster_client scontrol -o show job "$1" 2>/dev/null | head -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# running_again JOB RESTARTS: true once the job runs its run number RESTARTS (or is done). A
# requeued job may not start before SLURM's requeue delay is over (AuthInfo cred_expire, 120 s
# by default); 'scontrol update StartTime=now' lets it start at once. Not in the very second of
# the requeue, though: slurmd revokes the killed run's credential with a time stamp in whole
# seconds, and a run started within that second is refused ("Job credential revoked") and the
# job fails. So the job is released once it has been pending for 3 s.
pending_since="" pending_run=""
running_again() {
    local state restarts reason
    state=$(field "$1" JobState) restarts=$(field "$1" Restarts) reason=$(field "$1" Reason)
    [ "$restarts" = "$2" ] || return 1
    if [ "$state" = PENDING ] && [ "$reason" = BeginTime ]; then
        if [ "$pending_run" != "$1/$2" ]; then
            pending_since=$SECONDS pending_run=$1/$2
        elif ((SECONDS - pending_since >= 3)); then
            cluster_client scontrol update JobId="$1" StartTime=now >/dev/null 2>&1
        fi
        return 1
    fi
    [ "$state" != PENDING ] && [ "$state" != REQUEUED ] && [ "$state" != COMPLETING ]
}

# finished JOB: the job is over (not pending, running, requeued or completing).
finished() {
    case $(field "$1" JobState) in
        COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED) return 0 ;;
        *) return 1 ;;
    esac
}

# log_has FILE PATTERN: FILE has a line matching the extended regular expression PATTERN.
log_has() { grep -q -E -- "$2" "$1" 2>/dev/null; }

# count FILE PATTERN: lines of FILE matching PATTERN.
count() { grep -c -E -- "$2" "$1" 2>/dev/null || true; }

# checkpoint_after FILE LINE: the global step of the first mid-run checkpoint written after
# line LINE of FILE (empty while there is none).
checkpoint_after() {
    tail -n +"$(($2 + 1))" "$1" | sed -n 's|^checkpoint .*/step-0*\([0-9][0-9]*\)\.h5$|\1|p' | head -n 1
}

# stopped_step FILE N: the global step of the Nth "stopped by signal" line.
stopped_step() {
    sed -n 's/^stopped by signal [0-9]* at global step \([0-9]*\):.*/\1/p' "$1" | sed -n "$2p"
}
# resumed_step FILE N: the global step of the Nth "resumed from" line.
resumed_step() {
    sed -n 's/^resumed from .*, global step \([0-9]*\), lr .*/\1/p' "$1" | sed -n "$2p"
}
# final_acc FILE: the test accuracy of the "final:" line.
final_acc() { sed -n 's/^final: .* test_acc \([0-9.]*\)%.*/\1/p' "$1" | tail -n 1; }

# at_least X BOUND: the number X is at least BOUND.
at_least() { [ -n "$1" ] && awk -v x="$1" -v b="$2" 'BEGIN { exit !(x + 0 >= b + 0) }'; }

show_log() {
    echo "---- $1"
    grep -v -E '^  ' "$1" 2>/dev/null | tail -n 60
    echo "----"
}

echo "== starting a private SLURM"
cluster_start "$CLUSTER" || give_up "SLURM could not be started (see above), so no job ran"
pass "munged, slurmctld and slurmd started; node idle after $(elapsed)"
echo "srun --mpi=list: $(srun --mpi=list 2>&1 | tr '\n\t' '  ' | tr -s ' ')"
cd "$SUBMIT" || give_up "cannot enter $SUBMIT"

# 1. train.sbatch through srun: USR1, then scontrol requeue, then to the end.
# hidden 400 makes an 8-rank epoch take a few seconds on 2 cores, long enough to act on.
echo "== train.sbatch, srun, 8 ranks: USR1 to the batch shell, then scontrol requeue ($(elapsed))"
epochs=4
train_args=(--data "$DATA" --hidden 400 --epochs "$epochs" --checkpoint-every-steps 200 --progress off)
job=$(MPITRAIN=$MPITRAIN cluster_client sbatch --parsable --time=10 "$jobs_dir/train.sbatch" "${train_args[@]}")
[[ $job =~ ^[0-9]+$ ]] || give_up "sbatch jobs/train.sbatch did not submit a job: '$job'"
out=$SUBMIT/mpitrain-$job.out
echo "job $job, output $out"

if wait_for 120 "the first checkpoint of job $job" log_has "$out" '^checkpoint .*/step-0*200\.h5$'; then
    check "scancel --signal=USR1 --batch $job" cluster_client scancel --signal=USR1 --batch "$job"
else
    fail "job $job wrote no checkpoint at step 200"
fi
restarts_are() { [ "$(field "$1" Restarts)" = "$2" ]; }
if wait_for 60 "job $job to be requeued by its script" restarts_are "$job" 1; then
    pass "the script requeued job $job after the USR1 stop ($(elapsed))"
else
    fail "job $job was not requeued after USR1 (state $(field "$job" JobState), restarts $(field "$job" Restarts))"
fi
stop1=$(stopped_step "$out" 1)
check "the ranks stopped on USR1 mid-run (step ${stop1:-none})" test -n "$stop1"
check "the ranks checkpointed and exited 3" log_has "$out" '^train\.sbatch: .*srun exited with code 3 '
check "the script requeued the job itself" log_has "$out" "^train\\.sbatch: .*requeueing job $job "

wait_for 120 "job $job to run again" running_again "$job" 1 &&
    wait_for 120 "job $job to resume" log_has "$out" '^resumed from '
check "the second run logs SLURM_RESTART_COUNT=1" log_has "$out" "^train\\.sbatch: .*SLURM_RESTART_COUNT=1,"
resume1=$(resumed_step "$out" 1)
check "the second run resumed at the step the first stopped at (${resume1:-none} = ${stop1:-none})" \
    test -n "$resume1" -a "$resume1" = "${stop1:-x}"
check "it resumed from that step's checkpoint" \
    log_has "$out" "^resumed from .*/checkpoints/$job/step-0*${stop1:-x}\\.h5: "

# wait for a checkpoint of the second run past the resumed step, then requeue the job
resumed_line=$(grep -n -m 1 '^resumed from ' "$out" 2>/dev/null | cut -d: -f1)
ckpt2=""
deadline=$((SECONDS + 120))
while [ -n "$resumed_line" ] && ((SECONDS < deadline)); do
    ckpt2=$(checkpoint_after "$out" "$resumed_line")
    [ -n "$ckpt2" ] && break
    finished "$job" && break
    sleep 0.2
done
if [ -n "$ckpt2" ]; then
    check "scontrol requeue $job (the second run has checkpointed step $ckpt2)" \
        cluster_client scontrol requeue "$job"
    wait_for 120 "job $job to run a third time" running_again "$job" 2 ||
        fail "job $job did not come back after scontrol requeue"
else
    fail "the second run of job $job wrote no checkpoint to requeue after"
fi

wait_for 300 "job $job to finish" finished "$job"
state=$(field "$job" JobState) exitcode=$(field "$job" ExitCode) restarts=$(field "$job" Restarts)
check "job $job completed (state $state, exit code $exitcode) after $(elapsed)" \
    test "$state" = COMPLETED -a "$exitcode" = 0:0
check "job $job ran three times (restarts $restarts)" test "$restarts" = 2
check "the killed run checkpointed on SIGTERM and left the requeue to SLURM" \
    log_has "$out" '^train\.sbatch: .*stopped by SIGTERM with a checkpoint .*not requeueing'
check "the third run logs SLURM_RESTART_COUNT=2" log_has "$out" "^train\\.sbatch: .*SLURM_RESTART_COUNT=2,"
resume2=$(resumed_step "$out" 2)
check "the third run resumed at or past the second run's checkpoint (${resume2:-none} >= ${ckpt2:-none})" \
    at_least "${resume2:-}" "${ckpt2:-999999999}"
check "training never started over: one fresh start, each epoch line once" \
    test "$(count "$out" '^initial weights from')" = 1 \
    -a "$(for e in $(seq "$epochs"); do count "$out" "^epoch +$e/$epochs "; done | tr -d '\n')" = "$(printf '1%.0s' $(seq "$epochs"))"
check "it finished: final: epoch $epochs/$epochs, step $((epochs * 600))" \
    log_has "$out" "^final: epoch $epochs/$epochs +step $((epochs * 600)) "
acc=$(final_acc "$out")
check "final test accuracy ${acc:-none}% >= 97.5%" at_least "${acc:-}" 97.5
check "the final checkpoint is in the job's folder, checkpoints/$job" \
    test -f "$SUBMIT/checkpoints/$job/step-$(printf '%08d' $((epochs * 600))).h5"
((failed == 0)) || show_log "$out"
echo "restart evidence from $out:"
grep -E '^(train\.sbatch: .*(SLURM_RESTART_COUNT|got SIG|exited with|requeueing|not requeueing)|resumed from|stopped by|final:)' "$out"

# 2. the same with mpirun as the launcher
echo "== train.sbatch, mpirun, 4 ranks: USR1 to the batch shell ($(elapsed))"
failed_before=$failed
job=$(MPITRAIN=$MPITRAIN MPITRAIN_LAUNCHER=mpirun cluster_client sbatch --parsable --time=10 --ntasks=4 \
    "$jobs_dir/train.sbatch" --data "$DATA" --hidden 400 --epochs 2 --checkpoint-every-steps 200 --progress off)
[[ $job =~ ^[0-9]+$ ]] || give_up "sbatch jobs/train.sbatch did not submit a job: '$job'"
out=$SUBMIT/mpitrain-$job.out
if wait_for 120 "the first checkpoint of job $job" log_has "$out" '^checkpoint .*/step-0*200\.h5$'; then
    check "scancel --signal=USR1 --batch $job" cluster_client scancel --signal=USR1 --batch "$job"
else
    fail "job $job wrote no checkpoint at step 200"
fi
wait_for 120 "job $job to run again" running_again "$job" 1
wait_for 300 "job $job to finish" finished "$job"
state=$(field "$job" JobState) restarts=$(field "$job" Restarts)
check "mpirun passed USR1 on and exited 3" log_has "$out" '^train\.sbatch: .*mpirun exited with code 3 '
check "job $job completed after one requeue (state $state, restarts $restarts)" \
    test "$state" = COMPLETED -a "$restarts" = 1
stop1=$(stopped_step "$out" 1) resume1=$(resumed_step "$out" 1)
check "the second run (SLURM_RESTART_COUNT=1) resumed at step ${resume1:-none}, where the first stopped" \
    test -n "$stop1" -a "$resume1" = "$stop1" -a "$(count "$out" 'SLURM_RESTART_COUNT=1,')" = 1
acc=$(final_acc "$out")
check "it finished: step 1200, test accuracy ${acc:-none}% >= 97%" \
    eval 'log_has "$out" "^final: epoch 2/2 +step 1200 " && at_least "${acc:-}" 97'
((failed == failed_before)) || show_log "$out"

# 3. the sweep: five array tasks of one epoch each, then the summary
echo "== sweep.sbatch: the five schedules, one epoch each ($(elapsed))"
failed_before=$failed
# The tasks share the 2 cores: let waiting ranks yield them.
array=$(MPITRAIN=$MPITRAIN MPITRAIN_JOBS=$jobs_dir OMPI_MCA_mpi_yield_when_idle=1 \
    cluster_client sbatch --parsable --time=10 "$jobs_dir/sweep.sbatch" --data "$DATA" --epochs 1 --progress off)
[[ $array =~ ^[0-9]+$ ]] || give_up "sbatch jobs/sweep.sbatch did not submit a job array: '$array'"
entries=$(grep -c -v -E '^[[:space:]]*(#|$)' "$jobs_dir/sweep.list")
all_done() { [ -z "$(cluster_client squeue -h -j "$array" -o %i 2>/dev/null)" ]; }
wait_for 300 "the array $array to finish" all_done
completed=$(cluster_client scontrol -o show job "$array" 2>/dev/null | grep -c 'JobState=COMPLETED')
check "all $entries array tasks completed ($completed did) after $(elapsed)" test "$completed" = "$entries"
sweep=$SUBMIT/sweeps/$array
table=$("$jobs_dir/summarize.sh" "$sweep" 2>"$WORK/summarize.err")
rc=$?
check "summarize.sh exits 0 (got $rc)" test "$rc" -eq 0
echo "$table"
rows=$(grep -c -E '^\| [^-]' <<<"$table")
check "the table has a header and one row per task ($((rows - 1)) rows for $entries tasks)" \
    test "$rows" -eq $((entries + 1))
labels_ok=1
while IFS='|' read -r _ schedule _; do
    schedule=$(echo "$schedule" | sed 's/^ *//; s/ *$//')
    grep -qF "| $schedule | 1 | " <<<"$table" || { labels_ok=0; echo "no row '$schedule' with 1 epoch"; }
done < <(grep -v -E '^[[:space:]]*(#|$)' "$jobs_dir/sweep.list")
check "each row names its schedule and 1 epoch" test "$labels_ok" = 1
check "the table is also in summary.md" cmp -s "$sweep/summary.md" <(echo "$table")
check "summary.png is a PNG" test "$(head -c 8 "$sweep/summary.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a
((failed == failed_before)) || { cat "$WORK/summarize.err"; for f in "$SUBMIT"/mpitrain-sweep-*.out; do show_log "$f"; done; }

# 4. stop everything; nothing of the cluster may be left
echo "== stopping the cluster ($(elapsed))"
cd "$WORK" || true
dump_logs
check "every daemon and job process of the cluster stopped" cluster_stop "$CLUSTER"
echo "took $(elapsed)"
finish
