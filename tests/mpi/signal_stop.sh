#!/usr/bin/env bash
# A signal stops a running job mid-epoch: all ranks stop at the same step, rank 0 writes a
# checkpoint, the job exits 3; resuming finishes with the weights of an uninterrupted run.
# SIGUSR1 goes to mpirun (which forwards it, as SLURM's --signal does to the batch step);
# SIGTERM goes to the ranks themselves (as SLURM does at a time limit).
. "$(dirname "$0")/lib.sh"

args=(--sched step --step-size 1 --gamma 0.5 --epochs 20 --checkpoint-every-epochs 0)
mpi 2 "${args[@]}" --quiet --checkpoint-dir "$WORK/ref" > "$WORK/ref.log" 2>&1 \
    || { fail "uninterrupted run failed"; cat "$WORK/ref.log"; }

# stop_and_resume NAME HOW: HOW is "usr1-mpirun" or "term-ranks".
stop_and_resume() {
    local name=$1 how=$2 dir="$WORK/$1"
    timeout -k 10 300 "$MPIEXEC" --oversubscribe -np 2 "$MPITRAIN" --data "$DATA" "${args[@]}" \
        --checkpoint-dir "$dir" > "$dir.log" 2>&1 &
    local job=$! # the timeout process; mpirun is its child, the ranks are mpirun's
    # wait until training runs (the configuration line is printed before the first step)
    for _ in $(seq 100); do grep -q "steps per epoch" "$dir.log" 2>/dev/null && break; sleep 0.1; done
    sleep 0.3
    local launcher
    launcher=$(pgrep -P "$job")
    [ -n "$launcher" ] || { fail "$name: mpirun not found under pid $job"; return; }
    if [ "$how" = usr1-mpirun ]; then
        kill -USR1 "$launcher"
    else
        pkill -TERM -P "$launcher" -f "$(basename "$MPITRAIN")"
    fi
    wait "$job"
    local rc=$?
    check "$name: exit code 3 (got $rc)" test "$rc" -eq 3
    local stopped
    stopped=$(sed -n 's/^stopped by signal [0-9]* at global step \([0-9]*\).*/\1/p' "$dir.log")
    check "$name: rank 0 says where it stopped" test -n "$stopped"
    check "$name: stopped mid-epoch (step ${stopped:-?} of 600-step epochs)" \
        test -n "$stopped" -a $((${stopped:-0} % 600)) -ne 0
    check "$name: checkpoint of that step written" \
        test -f "$(printf '%s/step-%08d.h5' "$dir" "${stopped:-0}")"
    check "$name: no temporary file left" bash -c "! ls -A '$dir' | grep -q tmp"
    mpi 2 "${args[@]}" --checkpoint-dir "$dir" --resume auto > "$dir.resume.log" 2>&1
    rc=$?
    check "$name: resume finishes with exit 0 (got $rc)" test "$rc" -eq 0
    check "$name: resume continued from step $stopped" grep -q "global step ${stopped:-x}," "$dir.resume.log"
    check "$name: final weights bit-identical to the uninterrupted run" \
        same_weights "$WORK/ref/step-00012000.h5" "$dir/step-00012000.h5" 0
}

stop_and_resume usr1 usr1-mpirun
stop_and_resume term term-ranks
finish
