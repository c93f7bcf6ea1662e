#!/usr/bin/env bash
# The SLURM job scripts without SLURM: their #SBATCH header, how they refuse bad input, how
# jobs/sweep.sbatch turns a list entry into train.sbatch's arguments, and jobs/summarize.sh on
# made-up metrics files (resumed epochs, partial epochs, order, formatting, the PNG).
# ctest sets MPITRAIN and SOURCE_DIR; see tests/slurm/CMakeLists.txt.
set -u

. "$(dirname "$0")/../checks.sh"

for var in MPITRAIN SOURCE_DIR; do
    if [ -z "${!var:-}" ]; then
        echo "FAIL: $var is not set (run this test through ctest)"; exit 1
    fi
done
jobs=$SOURCE_DIR/jobs
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mpitrain-scripts.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1

# run NAME EXPECTED_RC COMMAND...: runs COMMAND (stdout and stderr to $WORK/NAME.log) and
# checks its exit code; the log stays for the checks that follow.
run() {
    local name=$1 want=$2 rc=0
    shift 2
    timeout 60 "$@" >"$WORK/$name.log" 2>&1 || rc=$?
    check "$name: exit code $want (got $rc)" test "$rc" -eq "$want"
    [ "$rc" -eq "$want" ] || sed 's/^/    /' "$WORK/$name.log" | head -n 20
}
says() { grep -q -F -- "$2" "$WORK/$1.log"; }

# --- the #SBATCH headers
# every #SBATCH line is explained by the comment line just above it
commented() {
    awk '/^#SBATCH/ { if (prev !~ /^# [^ ]/ || prev ~ /^#SBATCH/) { print FILENAME ": line " NR " has no comment above it"; bad = 1 } }
         { prev = $0 } END { exit bad }' "$1"
}
for f in train.sbatch sweep.sbatch; do
    check "$f: every #SBATCH line has its comment" commented "$jobs/$f"
    check "$f: passes bash -n" bash -n "$jobs/$f"
done
for opt in --ntasks=8 --cpus-per-task=1 --time= --signal=B:USR1@120 --requeue --open-mode=append '--output=.*%j'; do
    check "train.sbatch asks for $opt" grep -q -E -- "^#SBATCH $opt" "$jobs/train.sbatch"
done
check "sweep.sbatch is an array over the 5 entries of sweep.list" \
    test "$(grep -c -v -E '^[[:space:]]*(#|$)' "$jobs/sweep.list")" = 5 -a \
    "$(grep -c -E '^#SBATCH --array=1-5$' "$jobs/sweep.sbatch")" = 1

# --- train.sbatch refuses what it cannot run
run train-outside 2 env -u SLURM_JOB_ID -u SLURM_ARRAY_TASK_ID bash "$jobs/train.sbatch" --epochs 1
check "train-outside: says to submit it with sbatch" says train-outside "not inside a SLURM job"
run train-ckptdir 2 env SLURM_JOB_ID=7 SLURM_SUBMIT_DIR="$WORK" bash "$jobs/train.sbatch" --checkpoint-dir x
check "train-ckptdir: points to MPITRAIN_CKPT_DIR" says train-ckptdir "MPITRAIN_CKPT_DIR"
run train-resume 2 env SLURM_JOB_ID=7 SLURM_SUBMIT_DIR="$WORK" bash "$jobs/train.sbatch" --resume=some.h5
run train-launcher 2 env SLURM_JOB_ID=7 SLURM_SUBMIT_DIR="$WORK" MPITRAIN_LAUNCHER=qsub bash "$jobs/train.sbatch"
check "train-launcher: names the choices" says train-launcher "auto, srun or mpirun"
run train-nobinary 1 env -u MPITRAIN SLURM_JOB_ID=7 SLURM_SUBMIT_DIR="$WORK" bash "$jobs/train.sbatch"
check "train-nobinary: names build/mpitrain under the submission folder and MPITRAIN" \
    eval 'says train-nobinary "$WORK/build/mpitrain is missing" && says train-nobinary MPITRAIN'
run train-help 0 env MPITRAIN="$MPITRAIN" bash "$jobs/train.sbatch" --help
check "train-help: explains the job and shows the trainer's options" \
    eval 'says train-help "MPITRAIN_LAUNCHER" && says train-help "--checkpoint-every-steps"'
check "no checkpoint folder was made by refused runs" test ! -e "$WORK/checkpoints"

# --- sweep.sbatch: entry N becomes train.sbatch's arguments (train.sbatch replaced by a stub)
mkdir -p fake
cat >fake/train.sbatch <<'EOF'
printf '%s\n' "$@" >"$SLURM_SUBMIT_DIR/args"
echo "$MPITRAIN_CKPT_DIR" >"$SLURM_SUBMIT_DIR/ckpt"
EOF
cp "$jobs/sweep.list" fake/sweep.list
# an array task of job 40 with the stub: "${task[@]}" SLURM_ARRAY_TASK_ID=N ...
task=(env SLURM_JOB_ID=41 SLURM_ARRAY_JOB_ID=40 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_MAX=5
    SLURM_SUBMIT_DIR="$WORK" MPITRAIN_JOBS="$WORK/fake")
run sweep-task4 0 "${task[@]}" SLURM_ARRAY_TASK_ID=4 MPITRAIN_SWEEP_ARGS="--epochs 1 --seed 3" bash "$jobs/sweep.sbatch" --lr 0.05
expected="--metrics
$WORK/sweeps/40/plateau-f0.1.jsonl
--sched
plateau
--plateau-mode
max
--factor
0.1
--patience
0
--epochs
10
--epochs
1
--seed
3
--lr
0.05"
check "sweep-task4: train.sbatch gets the metrics file, entry 4's options, then MPITRAIN_SWEEP_ARGS, then the command line" \
    test "$(cat args 2>/dev/null)" = "$expected"
check "sweep-task4: checkpoints go to the sweep folder, per entry" \
    test "$(cat ckpt 2>/dev/null)" = "$WORK/sweeps/40/checkpoints/plateau-f0.1"
check "sweep-task4: the .info file names task, schedule and options" \
    eval 'grep -qx "task=4" sweeps/40/plateau-f0.1.info &&
          grep -qx "schedule=ReduceLROnPlateau max, factor 0.1, patience 0" sweeps/40/plateau-f0.1.info &&
          grep -qx "options=--sched plateau --plateau-mode max --factor 0.1 --patience 0 --epochs 10 --epochs 1 --seed 3 --lr 0.05" sweeps/40/plateau-f0.1.info'
run sweep-task6 2 "${task[@]}" SLURM_ARRAY_TASK_ID=6 bash "$jobs/sweep.sbatch"
check "sweep-task6: says the list has 5 entries" says sweep-task6 "has 5 entries, none for array task 6"
run sweep-noarray 2 env SLURM_JOB_ID=9 SLURM_SUBMIT_DIR="$WORK" MPITRAIN_JOBS="$WORK/fake" bash "$jobs/sweep.sbatch"
printf '# comment\n\nok | fine | --epochs 1\nbad/name | x | --epochs 1\n' >bad.list
run sweep-badname 2 "${task[@]}" SLURM_ARRAY_TASK_ID=2 MPITRAIN_SWEEP_LIST="$WORK/bad.list" bash "$jobs/sweep.sbatch"
check "sweep-badname: names the entry" says sweep-badname "entry 2: the name 'bad/name'"
run sweep-shortarray 0 "${task[@]}" SLURM_ARRAY_TASK_ID=1 MPITRAIN_SWEEP_LIST="$WORK/bad.list" SLURM_ARRAY_TASK_MAX=1 bash "$jobs/sweep.sbatch"
check "sweep-shortarray: warns that the array does not cover the list" says sweep-shortarray "give sbatch --array=1-2"

# --- summarize.sh on made-up metrics
mkdir -p sum
line() { # line EPOCH COMPLETE LR ACC
    printf '{"epoch":%s,"step":%s,"complete":%s,"lr":%s,"train_loss":0.1,"test_loss":0.1,"test_acc":%s,"seconds":1,"phases":{"data":[0,0,0]}}\n' \
        "$1" "$(($1 * 600))" "$2" "$3" "$4"
}
# "a": task 2; epoch 2 was stopped (partial line) and resumed (complete line), epoch 3 partial
{ line 1 true 0.10000000000000001 96.5; line 2 false 0.010000000000000002 97.0
  line 2 true 0.010000000000000002 97.9; line 3 false 0.0010000000000000002 97.5; } >sum/a.jsonl
printf 'task=2\nname=a\nschedule=Sched "A", step\n' >sum/a.info
# "b": task 1
{ line 1 true 0.1 95.0; line 2 true 0.05 98.25; } >sum/b.jsonl
printf 'task=1\nname=b\nschedule=Sched B\n' >sum/b.info
# "c": no .info: named by its file, listed last
line 1 true 0.1 90.125 >sum/c.jsonl
run summarize 0 "$jobs/summarize.sh" sum
expected='| schedule | epochs | final test accuracy | best test accuracy | final lr |
|---|---|---|---|---|
| Sched B | 2 | 98.25% | 98.25% | 0.05 |
| Sched "A", step | 3 (partial) | 97.50% | 97.90% | 0.001 |
| c | 1 | 90.12% | 90.12% | 0.1 |'
check "summarize: the table (task order, last line per epoch, partial epochs marked)" \
    test "$(grep '^|' "$WORK/summarize.log")" = "$expected"
check "summarize: summary.md holds the table" test "$(cat sum/summary.md 2>/dev/null)" = "$expected"
png_magic() { test "$(head -c 8 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a; }
check "summarize: summary.png is a PNG" png_magic sum/summary.png
run summarize-png 0 "$jobs/summarize.sh" --png "$WORK/other.png" sum
check "summarize --png FILE writes there" png_magic "$WORK/other.png"
run summarize-none 2 "$jobs/summarize.sh"
run summarize-missing 2 "$jobs/summarize.sh" "$WORK/nowhere"
mkdir -p empty
run summarize-empty 1 "$jobs/summarize.sh" empty
check "summarize-empty: says there are no metrics files" says summarize-empty "no metrics files"
finish
