#!/usr/bin/env bash
# A checkpoint saved on 4 ranks resumes on 2 (and on 1) and continues the same run: the weights
# after 600 steps match an uninterrupted 2-rank run within the np-invariance tolerance.
. "$(dirname "$0")/lib.sh"

mpi 2 --max-steps 600 --quiet --checkpoint-dir "$WORK/ref" > "$WORK/ref.log" 2>&1 \
    || { fail "reference run failed"; cat "$WORK/ref.log"; }
for np in 2 1; do
    dir="$WORK/from4to$np"
    mpi 4 --max-steps 300 --quiet --checkpoint-dir "$dir" > "$dir.log" 2>&1 \
        || { fail "4-rank run failed"; cat "$dir.log"; }
    check "4-rank checkpoint records world size 4" \
        bash -c "h5dump -a /world_size '$dir/step-00000300.h5' | grep -q '(0): 4'"
    mpi "$np" --max-steps 600 --checkpoint-dir "$dir" --resume auto > "$dir.resume.log" 2>&1 \
        || { fail "resume on $np ranks failed"; cat "$dir.resume.log"; }
    check "resumed on $np ranks at global step 300" grep -q "global step 300" "$dir.resume.log"
    check "np=4 then np=$np matches np=2 straight within 1e-4" \
        same_weights "$WORK/ref/step-00000600.h5" "$dir/step-00000600.h5" 1e-4
done
finish
