#!/usr/bin/env bash
# Two jobs on one --checkpoint-dir. Rank 0 of the first holds an flock on DIR/.lock for the
# whole run; a second job must exit 2 at once, every rank of it, with one line naming the folder
# and "another mpitrain job (pid N)", N being the first job's rank-0 pid, and without touching
# the first job, which finishes with exit 0, valid checkpoints and the weights of a run that was
# never disturbed. Once the first job has ended the folder is free again; and the lock of a job
# whose rank 0 was SIGKILLed does not block the next job (an flock dies with its process).
#
# The second job is started while the first one's writer is held (by the test hook
# MPITRAIN_TEST_STOP_BEFORE_RENAME) in the middle of writing a checkpoint, its temporary file in
# the folder: the first job is then surely still running, however slow the machine, and the
# second job must not take that file for a dead writer's. The test resumes the writer afterwards
# (SIGCONT), at each of its checkpoints.
. "$(dirname "$0")/faultlib.sh"

END_BOUND=${END_BOUND:-30}
REFUSE_BOUND=${REFUSE_BOUND:-60} # seconds the refused job may take (it loads MNIST first)
EPOCHS=10
dir="$WORK/ckpt"
args=(--epochs "$EPOCHS")

# lock_holder DIR PID: DIR/.lock names PID.
lock_holder() { [ "$(head -n 1 "$1/.lock" 2>/dev/null)" = "$2" ]; }

JOB_ENV=(MPITRAIN_TEST_STOP_BEFORE_RENAME=1)
start_job first 2 "${args[@]}" --checkpoint-dir "$dir"
JOB_ENV=()
first=$JOB
job_ranks "$first" 2 60 || { fail "the ranks of the first job did not appear within 60 s"; finish; }
first_ranks=("${RANKS[@]}")
first_launcher=$LAUNCHER
holder=${first_ranks[0]}
if wait_until 60 lock_holder "$dir" "$holder"; then
    pass "the first job's rank 0 (pid $holder) holds $dir/.lock"
else
    fail "$dir/.lock does not name the first job's rank 0 (pid $holder) within 60 s:" \
        "'$(cat "$dir/.lock" 2>/dev/null)'"
    finish
fi
writing() { [ "$(pstate "$holder")" = T ] && has_tmp_file "$dir"; }
if wait_until 120 writing; then
    pass "the first job is held in the middle of writing its first checkpoint"
else
    fail "the first job's writer did not reach its first checkpoint within 120 s"
    finish
fi
tmp=$(tmp_files "$dir")

# the second job on the same folder
t0=$(now)
mpi 2 "${args[@]}" --checkpoint-dir "$dir" > "$WORK/second.out" 2> "$WORK/second.err"
rc=$?
took=$(since "$t0")
check "the second job exits 2 (got $rc)" test "$rc" -eq 2
check "the second job was refused at once: $took s (bound $REFUSE_BOUND s)" \
    awk -v t="$took" -v b="$REFUSE_BOUND" 'BEGIN { exit !(t < b) }'
lines=$(error_lines "$WORK/second.err")
check "exactly one error line from the second job (got $(echo -n "$lines" | grep -c .))" \
    test "$(echo -n "$lines" | grep -c .)" -eq 1
check "it names the folder and the holder: $lines" \
    bash -c "echo \"\$1\" | grep -qF \"\$2: another mpitrain job (pid \$3)\"" _ "$lines" "$dir" "$holder"
check "the second job trained no step" bash -c "! grep -Eq '^(epoch|resumed|checkpoint)' '$WORK/second.out'"
# once more, each rank in a shell that records its exit code
per_rank_codes "$WORK/codes" 2 "${args[@]}" --checkpoint-dir "$dir" > /dev/null 2>&1
ranks_exit "the second job" "$WORK/codes" 2 2
check "the first job is still running after both refusals" all_alive "${first_ranks[@]}"
check "the lock still names the first job's rank 0" lock_holder "$dir" "$holder"
check "the second job left the first job's temporary file alone ($(basename "$tmp"))" \
    test -n "$tmp" -a -e "$tmp"

# let the first job go on: resume its writer now and at each of its next checkpoints
(
    while alive "$holder"; do
        [ "$(pstate "$holder")" = T ] && kill -CONT "$holder" 2> /dev/null
        sleep 0.05
    done
) &
own $!

# the first job finishes undisturbed
mpi 2 "${args[@]}" --quiet --checkpoint-dir "$WORK/ref" > "$WORK/ref.log" 2>&1 ||
    fail "the reference run failed"
if wait_until 240 job_ended "$first" "$first_launcher" "${first_ranks[@]}"; then
    wait "$first"
    rc=$?
    check "the first job finishes with exit 0 (got $rc)" test "$rc" -eq 0
else
    fail "the first job did not finish within 240 s"
    finish
fi
check "the first job printed all $EPOCHS epoch lines" \
    test "$(grep -c '^epoch ' "$WORK/first.out")" -eq "$EPOCHS"
check "the first job printed no error" test -z "$(error_lines "$WORK/first.err")"
final=$(printf '%s/step-%08d.h5' "$dir" $((EPOCHS * 600)))
for f in $(step_files "$dir"); do
    check "the first job's checkpoint $(basename "$f") loads" loads "$f"
done
check "the first job's final weights are those of an undisturbed run" \
    same_weights "$WORK/ref/$(basename "$final")" "$final" 0

# the folder is free once the first job has ended
mpi 2 --epochs $((EPOCHS + 1)) --checkpoint-dir "$dir" --resume auto > "$WORK/third.log" 2>&1
rc=$?
check "a new job on the folder after the first one ended is accepted (exit 0, got $rc)" \
    test "$rc" -eq 0
check "it resumed from the first job's last checkpoint" grep -q "^resumed from $final:" "$WORK/third.log"
check "it trained one more epoch" test -f "$(printf '%s/step-%08d.h5' "$dir" $(((EPOCHS + 1) * 600)))"

# a lock left behind by a SIGKILLed job does not block the next one
dir2="$WORK/killed"
start_job killed 2 "${args[@]}" --checkpoint-dir "$dir2"
killed=$JOB
job_ranks "$killed" 2 60 || { fail "the ranks of the job to kill did not appear within 60 s"; finish; }
killed_ranks=("${RANKS[@]}")
if ! wait_until 60 lock_holder "$dir2" "${killed_ranks[0]}"; then
    fail "$dir2/.lock does not name rank 0 (pid ${killed_ranks[0]}) within 60 s"
    finish
fi
kill -KILL "${killed_ranks[0]}"
if wait_until "$END_BOUND" job_ended "$killed" "$LAUNCHER" "${killed_ranks[@]}"; then
    pass "the job whose rank 0 was SIGKILLed ended"
else
    fail "the job whose rank 0 was SIGKILLed still runs after $END_BOUND s"
    finish
fi
check "its lock file is left behind, naming the dead pid ${killed_ranks[0]}" \
    lock_holder "$dir2" "${killed_ranks[0]}"
mpi 2 --epochs 1 --max-steps 100 --checkpoint-dir "$dir2" --resume auto > "$WORK/after.log" 2>&1
rc=$?
check "the next job on that folder is accepted (exit 0, got $rc)" test "$rc" -eq 0
check "and it does not complain about another job" \
    bash -c "! grep -q 'another mpitrain job' '$WORK/after.log'"
[ "$rc" -eq 0 ] || tail -n 5 "$WORK/after.log"
finish
