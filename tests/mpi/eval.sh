#!/usr/bin/env bash
# `mpitrain eval` reports what training reported, and its per-class table and confusion matrix
# are consistent with each other and with the test set.
. "$(dirname "$0")/lib.sh"

mpi 2 --max-steps 200 --progress off --checkpoint-dir "$WORK/ck" > "$WORK/train.log" 2>&1 \
    || { fail "training failed"; cat "$WORK/train.log"; }
train_acc=$(sed -n 's/^final: .*test_acc \([0-9.]*\)%.*/\1/p' "$WORK/train.log")
mpi 1 eval --checkpoint "$WORK/ck/step-00000200.h5" > "$WORK/eval.txt" 2>&1
rc=$?
cat "$WORK/eval.txt"
check "eval exits 0 (got $rc)" test $rc -eq 0
eval_acc=$(sed -n 's/^test_loss .*test_acc \([0-9.]*\)%.*/\1/p' "$WORK/eval.txt")
check "eval's accuracy ($eval_acc%) is the training's final one ($train_acc%)" \
    test -n "$eval_acc" -a "$eval_acc" = "$train_acc"
# per-class rows: class accuracy images; then the matrix: rows of 11 numbers
awk '
    /^class  accuracy/ { table = 1; next }
    /^confusion matrix/ { table = 0; matrix = 1; getline; next }
    table && NF == 3 { classes++; images[$1] = $3; acc[$1] = $2 + 0 }
    matrix && NF == 11 {
        rows++; s = 0; for (j = 2; j <= 11; j++) s += $j
        total += s; diag += $($1 + 2)
        if (s != images[$1]) bad_rows++
        if (images[$1] > 0 && (100 * $($1 + 2) / images[$1] - acc[$1])^2 > 0.0001) bad_acc++
    }
    END {
        printf "classes %d rows %d total %d diag %d bad_rows %d bad_acc %d\n", classes, rows, total, diag, bad_rows, bad_acc
    }' "$WORK/eval.txt" > "$WORK/summary.txt"
cat "$WORK/summary.txt"
read -r _ classes _ rows _ total _ diag _ bad_rows _ bad_acc < "$WORK/summary.txt"
check "10 per-class rows" test "$classes" -eq 10
check "a 10x10 confusion matrix" test "$rows" -eq 10
check "the matrix counts the 10000 test images" test "$total" -eq 10000
check "each matrix row sums to its class's image count" test "$bad_rows" -eq 0
check "each class accuracy is its diagonal entry over its images" test "$bad_acc" -eq 0
check "the diagonal gives the overall accuracy" \
    awk -v d="$diag" -v a="${eval_acc:-0}" 'BEGIN { exit !((100 * d / 10000 - a)^2 < 0.0001) }'
finish
