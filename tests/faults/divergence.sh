#!/usr/bin/env bash
# Training diverges (the loss becomes NaN or infinite). The job must stop with exit 1 on every
# rank and one error line with "diverged" and the step, and must never put non-finite weights
# into a checkpoint: a good checkpoint it resumed from stays untouched and no file is added.
#
# Note: on --resume the learning rate comes from the checkpoint's scheduler state, so --lr does
# not take effect there; --weight-decay does (it is read from the options), and 1e6 makes the
# weights grow by ~1e5 a step, to infinity within a few steps. A fresh run diverges with --lr
# 1e10 (--lr 1e6 alone only kills the ReLUs and stays finite).
. "$(dirname "$0")/faultlib.sh"

# nonfinite_files DIR: the checkpoints in DIR with NaN or infinity in /model or /optimizer.
nonfinite_files() {
    local f
    for f in $(step_files "$1"); do
        finite_model "$f" > /dev/null || basename "$f"
    done
}

# diverged_step FILE: N from "... diverged: ... at step N ..." in FILE.
diverged_step() { sed -n 's/^mpitrain: error: training diverged: .* at step \([0-9]*\) .*/\1/p' "$1"; }

# --- resuming from a good checkpoint into a diverging run
name=resume
dir="$WORK/resume"
good="$dir/step-00000300.h5"
mpi 2 --epochs 2 --max-steps 300 --checkpoint-dir "$dir" --quiet > "$WORK/good.log" 2>&1 ||
    { fail "the run that writes the good checkpoint failed"; cat "$WORK/good.log"; finish; }
check "$name: setup: the good checkpoint has finite weights" finite_model "$good"
sum_before=$(sha256sum < "$good")
files_before=$(ls -A "$dir")

mpi 2 --epochs 2 --checkpoint-dir "$dir" --resume auto --weight-decay 1e6 \
    > "$WORK/$name.out" 2> "$WORK/$name.err"
rc=$?
check "$name: mpirun exits 1 (got $rc)" test "$rc" -eq 1
check "$name: it resumed from the good checkpoint" grep -q "^resumed from $good:" "$WORK/$name.out"
lines=$(error_lines "$WORK/$name.err")
check "$name: exactly one error line (got $(echo -n "$lines" | grep -c .))" \
    test "$(echo -n "$lines" | grep -c .)" -eq 1
step=$(diverged_step "$WORK/$name.err")
check "$name: the line says \"diverged\" and names the step: $lines" test -n "$step"
check "$name: that step (${step:-?}) lies after the resumed step 300 and within the run" \
    test "${step:-0}" -gt 300 -a "${step:-0}" -le 1200
check "$name: the good checkpoint is byte-for-byte unchanged (sha256)" \
    test "$(sha256sum < "$good")" = "$sum_before"
check "$name: the folder holds the same files as before ($(echo $files_before))" \
    test "$(ls -A "$dir")" = "$files_before"
bad=$(nonfinite_files "$dir")
check "$name: no checkpoint in the folder holds NaN or inf${bad:+ (found: $bad)}" test -z "$bad"
# once more, each rank in a shell that records its exit code; the folder still must not change
per_rank_codes "$WORK/codes" 2 --epochs 2 --checkpoint-dir "$dir" --resume auto \
    --weight-decay 1e6 > /dev/null 2>&1
ranks_exit "$name" "$WORK/codes" 2 1
check "$name: after that run too, the good checkpoint is unchanged and no file was added" \
    test "$(sha256sum < "$good")" = "$sum_before" -a "$(ls -A "$dir")" = "$files_before"

# --- a fresh run that saves every step: every checkpoint written before the divergence is
# finite, and the newest is the step just before the one that diverged
name=every-step
dir="$WORK/every"
fresh=(--epochs 1 --lr 1e10 --checkpoint-every-steps 1 --keep 1000)
mpi 2 "${fresh[@]}" --checkpoint-dir "$dir" > "$WORK/$name.out" 2> "$WORK/$name.err"
rc=$?
check "$name: mpirun exits 1 (got $rc)" test "$rc" -eq 1
per_rank_codes "$WORK/codes" 2 "${fresh[@]}" --checkpoint-dir "$WORK/every-codes" > /dev/null 2>&1
ranks_exit "$name" "$WORK/codes" 2 1
lines=$(error_lines "$WORK/$name.err")
check "$name: exactly one error line (got $(echo -n "$lines" | grep -c .))" \
    test "$(echo -n "$lines" | grep -c .)" -eq 1
step=$(diverged_step "$WORK/$name.err")
check "$name: the line says \"diverged\" and names the step: $lines" test -n "$step"
newest=$(step_files "$dir" | tail -n 1)
check "$name: the newest checkpoint ($(basename "${newest:-none}")) is the step before step ${step:-?}" \
    test -n "$newest" -a -n "$step" -a "$(step_of "${newest:-0}")" = "$(( ${step:-1} - 1 ))"
bad=$(nonfinite_files "$dir")
check "$name: none of the $(step_files "$dir" | grep -c .) checkpoints holds NaN or inf${bad:+ (found: $bad)}" \
    test -z "$bad"
check "$name: no temporary file left" test -z "$(tmp_files "$dir")"
finish
