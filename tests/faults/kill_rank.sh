#!/usr/bin/env bash
# A rank dies (SIGKILL, as the OOM killer or a failed node would do it) while the job trains.
# The whole job must end within END_BOUND seconds: mpirun exits non-zero and no rank of it is
# left running. The newest checkpoint is whole and loads; --resume auto with the same options
# finishes the training with the very weights of an uninterrupted run (resuming from a periodic
# checkpoint is exact). On 2 ranks and on 4.
. "$(dirname "$0")/faultlib.sh"

END_BOUND=${END_BOUND:-30} # seconds from the kill until mpirun and every rank have ended
EPOCHS=10
FINAL=$(printf 'step-%08d.h5' $((EPOCHS * 600)))
args=(--epochs "$EPOCHS" --checkpoint-every-steps 200)

# kill_one NP VICTIM: VICTIM is the rank (not 0) to kill.
kill_one() {
    local np=$1 victim=$2 name="np$1"
    local ref="$WORK/$name-ref" dir="$WORK/$name"

    mpi "$np" "${args[@]}" --quiet --checkpoint-dir "$ref" > "$ref.log" 2>&1 ||
        { fail "$name: uninterrupted run failed"; cat "$ref.log"; return; }

    start_job "$name" "$np" "${args[@]}" --checkpoint-dir "$dir"
    local job=$JOB
    if ! job_ranks "$job" "$np" 60; then
        fail "$name: the $np ranks of the job did not appear within 60 s"
        return
    fi
    local ranks=("${RANKS[@]}")
    # strike once at least one checkpoint is written (periodic ones come every 200 steps)
    if ! wait_until 120 has_step_file "$dir"; then
        fail "$name: no checkpoint written within 120 s"; cat "$WORK/$name.err"; return
    fi
    if ! alive "${ranks[$victim]}" || ! alive "${ranks[0]}"; then
        fail "$name: the job ended before the strike (raise --epochs)"; return
    fi
    echo "$name: killing rank $victim (pid ${ranks[$victim]}) after $(step_files "$dir" | tail -n 1 | xargs basename)"
    local t0
    t0=$(now)
    kill -KILL "${ranks[$victim]}"
    if wait_until "$END_BOUND" job_ended "$job" "$LAUNCHER" "${ranks[@]}"; then
        pass "$name: the whole job ended $(since "$t0") s after rank $victim was killed (bound $END_BOUND s)"
    else
        fail "$name: job still running $END_BOUND s after rank $victim was killed:" \
            "$(for p in "$job" "$LAUNCHER" "${ranks[@]}"; do alive "$p" && echo -n "$p($(pstate "$p")) "; done)"
        ps -o pid,ppid,stat,etime,cmd -p "$job,$LAUNCHER,$(IFS=,; echo "${ranks[*]}")"
        return
    fi
    wait "$job"
    local rc=$?
    check "$name: mpirun exits non-zero (got $rc)" test "$rc" -ne 0
    check "$name: no rank of the job left (pids ${ranks[*]})" none_alive "${ranks[@]}"

    local newest
    newest=$(step_files "$dir" | tail -n 1)
    local step
    step=$(step_of "$newest")
    check "$name: newest checkpoint ($(basename "$newest")) is at a multiple of 200 steps" \
        test "$step" -gt 0 -a $((step % 200)) -eq 0
    check "$name: newest checkpoint loads (mpitrain eval exits 0)" loads "$newest"
    local f
    for f in $(step_files "$dir"); do
        [ "$f" = "$newest" ] && continue
        check "$name: older checkpoint $(basename "$f") loads" loads "$f"
    done

    mpi "$np" "${args[@]}" --checkpoint-dir "$dir" --resume auto > "$dir.resume.log" 2>&1
    rc=$?
    check "$name: --resume auto finishes with exit 0 (got $rc)" test "$rc" -eq 0
    check "$name: resumed from the newest checkpoint, $(basename "$newest")" \
        grep -q "^resumed from $newest:" "$dir.resume.log"
    check "$name: no temporary file left after the resumed run" test -z "$(tmp_files "$dir")"
    check "$name: final weights bit-identical to the uninterrupted run" \
        same_weights "$ref/$FINAL" "$dir/$FINAL" 0
    [ "$rc" -eq 0 ] || tail -n 5 "$dir.resume.log"
}

kill_one 2 1
kill_one 4 2
finish
