#!/usr/bin/env bash
# mpitrain's HDF5 files and PyTorch's state_dict map one to one:
# (a) a state_dict-shaped file written by h5py (tests/interop/write_state_dict.py) is what
#     `mpitrain eval` and --init-from read: eval gives the test accuracy (2 decimals) and loss
#     that numpy computes in float64, and --init-from followed by one step at a negligible rate
#     holds the file's weights;
# (b) an mpitrain checkpoint read back with h5py (tests/interop/eval_checkpoint.py) gives the
#     accuracy and loss `mpitrain eval` prints, and so do the weights loaded into PyTorch's
#     nn.Sequential.
# Losses must agree within 1e-5: ten times the printed resolution, and tight enough to catch
# pixels scaled by 1/256 instead of 1/255 (which moves the loss by 7e-5).
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
INTEROP="$(cd "$(dirname "$0")/../interop" && pwd)"
[ -x "$PY" ] || { fail "$PY missing (Debian package python3)"; finish; }
for mod in numpy:python3-numpy h5py:python3-h5py torch:python3-torch; do
    "$PY" -c "import ${mod%%:*}" 2> /dev/null || fail "$PY cannot import ${mod%%:*}: Debian package ${mod#*:} missing"
done
[ "$failed" -eq 0 ] || finish

# evalck FILE: `mpitrain eval` on 2 ranks; prints its output, exit code as the command's.
evalck() { timeout -k 5 300 "$MPIEXEC" --oversubscribe -np 2 "$MPITRAIN" eval --checkpoint "$1" --data "$DATA"; }
field() { sed -n "s/.*$1 \([0-9.]*\).*/\1/p" <<< "$2" | head -n 1; } # field NAME TEXT
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; exit !(a != "" && b != "" && (d < 0 ? -d : d) <= t) }'; }

# ------------------------------------------------ (a) a state_dict file into mpitrain ---
SD="$WORK/state_dict.h5"
ref=$(cd "$INTEROP" && "$PY" write_state_dict.py "$SD" "$DATA" 1234) || fail "write_state_dict.py failed"
echo "numpy (float64): $ref"
out=$(evalck "$SD" 2>&1)
rc=$?
echo "mpitrain eval:   $(grep '^test_loss' <<< "$out")"
check "mpitrain eval reads the h5py file (exit $rc)" test $rc -eq 0
acc_np=$(field test_acc "$ref") acc_c=$(field test_acc "$out")
loss_np=$(field test_loss "$ref") loss_c=$(field test_loss "$out")
check "(a) same accuracy to 2 decimals: numpy ${acc_np:-?}%, mpitrain ${acc_c:-?}%" \
    test -n "$acc_np" -a "$acc_np" = "$acc_c"
check "(a) loss within 1e-5: numpy ${loss_np:-?}, mpitrain ${loss_c:-?}" within "$loss_np" "$loss_c" 1e-5

# --init-from: one step at lr 1e-12 moves no float32 weight by more than an ulp or so.
mpi 2 --init-from "$SD" --epochs 1 --max-steps 1 --lr 1e-12 --checkpoint-dir "$WORK/init" \
    > "$WORK/init.log" 2>&1 || { fail "--init-from run failed:"; cat "$WORK/init.log"; }
check "--init-from says where the weights come from" grep -q "initial weights from $SD" "$WORK/init.log"
check "(a) after --init-from and one negligible step, /model equals the file within 1e-9" \
    "$PY" "$INTEROP/compare_models.py" "$SD" "$WORK/init/step-00000001.h5" 1e-9
# the comparison can fail: another seed's weights differ
(cd "$INTEROP" && "$PY" write_state_dict.py "$WORK/other.h5" "$DATA" 99 > /dev/null)
check "(a) the comparison tells another seed's weights apart" \
    bash -c "! '$PY' '$INTEROP/compare_models.py' '$WORK/other.h5' '$WORK/init/step-00000001.h5' 1e-9"

# ---------------------------------------------- (b) an mpitrain checkpoint into numpy ---
mpi 2 --max-steps 200 --quiet --checkpoint-dir "$WORK/run" > "$WORK/run.log" 2>&1 \
    || { fail "training run failed:"; cat "$WORK/run.log"; }
CK="$WORK/run/step-00000200.h5"
out=$(evalck "$CK" 2>&1)
rc=$?
check "mpitrain eval of its own checkpoint (exit $rc)" test $rc -eq 0
acc_c=$(field test_acc "$out") loss_c=$(field test_loss "$out")
py=$(cd "$INTEROP" && "$PY" eval_checkpoint.py "$CK" "$DATA") || fail "eval_checkpoint.py failed"
echo "mpitrain eval: test_loss $loss_c  test_acc $acc_c%;  h5py + numpy: $py"
acc_np=$(field test_acc "$py") loss_np=$(field test_loss "$py")
check "(b) trained checkpoint: same accuracy, numpy ${acc_np:-?}%, mpitrain ${acc_c:-?}%" \
    test -n "$acc_np" -a "$acc_np" = "$acc_c"
check "(b) trained checkpoint: loss within 1e-5, numpy ${loss_np:-?}, mpitrain ${loss_c:-?}" \
    within "$loss_np" "$loss_c" 1e-5
check "(b) the checkpoint is trained (${acc_c:-?}% > 80%)" awk -v a="${acc_c:-0}" 'BEGIN { exit !(a > 80) }'

pt=$(cd "$INTEROP" && "$PY" eval_checkpoint.py --torch "$CK" "$DATA") || fail "eval_checkpoint.py --torch failed"
echo "PyTorch nn.Sequential: $pt"
acc_pt=$(field test_acc "$pt") loss_pt=$(field test_loss "$pt")
check "(b) PyTorch: same accuracy, torch ${acc_pt:-?}%, mpitrain ${acc_c:-?}%" \
    test -n "$acc_pt" -a "$acc_pt" = "$acc_c"
check "(b) PyTorch: loss within 1e-5, torch ${loss_pt:-?}, mpitrain ${loss_c:-?}" \
    within "$loss_pt" "$loss_c" 1e-5
finish
