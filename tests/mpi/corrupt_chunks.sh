#!/usr/bin/env bash
# Checkpoints whose chunk index (which HDF5 does not checksum) records a wrong chunk size: one of
# 3 bytes (HDF5 1.10's Fletcher-32 filter would read far past it and crash) and one of about
# 4 GiB (HDF5 would allocate that much). Both come from fuzzing checkpoints of a 784-4-10 model.
# --resume auto must skip them with a warning and continue from the good one; naming one of
# them must give exit 2 with one error line.
. "$(dirname "$0")/lib.sh"

src=$(dirname "$0")/corrupt
dir="$WORK/ck"
mkdir -p "$dir"
cp "$src/good-step-3.h5" "$dir/step-00000003.h5"
cp "$src/chunk-size-3.h5" "$dir/step-00000600.h5"
cp "$src/chunk-size-huge.h5" "$dir/step-00000900.h5"
mpi 2 --hidden 4 --epochs 2 --max-steps 20 --progress off --checkpoint-dir "$dir" --resume auto \
    > "$WORK/auto.out" 2> "$WORK/auto.err"
rc=$?
cat "$WORK/auto.out" "$WORK/auto.err"
check "resume auto exits 0 (got $rc)" test $rc -eq 0
check "the 3-byte chunk is skipped with a warning" grep -q "warning: skipping .*step-00000600.h5" "$WORK/auto.err"
check "the huge chunk is skipped with a warning" grep -q "warning: skipping .*step-00000900.h5" "$WORK/auto.err"
check "training continued from the good checkpoint" grep -q "resumed from .*step-00000003.h5" "$WORK/auto.out"
for f in chunk-size-3 chunk-size-huge; do
    mpi 1 eval --checkpoint "$src/$f.h5" > "$WORK/$f.out" 2> "$WORK/$f.err"
    rc=$?
    check "eval of $f: exit 2 (got $rc)" test $rc -eq 2
    check "eval of $f: one error line" test "$(grep -c '^mpitrain: error:' "$WORK/$f.err")" -eq 1
done
finish
