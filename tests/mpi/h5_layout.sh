#!/usr/bin/env bash
# The checkpoint layout the README documents, read back with h5dump from hdf5-tools: file names
# and --keep, /model and /optimizer tensors ([out][in] float32 little-endian, Fletcher-32
# checksummed), the attributes of /optimizer, /scheduler, /progress, /config and the root, the
# /history columns, deeper networks (fc1..fc3), and that a few flipped bytes inside the weights
# are caught by the checksum when the checkpoint is read.
. "$(dirname "$0")/lib.sh"

for tool in h5dump h5ls; do
    command -v $tool > /dev/null || { fail "$tool missing (Debian package hdf5-tools)"; finish; }
done

# attr FILE /GROUP/NAME: the value of a scalar attribute as h5dump prints it, quotes removed.
attr() { h5dump -a "$2" "$1" 2> /dev/null | sed -n 's/^ *(0): //p' | sed 's/^"\(.*\)"$/\1/'; }
# num FILE /GROUP/NAME: a numeric attribute in full precision (h5dump's default is 6 digits).
num() { h5dump -m %.17g -a "$2" "$1" 2> /dev/null | sed -n 's/^ *(0): //p'; }
# header FILE /DATASET: h5dump's description of a dataset (type, shape, layout, filters).
header() { h5dump -H -p -d "$2" "$1" 2> /dev/null; }
# is NAME GOT WANT: a check that GOT equals WANT.
is() { check "$1 = $3 (got '$2')" test "$2" = "$3"; }
# near NAME GOT WANT: numbers equal within 1e-8 (relative above 1): the metrics file prints
# 8 decimals.
near() {
    check "$1 = $3 (got '$2')" awk -v a="$2" -v b="$3" \
        'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(a != "" && b != "" && d <= 1e-8 * (m > 1 ? m : 1)) }'
}
# tensor FILE /DATASET ROWS [COLS]: float32 LE of that shape, one chunk, Fletcher-32.
tensor() {
    local f=$1 d=$2 shape
    shape=$([ $# -eq 4 ] && echo "( $3, $4 )" || echo "( $3 )")
    local h
    h=$(header "$f" "$d")
    check "$d exists" test -n "$h"
    check "$d is H5T_IEEE_F32LE" grep -q 'DATATYPE  H5T_IEEE_F32LE' <<< "$h"
    check "$d has shape $shape" grep -qF "DATASPACE  SIMPLE { $shape / $shape }" <<< "$h"
    check "$d has the FLETCHER32 filter" bash -c 'grep -A2 FILTERS | grep -q "CHECKSUM FLETCHER32"' <<< "$h"
}

# -------------------------------------------------------------------- the short run ---
CK="$WORK/ck"
mpi 2 --max-steps 120 --checkpoint-every-steps 50 --keep 2 --metrics "$WORK/m.jsonl" \
    --checkpoint-dir "$CK" --quiet > "$WORK/run.log" 2>&1 \
    || { fail "the short run failed:"; cat "$WORK/run.log"; finish; }
# (besides .lock, the folder's lock file, and no temporary file left)
is "files in the checkpoint folder (steps 50, 100, 120 written, --keep 2)" \
    "$(ls -A "$CK" | grep -vx '\.lock' | tr '\n' ' ')" "step-00000100.h5 step-00000120.h5 "
F="$CK/step-00000120.h5"
[ -f "$F" ] || { fail "$F missing"; finish; }

for g in model optimizer; do
    tensor "$F" /$g/fc1.weight 100 784
    tensor "$F" /$g/fc1.bias 100
    tensor "$F" /$g/fc2.weight 10 100
    tensor "$F" /$g/fc2.bias 10
    check "/$g has no fc3.weight" bash -c "! h5ls '$F/$g/fc3.weight' > /dev/null 2>&1"
done

is "/optimizer momentum" "$(attr "$F" /optimizer/momentum)" 0.9
is "/optimizer nesterov" "$(attr "$F" /optimizer/nesterov)" 1
is "/optimizer dampening" "$(attr "$F" /optimizer/dampening)" 0
is "/optimizer weight_decay" "$(attr "$F" /optimizer/weight_decay)" 0
is "/optimizer lr" "$(attr "$F" /optimizer/lr)" 0.1

is "/scheduler type" "$(attr "$F" /scheduler/type)" plateau
is "/scheduler mode" "$(attr "$F" /scheduler/mode)" max
is "/scheduler threshold_mode" "$(attr "$F" /scheduler/threshold_mode)" rel
is "/scheduler factor" "$(attr "$F" /scheduler/factor)" 0.1
is "/scheduler patience" "$(attr "$F" /scheduler/patience)" 0
is "/scheduler cooldown" "$(attr "$F" /scheduler/cooldown)" 0
is "/scheduler min_lr" "$(attr "$F" /scheduler/min_lr)" 0
near "/scheduler threshold" "$(num "$F" /scheduler/threshold)" 1e-4
near "/scheduler eps" "$(num "$F" /scheduler/eps)" 1e-8
is "/scheduler best before any epoch (mode max)" "$(attr "$F" /scheduler/best)" -inf
is "/scheduler num_bad_epochs" "$(attr "$F" /scheduler/num_bad_epochs)" 0
is "/scheduler cooldown_counter" "$(attr "$F" /scheduler/cooldown_counter)" 0
check "/scheduler last_epoch is an integer" grep -qE '^[0-9]+$' <<< "$(attr "$F" /scheduler/last_epoch)"

is "/progress epoch" "$(attr "$F" /progress/epoch)" 0
is "/progress step_in_epoch" "$(attr "$F" /progress/step_in_epoch)" 120
is "/progress global_step" "$(attr "$F" /progress/global_step)" 120
is "/progress seed" "$(attr "$F" /progress/seed)" 1
is "step-00000100.h5: /progress global_step" "$(attr "$CK/step-00000100.h5" /progress/global_step)" 100

# /config: one string attribute per option of --help, holding the effective value.
want=$("$MPITRAIN" --help | sed -nE 's/^  --(\[no-\])?([a-z0-9-]+).*/\2/p' | grep -vxE 'help|version' | sort | tr '\n' ' ')
got=$(h5dump -A -g /config "$F" | sed -n 's/^ *ATTRIBUTE "\(.*\)" {/\1/p' | sort | tr '\n' ' ')
check "/config has one attribute per option of --help (want: $want)" test "$got" = "$want"
is "/config lr" "$(attr "$F" /config/lr)" 0.1
is "/config hidden" "$(attr "$F" /config/hidden)" 100
is "/config sched" "$(attr "$F" /config/sched)" plateau
is "/config batch-size" "$(attr "$F" /config/batch-size)" 100
is "/config max-steps" "$(attr "$F" /config/max-steps)" 120
is "/config checkpoint-dir" "$(attr "$F" /config/checkpoint-dir)" "$CK"

for col in epoch lr train_loss test_loss test_acc; do
    check "/history/$col is a dataset (no complete epoch yet: 0 rows)" \
        grep -qF 'DATASPACE  SIMPLE { ( 0 ) /' <<< "$(header "$F" /history/$col)"
done

is "root format" "$(attr "$F" /format)" mpitrain-checkpoint
is "root format_version" "$(attr "$F" /format_version)" 1
is "root program_version" "$(attr "$F" /program_version)" "$("$MPITRAIN" --version | sed 's/^mpitrain //')"
is "root world_size" "$(attr "$F" /world_size)" 2
check "the metrics file has the partial epoch at step 120" grep -q '"step":120' "$WORK/m.jsonl"

# ------------------------------------------------- a deeper net, one complete epoch ---
# 10 steps of 6000 samples are one epoch: /history gets its first row and the scheduler its
# first step.
DK="$WORK/deep"
mpi 2 --hidden 32,16 --batch-size 6000 --epochs 1 --max-steps 10 --metrics "$WORK/deep.jsonl" \
    --checkpoint-dir "$DK" --quiet > "$WORK/deep.log" 2>&1 \
    || { fail "the --hidden 32,16 run failed:"; cat "$WORK/deep.log"; }
F2="$DK/step-00000010.h5"
check "deep run wrote step-00000010.h5" test -f "$F2"
tensor "$F2" /model/fc1.weight 32 784
tensor "$F2" /model/fc1.bias 32
tensor "$F2" /model/fc2.weight 16 32
tensor "$F2" /model/fc2.bias 16
tensor "$F2" /model/fc3.weight 10 16
tensor "$F2" /model/fc3.bias 10
check "deep: no fc4.weight" bash -c "! h5ls '$F2/model/fc4.weight' > /dev/null 2>&1"
is "deep: /config hidden" "$(attr "$F2" /config/hidden)" 32,16
for col in epoch lr train_loss test_loss test_acc; do
    check "deep: /history/$col has 1 row" grep -qF 'DATASPACE  SIMPLE { ( 1 ) /' <<< "$(header "$F2" /history/$col)"
done
hist() { h5dump -m %.17g -d "/history/$1" "$F2" | sed -n 's/^ *(0): //p'; }
json() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" "$WORK/deep.jsonl"; }
is "deep: /history/epoch" "$(hist epoch)" 1
near "deep: /history/lr equals the metrics line" "$(hist lr)" "$(json lr)"
near "deep: /history/test_acc equals the metrics line" "$(hist test_acc)" "$(json test_acc)"
near "deep: /history/test_loss equals the metrics line" "$(hist test_loss)" "$(json test_loss)"
near "deep: /history/train_loss equals the metrics line" "$(hist train_loss)" "$(json train_loss)"
near "deep: /scheduler best is the epoch's test accuracy" "$(num "$F2" /scheduler/best)" "$(json test_acc)"
is "deep: /progress epoch after the complete epoch" "$(attr "$F2" /progress/epoch)" 1
is "deep: /progress step_in_epoch" "$(attr "$F2" /progress/step_in_epoch)" 0

# --------------------------------------------------------- corruption of the weights ---
# Find where fc1.weight's data lies in the file: dump its raw bytes, then look for them. A flip
# there leaves every piece of HDF5 metadata intact, so only the Fletcher-32 checksum can tell.
evalck() { timeout -k 5 120 "$MPIEXEC" --oversubscribe -np 1 "$MPITRAIN" eval --checkpoint "$1" --data "$DATA"; }
hexof() { od -An -v -tx1 "$@" | tr -d ' \n'; }
flip() { # flip FILE OFFSET COUNT: invert COUNT bytes from OFFSET on
    local f=$1 off=$2 n=$3 i b
    for ((i = 0; i < n; i++)); do
        b=$(od -An -tu1 -j $((off + i)) -N1 "$f" | tr -d ' ')
        printf "\\x$(printf %02x $((b ^ 255)))" | dd of="$f" bs=1 seek=$((off + i)) conv=notrunc status=none
    done
}
h5dump -d /model/fc1.weight -b LE -o "$WORK/fc1.bin" "$F" > /dev/null 2>&1
nbytes=$((100 * 784 * 4))
check "raw dump of fc1.weight has $nbytes bytes" test "$(stat -c %s "$WORK/fc1.bin" 2> /dev/null)" = $nbytes
pos=$(hexof "$F" | awk -v needle="$(hexof -N 64 "$WORK/fc1.bin")" \
    '{ hay = $0; i = index(hay, needle); n = 0
       while (i > 0) { if (i % 2 == 1) { at = (i - 1) / 2; n++ }
                       j = index(substr(hay, i + 1), needle); i = j ? i + j : 0 } }
     END { if (n == 1) print at }')
check "fc1.weight's data found once in the file (offset ${pos:-none})" test -n "$pos"
if [ -n "$pos" ]; then
    check "all $nbytes bytes of fc1.weight lie at offset $pos" \
        cmp -s <(tail -c +$((pos + 1)) "$F" | head -c $nbytes) "$WORK/fc1.bin"
    cp "$F" "$WORK/pristine.h5"
    out=$(evalck "$WORK/pristine.h5" 2>&1)
    rc=$?
    check "an untouched copy evaluates (exit $rc)" test $rc -eq 0
    check "an untouched copy reports its accuracy" grep -q '^test_loss .* test_acc ' <<< "$out"
    for at in 1000 $((nbytes / 2)) $((nbytes - 1000)); do
        c="$WORK/flip-$at.h5"
        cp "$F" "$c"
        flip "$c" $((pos + at)) 4
        check "flip at +$at: the copy differs from the original" bash -c "! cmp -s '$F' '$c'"
        check "flip at +$at: metadata still reads (h5dump -H)" bash -c "h5dump -H '$c' > /dev/null 2>&1"
        check "flip at +$at: HDF5 itself refuses the data (h5dump -d)" \
            bash -c "! h5dump -d /model/fc1.weight '$c' > /dev/null 2>&1"
        evalck "$c" > "$c.out" 2> "$c.err"
        rc=$?
        check "flip at +$at: mpitrain eval exits 2 (got $rc)" test $rc -eq 2
        check "flip at +$at: the error names fc1.weight and the checksum ($(grep -m1 error: "$c.err"))" \
            grep -qE '^mpitrain: error: .*fc1\.weight.*checksum' "$c.err"
    done
    # and --resume of a corrupt checkpoint is refused the same way
    mkdir -p "$WORK/rc"
    mpi 2 --resume "$WORK/flip-1000.h5" --checkpoint-dir "$WORK/rc" --max-steps 130 --quiet > "$WORK/rc.log" 2>&1
    rc=$?
    check "--resume of a corrupt copy exits 2 (got $rc)" test $rc -eq 2
    check "--resume of a corrupt copy names the checksum" grep -qE '^mpitrain: error: .*checksum' "$WORK/rc.log"
fi
finish
