#!/usr/bin/env bash
# memcheck_train: the trainer on 2 ranks under valgrind memcheck, every rank clean.
#   1. train on a small copy of MNIST (raw images, gzipped labels) with a checkpoint every 10
#      steps, stopped mid-epoch by --max-steps (writes, keeps 2, removes older ones);
#   2. --resume auto from that mid-epoch checkpoint to the end of the run (loads all of it);
#   3. mpitrain eval of the last checkpoint (reads /model only).
# Each rank of each run must end with "ERROR SUMMARY: 0 errors": no invalid read or write, no
# use of an uninitialised value, no definitely lost block, after Open MPI's suppression file
# and valgrind.supp (library frames only). Fails, saying so, when valgrind is missing.
# ctest sets MPITRAIN, MPIEXEC, DATA, CKPT_COMPARE and OMPI_SUPP; VALGRIND (default: valgrind)
# names another valgrind.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../mpi/lib.sh"

VALGRIND=${VALGRIND:-valgrind}
if ! command -v "$VALGRIND" >/dev/null 2>&1; then
    echo "FAIL: valgrind is not installed ('$VALGRIND' not found): apt-get install valgrind," \
        "or run jobs/setup.sh"
    exit 1
fi
for supp in "${OMPI_SUPP:-}" "$here/valgrind.supp"; do
    if [ ! -r "$supp" ]; then
        echo "FAIL: suppression file '$supp' is missing (Open MPI's comes with openmpi-common)"
        exit 1
    fi
done

# be32 N: N as 4 big-endian bytes
be32() {
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) \
        $(($1 >> 8 & 255)) $(($1 & 255)))"
}
# subset NAME N: the first N items of $DATA/NAME (raw or .gz) into $WORK/data/NAME, raw
subset() {
    local name=$1 n=$2 src=$DATA/$1 head=8 item=1
    [ -e "$src" ] || src=$src.gz
    {
        case $name in
        *idx3*) head=16 item=784; printf '\x00\x00\x08\x03'; be32 "$n"; be32 28; be32 28 ;;
        *) printf '\x00\x00\x08\x01'; be32 "$n" ;;
        esac
        gzip -dcf "$src" | tail -c +$((head + 1)) | head -c $((n * item))
    } > "$WORK/data/$name"
}
mkdir -p "$WORK/data"
subset train-images-idx3-ubyte 2000
subset train-labels-idx1-ubyte 2000
subset t10k-images-idx3-ubyte 500
subset t10k-labels-idx1-ubyte 500
gzip "$WORK/data/train-labels-idx1-ubyte" "$WORK/data/t10k-labels-idx1-ubyte"

# memcheck NAME ARGS...: mpitrain ARGS on 2 ranks, each under valgrind; checks the exit code
# and each rank's log ($WORK/NAME.rank<R>.log), and shows the errors of a log that has some.
memcheck() {
    local name=$1; shift
    local out=$WORK/$name.out rc r log
    timeout -k 10 600 "$MPIEXEC" --oversubscribe -np 2 \
        "$VALGRIND" --tool=memcheck --error-exitcode=97 --leak-check=full \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-origins=yes \
        --num-callers=50 --keep-debuginfo=yes \
        --suppressions="$OMPI_SUPP" --suppressions="$here/valgrind.supp" \
        --log-file="$WORK/$name.rank%q{OMPI_COMM_WORLD_RANK}.log" \
        "$MPITRAIN" "$@" > "$out" 2>&1
    rc=$?
    check "[$name] exit code 0 (got $rc)" test $rc -eq 0
    [ $rc -eq 0 ] || sed 's/^/  | /' "$out"
    for r in 0 1; do
        log=$WORK/$name.rank$r.log
        if grep -q "ERROR SUMMARY: 0 errors" "$log" 2>/dev/null; then
            pass "[$name] rank $r: valgrind reports 0 errors"
        else
            fail "[$name] rank $r: valgrind reports errors: $(grep -o 'ERROR SUMMARY: .*' "$log" 2>/dev/null || echo 'no log')"
            sed 's/^/  | /' "$log" 2>/dev/null
        fi
    done
}

ck=$WORK/ck
memcheck train --data "$WORK/data" --epochs 2 --max-steps 30 --checkpoint-dir "$ck" \
    --checkpoint-every-steps 10 --keep 2 --metrics "$WORK/m.jsonl" --quiet
check "[train] wrote step-00000030.h5" test -f "$ck/step-00000030.h5"
check "[train] kept 2 checkpoints" test "$(ls "$ck" | grep -c '^step-')" -eq 2
memcheck resume --data "$WORK/data" --epochs 2 --checkpoint-dir "$ck" --resume auto
check "[resume] resumed from step-00000030.h5" grep -q "resumed from $ck/step-00000030.h5" \
    "$WORK/resume.out"
check "[resume] went on to step-00000040.h5" test -f "$ck/step-00000040.h5"
memcheck eval eval --data "$WORK/data" --checkpoint "$ck/step-00000040.h5"
check "[eval] printed the confusion matrix" grep -qi "confusion" "$WORK/eval.out"
finish
