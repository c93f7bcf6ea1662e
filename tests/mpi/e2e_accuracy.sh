#!/usr/bin/env bash
# A short run on real MNIST: 300 steps of the tutorial's setup on 2 ranks reach >= 94% test
# accuracy, and the metrics file has the promised fields.
. "$(dirname "$0")/lib.sh"

out=$(mpi 2 --max-steps 300 --quiet --metrics "$WORK/m.jsonl" 2>&1)
rc=$?
echo "$out"
check "exit code 0 (got $rc)" test $rc -eq 0
acc=$(sed -n 's/.*test_acc \([0-9.]*\)%.*/\1/p' <<< "$out")
check "final line reports an accuracy" test -n "$acc"
check "accuracy $acc% >= 94% after 300 steps" awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 94.0) }'
check "one metrics line" test "$(wc -l < "$WORK/m.jsonl")" -eq 1
for key in epoch step lr train_loss test_loss test_acc seconds samples_per_s; do
    check "metrics has \"$key\"" grep -q "\"$key\":" "$WORK/m.jsonl"
done
finish
