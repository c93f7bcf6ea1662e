#!/usr/bin/env bash
# The same 100 global batches on 1, 2, 3 and 4 ranks give the same weights up to float summation
# order: normwise relative difference below 1e-4 against np=1.
. "$(dirname "$0")/lib.sh"

steps=100
for np in 1 2 3 4; do
    if ! mpi "$np" --max-steps $steps --progress off --checkpoint-dir "$WORK/np$np" > "$WORK/np$np.log" 2>&1; then
        fail "training on $np ranks failed:"; cat "$WORK/np$np.log"
    fi
done
for np in 2 3 4; do
    check "np=$np: every rank ended with bit-identical weights" \
        grep -q "weights bit-identical on all $np ranks" "$WORK/np$np.log"
done
ref=$(printf '%s/np1/step-%08d.h5' "$WORK" $steps)
check "np=1 wrote its checkpoint" test -f "$ref"
for np in 2 3 4; do
    f=$(printf '%s/np%d/step-%08d.h5' "$WORK" "$np" $steps)
    check "np=$np matches np=1 within 1e-4 after $steps steps" same_weights "$ref" "$f" 1e-4
done
# A run with a different seed must not match: the comparison can fail.
mpi 2 --max-steps $steps --quiet --seed 7 --checkpoint-dir "$WORK/seed7" > /dev/null 2>&1
f=$(printf '%s/seed7/step-%08d.h5' "$WORK" $steps)
check "another seed gives other weights" test -f "$f"
check "the comparison tells them apart" bash -c "! '$CKPT_COMPARE' '$ref' '$f' 1e-4"
finish
