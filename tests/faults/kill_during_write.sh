#!/usr/bin/env bash
# The writer dies between syncing a checkpoint's temporary file and renaming it into place.
# MPITRAIN_TEST_STOP_BEFORE_RENAME=1 makes the writer (rank 0) raise SIGSTOP on itself at that
# very point; the test then SIGKILLs it. The previous checkpoint must be byte-for-byte
# unchanged, no newer checkpoint may exist under a final name, and a plain --resume auto must
# continue from the previous checkpoint, remove the dead writer's temporary file and finish.
. "$(dirname "$0")/faultlib.sh"

END_BOUND=${END_BOUND:-30}
dir="$WORK/ckpt"
args=(--epochs 2 --checkpoint-dir "$dir")
good="$dir/step-00000300.h5"

# a good checkpoint at step 300, written without the hook
mpi 2 "${args[@]}" --max-steps 300 --quiet > "$WORK/first.log" 2>&1 ||
    { fail "first run (to --max-steps 300) failed"; cat "$WORK/first.log"; finish; }
check "first run wrote step-00000300.h5 and nothing else" \
    test "$(step_files "$dir")" = "$good" -a -z "$(tmp_files "$dir")"
sum_before=$(sha256sum < "$good")

# resume with the hook: the next checkpoint (step 400) stops its writer before the rename
JOB_ENV=(MPITRAIN_TEST_STOP_BEFORE_RENAME=1)
start_job hooked 2 "${args[@]}" --resume auto --checkpoint-every-steps 100
JOB_ENV=()
job=$JOB
job_ranks "$job" 2 60 || { fail "the 2 ranks of the hooked job did not appear within 60 s"; finish; }
ranks=("${RANKS[@]}")
writer=${ranks[0]}
stopped() { [ "$(pstate "$writer")" = T ]; }
if wait_until 120 stopped; then
    pass "the writer (rank 0, pid $writer) stopped itself before the rename (state T)"
else
    fail "the writer (rank 0, pid $writer) did not stop within 120 s (state '$(pstate "$writer")')"
    cat "$WORK/hooked.out" "$WORK/hooked.err"
    finish
fi
tmp=$(tmp_files "$dir")
check "a temporary file is present while the writer is stopped (${tmp:+$(basename "$tmp")})" \
    test -n "$tmp" -a "$(echo "$tmp" | grep -c .)" -eq 1
check "the temporary file is for step 400" \
    bash -c "basename '$tmp' | grep -q '^\.tmp-step-00000400\.'"
check "the temporary file is not empty" test -s "$tmp"
check "the temporary file is already a complete checkpoint (written and synced; loads)" \
    loads "$tmp"
check "no step-00000400.h5 under its final name yet" test ! -e "$dir/step-00000400.h5"

t0=$(now)
kill -KILL "$writer"
if wait_until "$END_BOUND" job_ended "$job" "$LAUNCHER" "${ranks[@]}"; then
    pass "the job ended $(since "$t0") s after the writer was killed (bound $END_BOUND s)"
else
    fail "the job is still running $END_BOUND s after the writer was killed"
    finish
fi
wait "$job"
rc=$?
check "mpirun exits non-zero (got $rc)" test "$rc" -ne 0
check "no rank of the job left (pids ${ranks[*]})" none_alive "${ranks[@]}"

check "step-00000300.h5 is byte-for-byte unchanged (sha256)" \
    test "$(sha256sum < "$good")" = "$sum_before"
check "no checkpoint newer than step 300 under a final name (found: $(step_files "$dir" | xargs -r -n1 basename | tr '\n' ' '))" \
    test "$(step_files "$dir")" = "$good"
check "the dead writer's temporary file is still there before the next job" test -e "$tmp"

# a plain resume: from step 300, the stale temporary file removed, training completed
mpi 2 "${args[@]}" --resume auto > "$WORK/resume.log" 2> "$WORK/resume.err"
rc=$?
check "plain --resume auto finishes with exit 0 (got $rc)" test "$rc" -eq 0
check "it resumed from $good" grep -q "^resumed from $good:" "$WORK/resume.log"
check "it removed the stale temporary file $(basename "$tmp")" test ! -e "$tmp"
check "no temporary file left at all" test -z "$(tmp_files "$dir")"
check "it completed the training (step-00001200.h5 written and loads)" \
    loads "$dir/step-00001200.h5"
[ "$rc" -eq 0 ] || cat "$WORK/resume.err"
finish
