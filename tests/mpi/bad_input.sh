#!/usr/bin/env bash
# Bad input of every kind (data files, checkpoints, options) is refused the same way: exit code 2
# (1 for a diverged run), exactly one line on stderr of the form "mpitrain: error: ..." (or
# "mpitrain: rank N: error: ...") that names the problem, no hang, no core file, and no file in
# an existing checkpoint folder touched. A table of the cases and their error lines ends the run.
. "$(dirname "$0")/lib.sh"

chmod 755 "$WORK" # user nobody must reach the unreadable-file case's folder (mktemp gives 700)

# ---------------------------------------------------------------------------- helpers ---

# filter_mpirun: stderr without the launcher's own report of a rank's non-zero exit. Open MPI 4
# prints it as two blocks framed by lines of dashes (the launcher names itself mpirun or mpiexec,
# as it was called):
#   Primary job  terminated normally, but 1 process returned / a non-zero exit code. ...
#   mpiexec detected that one or more processes exited with non-zero status, thus causing / ...
#     Process name: [[...],0] / Exit code:    2
# A framed block is dropped only when it is one of these two; any other framed block (MPI_ABORT
# was invoked, a rank killed by a signal, shared-memory warnings, ...) is kept and so counts
# against the case. Unframed lines that start with "mpirun", "mpiexec" or "Primary job", or hold
# "Process name:" or "Exit code:", are dropped too (the same report from other versions).
filter_mpirun() {
    awk '
        /^--------------------+$/ { # a line of 20 or more dashes
            if (inblock && block !~ /Primary job|detected that one or more processes exited with non-zero status/)
                printf "%s", block
            inblock = !inblock; block = ""; next
        }
        inblock { block = block $0 "\n"; next }
        /^mpirun|^mpiexec|^Primary job|Process name:|Exit code:/ { next }
        { print }
        END { if (inblock) printf "%s", block }'
}

# snapshot DIR: names of everything in DIR and sha256 of every file but .lock, to compare before
# and after a case. .lock is the folder's lock (ckpt_lock): every run that gets as far as taking
# it writes its pid there, so its content may change; its name may not go away.
snapshot() {
    (cd "$1" && find . -mindepth 1 -printf '%y %p\n' | sort \
        && find . -type f ! -name .lock -print0 | sort -z | xargs -0 -r sha256sum)
}

# flip FILE OFFSET COUNT: invert COUNT bytes of FILE from OFFSET on.
flip() {
    local f=$1 off=$2 n=$3 i b
    for ((i = 0; i < n; i++)); do
        b=$(od -An -tu1 -j $((off + i)) -N1 "$f" | tr -d ' ')
        printf "\\x$(printf %02x $((b ^ 255)))" | dd of="$f" bs=1 seek=$((off + i)) conv=notrunc status=none
    done
}

# be32 N: N as four big-endian bytes (IDX header fields).
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }

# put_bytes FILE OFFSET: overwrite FILE in place from OFFSET with the bytes on stdin (bytes, not
# a shell string: $(...) would drop NULs and trailing newlines).
put_bytes() { dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

# bad_data NAME: a fresh copy of the good gzipped data in $WORK/data/NAME; prints its path.
bad_data() {
    local d="$WORK/data/$1"
    mkdir -p "$d"
    cp "$DATA"/*-ubyte.gz "$d"/
    chmod 644 "$d"/*
    echo "$d"
}

# raw NAME: the gunzipped good file NAME (e.g. train-images-idx3-ubyte), made once.
raw() {
    mkdir -p "$WORK/raw"
    [ -f "$WORK/raw/$1" ] || gunzip -c "$DATA/$1.gz" > "$WORK/raw/$1"
    echo "$WORK/raw/$1"
}

# -------------------------------------------------------------------------- one case ---

CASE_TIMEOUT=60
rows=()     # the table printed at the end
n_case=0
PRE=()      # a command the case runs under (setpriv for the unreadable file)
MPIFLAGS=() # extra mpirun flags of the case
WARNS=0     # "mpitrain: warning: skipping" lines the case must print besides the error
LAST_OUT="" # stdout of the last case

# t NAME NP WANT_RC WANT ARGS...: run the trainer on NP ranks with ARGS; WANT holds the texts
# the error line must contain, separated by "|" (ignored when WANT_RC is 0: then no error line).
t() {
    local name=$1 np=$2 want_rc=$3 want=$4; shift 4
    n_case=$((n_case + 1))
    local dir="$WORK/case/$n_case"
    mkdir -p "$dir"
    chmod 777 "$dir"
    local before
    before=$(snapshot "$CK")
    local t0=$SECONDS
    (
        cd "$dir" || exit 99
        ulimit -c unlimited 2> /dev/null # so that a crash would leave a core file here
        exec "${PRE[@]}" timeout -k 5 "$CASE_TIMEOUT" "$MPIEXEC" --oversubscribe "${MPIFLAGS[@]}" \
            -np "$np" "$MPITRAIN" "$@"
    ) > "$dir/stdout" 2> "$dir/stderr"
    local rc=$? secs=$((SECONDS - t0))
    LAST_OUT="$dir/stdout"
    filter_mpirun < "$dir/stderr" > "$dir/ours"
    local errs warns others line
    errs=$(grep -cE '^mpitrain: (rank [0-9]+: )?error: ' "$dir/ours")
    warns=$(grep -c '^mpitrain: warning: skipping ' "$dir/ours")
    others=$(grep -vcE '^mpitrain: (rank [0-9]+: )?error: |^mpitrain: warning: skipping ' "$dir/ours")
    line=$(grep -m1 -E '^mpitrain: (rank [0-9]+: )?error: ' "$dir/ours")
    local what="[$name]"

    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "$what hang: no exit within ${CASE_TIMEOUT}s (timeout's exit $rc)"
    else
        check "$what exit code $want_rc (got $rc)" test "$rc" -eq "$want_rc"
    fi
    if [ "$want_rc" -eq 0 ]; then
        check "$what no error line on stderr (got $errs)" test "$errs" -eq 0
    else
        check "$what exactly one error line on stderr (got $errs)" test "$errs" -eq 1
        local piece
        IFS='|' read -ra pieces <<< "$want"
        for piece in "${pieces[@]}"; do
            check "$what error line names '$piece'" grep -qF -- "$piece" <<< "$line"
        done
    fi
    check "$what $WARNS 'warning: skipping' line(s) on stderr (got $warns)" test "$warns" -eq "$WARNS"
    check "$what nothing else on stderr (got $others other line(s))" test "$others" -eq 0
    if [ "$others" -ne 0 ] || [ "$errs" -ne $((want_rc != 0)) ]; then
        echo "  --- stderr of [$name], mpirun's report included:"; sed 's/^/  | /' "$dir/stderr"
    fi
    check "$what no core file" bash -c "! ls '$dir' | grep -q '^core'"
    check "$what checkpoint folder unchanged" test "$(snapshot "$CK")" = "$before"
    rows+=("$(printf '%-44s %2s %4s %3ss  %s' "$name" "$np" "$rc" "$secs" "${line:-(no error line)}")")
    PRE=(); MPIFLAGS=(); WARNS=0
}

# ----------------------------------------------------------------------------- fixtures ---

command -v h5copy > /dev/null \
    || fail "h5copy missing (Debian package hdf5-tools): the HDF5-but-not-a-checkpoint case cannot be built"
if [ "$(ulimit -c unlimited 2> /dev/null && ulimit -c)" != unlimited ]; then
    echo "note: core files cannot be enabled here (ulimit -c); a crash still shows in the exit code and stderr checks"
elif grep -q '^|' /proc/sys/kernel/core_pattern 2> /dev/null; then
    echo "note: core files go to $(cat /proc/sys/kernel/core_pattern), not the case folder; a crash still shows in the exit code and stderr checks"
fi
PY=/usr/bin/python3
have_h5py=0
"$PY" -c 'import h5py' 2> /dev/null && have_h5py=1

# The guarded folder: one good checkpoint from a short real run; every case below that takes
# --checkpoint-dir is given this folder and must leave it as it is.
CK="$WORK/ck"
mpi 2 --max-steps 20 --quiet --checkpoint-dir "$CK" > "$WORK/ck.log" 2>&1 \
    || { fail "the run that makes the guarded checkpoint failed:"; cat "$WORK/ck.log"; finish; }
GOOD="$CK/step-00000020.h5"
check "the guarded folder holds step-00000020.h5" test -f "$GOOD"
G=(--checkpoint-dir "$CK" --max-steps 5 --quiet) # what most cases add
D=(--data "$DATA")

# ------------------------------------------------------------------------- data cases ---

t "data: missing folder" 2 2 "$WORK/nope|no such file" --data "$WORK/nope" "${G[@]}"
t "data: missing folder, 3 ranks" 3 2 "$WORK/nope|no such file" --data "$WORK/nope" "${G[@]}"

d=$(bad_data missing-file); rm "$d/t10k-labels-idx1-ubyte.gz"
t "data: one file missing" 2 2 "t10k-labels-idx1-ubyte|no such file" --data "$d" "${G[@]}"

d=$(bad_data empty); : > "$d/train-labels-idx1-ubyte.gz"
t "data: empty file" 2 2 "train-labels-idx1-ubyte.gz|empty" --data "$d" "${G[@]}"

d=$(bad_data trunc-images); rm "$d/train-images-idx3-ubyte.gz"
head -c $((16 + 30000 * 784 + 392)) "$(raw train-images-idx3-ubyte)" > "$d/train-images-idx3-ubyte"
t "data: truncated images (raw)" 2 2 "train-images-idx3-ubyte|truncated" --data "$d" "${G[@]}"

d=$(bad_data trunc-labels); rm "$d/t10k-labels-idx1-ubyte.gz"
head -c $((8 + 5000)) "$(raw t10k-labels-idx1-ubyte)" > "$d/t10k-labels-idx1-ubyte"
t "data: truncated labels (raw)" 2 2 "t10k-labels-idx1-ubyte|truncated" --data "$d" "${G[@]}"

d=$(bad_data trunc-gz); f="$d/train-labels-idx1-ubyte.gz"
head -c $(($(stat -c %s "$f") / 2)) "$DATA/train-labels-idx1-ubyte.gz" > "$f"
t "data: truncated labels (gzip stream cut)" 2 2 "train-labels-idx1-ubyte.gz|truncated" --data "$d" "${G[@]}"

d=$(bad_data magic); rm "$d/train-images-idx3-ubyte.gz"; f="$d/train-images-idx3-ubyte"
cp "$(raw train-images-idx3-ubyte)" "$f"; printf '\x00\x00\x08\x01' | put_bytes "$f" 0
t "data: images file with the labels' magic" 2 2 "train-images-idx3-ubyte|magic" --data "$d" "${G[@]}"

d=$(bad_data dims); rm "$d/t10k-images-idx3-ubyte.gz"; f="$d/t10k-images-idx3-ubyte"
{ printf '\x00\x00\x08\x03'; be32 10000; be32 27; be32 29; tail -c +17 "$(raw t10k-images-idx3-ubyte)" | head -c $((10000 * 27 * 29)); } > "$f"
t "data: 27x29 images (consistent sizes)" 2 2 "t10k-images-idx3-ubyte|27x29" --data "$d" "${G[@]}"

d=$(bad_data count); rm "$d/train-images-idx3-ubyte.gz"; f="$d/train-images-idx3-ubyte"
cp "$(raw train-images-idx3-ubyte)" "$f"; be32 60001 | put_bytes "$f" 4
t "data: header says 60001 images (raw)" 2 2 "train-images-idx3-ubyte|60001" --data "$d" "${G[@]}"

# The same lie in gzipped files, and a big one: the header promises 1e9 images (and 1e9 labels,
# so the counts agree) where the files hold 10. Only reading the data can tell, and that must
# come before memory for 784 GB is asked for.
d=$(bad_data count-gz)
{ printf '\x00\x00\x08\x03'; be32 1000000000; be32 28; be32 28; head -c 7840 /dev/zero; } | gzip -c > "$d/train-images-idx3-ubyte.gz"
{ printf '\x00\x00\x08\x01'; be32 1000000000; head -c 10 /dev/zero; } | gzip -c > "$d/train-labels-idx1-ubyte.gz"
t "data: gzip header says 1e9 images, holds 10" 2 2 "train-images-idx3-ubyte.gz|1000000000" --data "$d" "${G[@]}"

d=$(bad_data label10); rm "$d/train-labels-idx1-ubyte.gz"; f="$d/train-labels-idx1-ubyte"
cp "$(raw train-labels-idx1-ubyte)" "$f"; printf '\x0a' | put_bytes "$f" $((8 + 12345))
t "data: label 10" 2 2 "train-labels-idx1-ubyte|label 10|12345" --data "$d" "${G[@]}"
# Three ranks as two "nodes" of 2 and 1: two ranks read the files and both fail; one line.
MPIFLAGS=(-x MPITRAIN_NODE_SIZE=2)
t "data: label 10, 3 ranks on 2 nodes" 3 2 "train-labels-idx1-ubyte|label 10|12345" --data "$d" "${G[@]}"

d=$(bad_data counts); rm "$d/train-labels-idx1-ubyte.gz"; f="$d/train-labels-idx1-ubyte"
head -c $((8 + 59999)) "$(raw train-labels-idx1-ubyte)" > "$f"; be32 59999 | put_bytes "$f" 4
t "data: 59999 labels for 60000 images" 2 2 "train-labels-idx1-ubyte|59999 labels but 60000 images" --data "$d" "${G[@]}"

d=$(bad_data dir); rm "$d/t10k-images-idx3-ubyte.gz"; mkdir "$d/t10k-images-idx3-ubyte"
t "data: a folder in place of a file" 2 2 "t10k-images-idx3-ubyte|not a regular file" --data "$d" "${G[@]}"

d=$(bad_data corrupt-gz); f="$d/train-images-idx3-ubyte.gz"
flip "$f" $(($(stat -c %s "$f") / 2)) 16
t "data: corrupt gzip data" 2 2 "train-images-idx3-ubyte.gz|gzip" --data "$d" "${G[@]}"

# An unreadable file. Root reads it anyway, so as root the case runs as user nobody, with a copy
# of the program and the data in a folder of /tmp that nobody can enter.
d=$(bad_data unreadable); f="$d/train-labels-idx1-ubyte.gz"; chmod 000 "$f"
if [ "$(id -u)" -ne 0 ]; then
    t "data: unreadable file (chmod 000)" 2 2 "train-labels-idx1-ubyte.gz|Permission denied" --data "$d" "${G[@]}"
else
    as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/tmp)
    pub=$(mktemp -d /tmp/mpitrain-nobody.XXXXXX)
    chmod 755 "$pub"
    cp "$MPITRAIN" "$pub/mpitrain"
    cp -r "$d" "$pub/data"
    chmod 755 "$pub/data"
    chmod 644 "$pub/data/"*
    chmod 000 "$pub/data/train-labels-idx1-ubyte.gz"
    # the sanitizer build's LeakSanitizer must read its suppressions as nobody too
    # (LSAN_OPTIONS is name=value pairs joined by ':'; only the pair named exactly
    # "suppressions" is a file, print_suppressions=0 is not)
    lsan=()
    if [ -n "${LSAN_OPTIONS:-}" ]; then
        IFS=: read -r -a pairs <<< "$LSAN_OPTIONS"
        for i in "${!pairs[@]}"; do
            if [[ ${pairs[$i]} == suppressions=* ]]; then
                cp "${pairs[$i]#suppressions=}" "$pub/lsan.supp" && chmod 644 "$pub/lsan.supp"
                pairs[$i]="suppressions=$pub/lsan.supp"
            fi
        done
        lsan=("LSAN_OPTIONS=$(IFS=:; echo "${pairs[*]}")")
    fi
    if command -v setpriv > /dev/null && "${as_nobody[@]}" test -x "$pub/mpitrain" \
        && "${as_nobody[@]}" test -r "$pub/data/train-images-idx3-ubyte.gz" \
        && ! "${as_nobody[@]}" test -r "$pub/data/train-labels-idx1-ubyte.gz"; then
        # no --checkpoint-dir: nobody may not write the guarded folder, and must not need to
        PRE=("${as_nobody[@]}" "${lsan[@]}")
        MPITRAIN_SAVED=$MPITRAIN MPITRAIN=$pub/mpitrain
        t "data: unreadable file (chmod 000, as nobody)" 2 2 "train-labels-idx1-ubyte.gz|Permission denied" \
            --data "$pub/data" --max-steps 5 --quiet
        MPITRAIN=$MPITRAIN_SAVED
    else
        fail "running as root, and user nobody cannot run $pub/mpitrain (setpriv from util-linux missing?): the unreadable-file case cannot run"
    fi
    rm -rf "$pub"
fi

# ------------------------------------------------------------------- checkpoint cases ---

mpi 2 --hidden 64 --max-steps 5 --quiet --checkpoint-dir "$WORK/h64" > "$WORK/h64.log" 2>&1 \
    || { fail "the --hidden 64 run failed:"; cat "$WORK/h64.log"; }
t "resume: checkpoint of another architecture" 2 2 "784-64-10|784-100-10" \
    "${D[@]}" --resume "$WORK/h64/step-00000005.h5" "${G[@]}"
t "init-from: checkpoint of another architecture" 2 2 "784-64-10|784-100-10" \
    "${D[@]}" --init-from "$WORK/h64/step-00000005.h5" "${G[@]}"

t "resume: checkpoint of another schedule" 2 2 "step-00000020.h5|--sched plateau|--sched cosine" \
    "${D[@]}" --resume "$GOOD" --sched cosine "${G[@]}"

head -c $(($(stat -c %s "$GOOD") / 2)) "$GOOD" > "$WORK/truncated.h5"
t "resume: truncated checkpoint" 2 2 "truncated.h5|truncated" "${D[@]}" --resume "$WORK/truncated.h5" "${G[@]}"

echo "these are not the weights you are looking for" > "$WORK/notes.txt"
t "resume: a text file" 2 2 "notes.txt|not a readable HDF5 file" "${D[@]}" --resume "$WORK/notes.txt" "${G[@]}"
t "resume: no such file" 2 2 "$WORK/absent.h5|No such file" "${D[@]}" --resume "$WORK/absent.h5" "${G[@]}"
t "resume: a folder" 2 2 "$WORK/h64|not a regular file" "${D[@]}" --resume "$WORK/h64" "${G[@]}"

if command -v h5copy > /dev/null; then
    # h5copy writes HDF5's oldest format, which mpitrain refuses before it looks for the
    # attribute: h5repack --latest converts it
    h5copy -i "$GOOD" -o "$WORK/model-only-legacy.h5" -s /model -d /model
    h5repack --latest "$WORK/model-only-legacy.h5" "$WORK/model-only.h5"
    t "resume: HDF5 file without the format attribute" 2 2 "model-only.h5|not an mpitrain checkpoint" \
        "${D[@]}" --resume "$WORK/model-only.h5" "${G[@]}"
fi

if [ $have_h5py -eq 1 ]; then
    cp "$GOOD" "$WORK/v99.h5"
    "$PY" -c 'import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    f.attrs["format_version"] = np.int64(99)' "$WORK/v99.h5"
    t "resume: format_version 99" 2 2 "v99.h5|format version 99" "${D[@]}" --resume "$WORK/v99.h5" "${G[@]}"
    # a state_dict as h5py writes it by default, in HDF5's oldest format (no metadata checksums)
    "$PY" -c 'import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    for name, shape in [("fc1.weight", (100, 784)), ("fc1.bias", (100,)),
                        ("fc2.weight", (10, 100)), ("fc2.bias", (10,))]:
        f.create_dataset("model/" + name, data=np.zeros(shape, "<f4"))' "$WORK/legacy.h5"
    t "init-from: h5py file in HDF5's oldest format" 2 2 "legacy.h5|oldest file format|h5repack --latest" \
        "${D[@]}" --init-from "$WORK/legacy.h5" "${G[@]}"
    t "eval: h5py file in HDF5's oldest format" 2 2 "legacy.h5|superblock version 0" \
        eval "${D[@]}" --checkpoint "$WORK/legacy.h5"
else
    fail "python3-h5py missing: cannot write a checkpoint with format_version 99"
fi

# --resume auto skips a corrupt newest checkpoint with a warning and resumes from the one before.
A="$WORK/auto"; mkdir -p "$A"
cp "$GOOD" "$A/step-00000020.h5"
head -c $(($(stat -c %s "$GOOD") / 2)) "$GOOD" > "$A/step-00000040.h5"
WARNS=1
t "resume auto: newest truncated, previous good" 2 0 "" "${D[@]}" --resume auto --checkpoint-dir "$A" --max-steps 25 --progress off
check "[resume auto: newest truncated] the warning names step-00000040.h5" \
    grep -q '^mpitrain: warning: skipping .*step-00000040.h5' "$WORK/case/$n_case/stderr"
check "[resume auto: newest truncated] resumed from step-00000020.h5" \
    grep -q "resumed from $A/step-00000020.h5" "$LAST_OUT"
check "[resume auto: newest truncated] went on to step 25" test -f "$A/step-00000025.h5"

A="$WORK/auto-bad"; mkdir -p "$A"
head -c 1000 "$GOOD" > "$A/step-00000020.h5"
cp "$WORK/notes.txt" "$A/step-00000040.h5"
WARNS=2
t "resume auto: every checkpoint corrupt" 2 2 "$A|none of its 2 checkpoints" \
    "${D[@]}" --resume auto --checkpoint-dir "$A" --max-steps 5 --quiet
check "[resume auto: every checkpoint corrupt] nothing new in its folder" \
    test "$(ls "$A" | tr '\n' ' ')" = "step-00000020.h5 step-00000040.h5 "

t "eval: no --checkpoint" 2 2 "eval needs --checkpoint" eval "${D[@]}"
t "eval: a text file" 2 2 "notes.txt|not a readable HDF5 file" eval --checkpoint "$WORK/notes.txt" "${D[@]}"

# ----------------------------------------------------------------------- option cases ---

t "--lr 0" 2 2 "--lr|not positive" "${D[@]}" --lr 0 "${G[@]}"
t "--lr -1" 2 2 "--lr|-1|not positive" "${D[@]}" --lr -1 "${G[@]}"
t "--lr abc" 2 2 "--lr|'abc'|not a finite number" "${D[@]}" --lr abc "${G[@]}"
t "--lr nan" 2 2 "--lr|'nan'|not a finite number" "${D[@]}" --lr nan "${G[@]}"
t "--batch-size 0" 2 2 "--batch-size|not positive" "${D[@]}" --batch-size 0 "${G[@]}"
t "--batch-size 2 on 3 ranks" 3 2 "--batch-size 2|3 ranks" "${D[@]}" --batch-size 2 "${G[@]}"
t "--sched bogus" 2 2 "--sched|'bogus'|plateau" "${D[@]}" --sched bogus "${G[@]}"
t "--patience -1" 2 2 "--patience|negative" "${D[@]}" --patience -1 "${G[@]}"
t "--factor 1" 2 2 "--factor|not in (0, 1)" "${D[@]}" --factor 1 "${G[@]}"
t "--factor 1.5" 2 2 "--factor|1.5|not in (0, 1)" "${D[@]}" --factor 1.5 "${G[@]}"
t "--epochs 0" 2 2 "--epochs|not positive" "${D[@]}" --epochs 0 "${G[@]}"
t "--hidden 100, (trailing comma)" 2 2 "--hidden|comma" "${D[@]}" --hidden 100, "${G[@]}"
t "--hidden 0" 2 2 "--hidden|width 0" "${D[@]}" --hidden 0 "${G[@]}"
t "--no-such-option" 2 2 "unknown option '--no-such-option'" "${D[@]}" --no-such-option "${G[@]}"
t "--lr without a value" 2 2 "--lr needs a value" "${D[@]}" "${G[@]}" --lr
t "--gamma 0 --sched step" 2 2 "--gamma|not positive" "${D[@]}" --gamma 0 --sched step "${G[@]}"
t "--max-steps -1" 2 2 "--max-steps|negative" "${D[@]}" --checkpoint-dir "$CK" --max-steps -1
t "--keep 0" 2 2 "--keep|not positive" "${D[@]}" --keep 0 "${G[@]}"
t "--resume auto without --checkpoint-dir" 2 2 "--resume auto needs --checkpoint-dir" "${D[@]}" --resume auto --max-steps 5
t "--resume with --init-from" 2 2 "exclude each other" "${D[@]}" --resume "$GOOD" --init-from "$GOOD" "${G[@]}"
: > "$WORK/file"
# Another job holds the folder's lock (flock(1) stands in for it): refused, nothing written.
if command -v flock > /dev/null; then
    PRE=(flock -n -o "$CK/.lock")
    t "--checkpoint-dir locked by another job" 2 2 "$CK|another mpitrain job" "${D[@]}" "${G[@]}"
else
    fail "flock missing (Debian package util-linux): the locked-folder case cannot run"
fi
t "--checkpoint-dir under a regular file" 2 2 "$WORK/file/sub|checkpoint folder" "${D[@]}" --checkpoint-dir "$WORK/file/sub" --max-steps 5 --quiet

# ------------------------------------------------------------------------- divergence ---
# A rate this large makes the loss NaN within a few steps. The run must stop at once with exit 1,
# name the step, and write nothing: the good checkpoint already in the folder stays the newest.
t "divergence: --lr 1e8" 2 1 "diverged|at step" "${D[@]}" --lr 1e8 --max-steps 200 --checkpoint-dir "$CK" --quiet
line=$(grep -m1 'error:' "$WORK/case/$n_case/ours")
check "[divergence] the error line gives the step number" grep -qE 'at step [0-9]+ ' <<< "$line"

# ------------------------------------------------------------------------------ table ---
echo
printf '%-44s %2s %4s %4s  %s\n' "case" "np" "exit" "time" "stderr line"
printf '%s\n' "${rows[@]}"
echo
finish
