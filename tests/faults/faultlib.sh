# Shared by the fault-injection tests: start a job in the background, find its ranks, strike
# one, wait for the job to end within a bound, and clean up on exit, pass or fail: every
# process a test started or found under its jobs is killed by pid, every mount it made is
# unmounted, and WORK is removed.
# Sources tests/mpi/lib.sh (pass, fail, check, finish, mpi, same_weights, WORK).
. "$(dirname "${BASH_SOURCE[0]}")/../mpi/lib.sh"

JOB_LIMIT=${JOB_LIMIT:-300} # seconds any background job may run before timeout ends it
OWNED=()                    # "pid:starttime" of the processes this test is responsible for
MOUNTS=()                   # mount points to unmount on exit

# starttime PID: the process's start time in clock ticks (field 22 of /proc/PID/stat), so that a
# recycled pid is never mistaken for ours.
starttime() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# pstate PID: R, S, T, Z, ... or nothing when the process is gone.
pstate() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1; }

# own PID...: remember processes to kill on exit.
own() {
    local p s
    for p in "$@"; do
        s=$(starttime "$p")
        [ -n "$s" ] && OWNED+=("$p:$s")
    done
}

# alive PID: the process runs (or is stopped); a zombie has ended.
alive() {
    local s
    s=$(pstate "$1")
    [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]
}

# same_process PID:START: that very process still exists and has not ended.
same_process() {
    local pid=${1%%:*} start=${1##*:}
    [ "$(starttime "$pid")" = "$start" ] && alive "$pid"
}

# descendants PID: the pids of all live descendants of PID.
descendants() {
    local c
    for c in $(pgrep -P "$1"); do
        echo "$c"
        descendants "$c"
    done
}

cleanup() {
    local entry pid m
    # whatever our jobs started (mpirun, ranks) is ours too, even if a test never looked for it
    for entry in "${OWNED[@]}"; do
        same_process "$entry" && own $(descendants "${entry%%:*}")
    done
    for entry in "${OWNED[@]}"; do
        if same_process "$entry"; then
            pid=${entry%%:*}
            kill -KILL "$pid" 2>/dev/null
        fi
    done
    wait 2>/dev/null
    for m in "${MOUNTS[@]}"; do
        if mountpoint -q "$m"; then
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null ||
                echo "WARNING: could not unmount $m"
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM HUP

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# wait_until SECONDS COMMAND...: poll COMMAND every 50 ms until it succeeds (0) or the time is
# up (1).
wait_until() {
    local limit=$1; shift
    local end
    end=$(awk -v a="$(now)" -v l="$limit" 'BEGIN { printf "%.3f", a + l }')
    while ! "$@"; do
        if awk -v a="$(now)" -v e="$end" 'BEGIN { exit !(a > e) }'; then
            return 1
        fi
        sleep 0.05
    done
}

# start_job NAME NP ARGS...: mpirun NP ranks of the trainer in the background, bounded by
# timeout; stdout in $WORK/NAME.out, stderr in $WORK/NAME.err. Sets JOB to the pid of the
# timeout process (mpirun is its child, the ranks are mpirun's). Variables to add to the job's
# environment go in the array JOB_ENV (e.g. JOB_ENV=(MPITRAIN_TEST_STOP_BEFORE_RENAME=1)).
JOB_ENV=()
start_job() {
    local name=$1 np=$2; shift 2
    env "${JOB_ENV[@]}" timeout -k 10 "$JOB_LIMIT" "$MPIEXEC" --oversubscribe -np "$np" \
        "$MPITRAIN" --data "$DATA" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
    JOB=$!
    own "$JOB"
}

# job_ranks JOB NP SECONDS: wait until mpirun under JOB has started NP trainer processes; sets
# LAUNCHER and RANKS (their pids, in rank order) and owns them all. Returns 1 on timeout.
LAUNCHER=
RANKS=()
_found_ranks() {
    LAUNCHER=$(pgrep -P "$1" | head -n 1)
    [ -n "$LAUNCHER" ] || return 1
    local pids
    pids=$(pgrep -P "$LAUNCHER" -x "$(basename "$MPITRAIN" | cut -c1-15)")
    [ "$(echo "$pids" | grep -c .)" -eq "$2" ]
}
job_ranks() {
    local job=$1 np=$2 limit=$3
    RANKS=()
    wait_until "$limit" _found_ranks "$job" "$np" || return 1
    own "$LAUNCHER"
    local p r
    for p in $(pgrep -P "$LAUNCHER" -x "$(basename "$MPITRAIN" | cut -c1-15)"); do
        r=$(rank_of "$p")
        [ -n "$r" ] || return 1
        RANKS[$r]=$p
        own "$p"
    done
    [ "${#RANKS[@]}" -eq "$np" ]
}

# rank_of PID: OMPI_COMM_WORLD_RANK from the process's environment.
rank_of() {
    tr '\0' '\n' < "/proc/$1/environ" 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p'
}

# none_alive PID...: none of these processes runs any more.
none_alive() {
    local p
    for p in "$@"; do
        alive "$p" && return 1
    done
    return 0
}

# all_alive PID...: every one of these processes still runs.
all_alive() {
    local p
    for p in "$@"; do
        alive "$p" || return 1
    done
}

# job_ended JOB PID...: the timeout process and all the given pids have ended.
job_ended() { none_alive "$@"; }

# step_files DIR: the checkpoint files in DIR under their final names, oldest first.
step_files() { find "$1" -maxdepth 1 -name 'step-*.h5' 2>/dev/null | sort; }

# has_step_file DIR / has_tmp_file DIR: at least one such file exists now.
has_step_file() { [ -n "$(step_files "$1")" ]; }
has_tmp_file() { [ -n "$(tmp_files "$1")" ]; }

# tmp_files DIR: temporary checkpoint files in DIR.
tmp_files() { find "$1" -maxdepth 1 -name '.tmp-step-*' 2>/dev/null | sort; }

# step_of FILE: the global step in a step-NNNNNNNN.h5 name, without leading zeros.
step_of() { basename "$1" .h5 | sed 's/^step-0*//; s/^$/0/'; }

# loads FILE: mpitrain eval reads the checkpoint's weights and evaluates them (exit 0).
loads() {
    timeout -k 5 120 "$MPITRAIN" eval --checkpoint "$1" --data "$DATA" > "$WORK/eval.out" 2>&1
}

# error_lines FILE: the lines the trainer itself wrote to stderr (mpirun adds its own banners).
error_lines() { grep -E '^mpitrain: ' "$1"; }

# finite_model FILE: no NaN or infinity among the /model and /optimizer values of FILE.
finite_model() {
    local g out
    for g in /model /optimizer; do
        out=$(h5dump -y -g "$g" "$1" 2>&1) || { echo "h5dump failed on $1 $g"; return 1; }
        # only the values, between "DATA {" and its "}", not names or the file's path
        if echo "$out" | awk '/DATA \{/ { d = 1; next } d && /^ *\}/ { d = 0 } d' |
            grep -Eiwq -- '-?(nan|inf|infinity)'; then
            echo "$1: non-finite values under $g"
            return 1
        fi
    done
}

# per_rank_codes FILE NP ARGS...: run the trainer on NP ranks, each rank inside a small shell
# that appends "RANK EXITCODE" to FILE, so that every rank's own exit code is known (mpirun
# reports only one). mpirun is told not to kill the other ranks when one exits non-zero
# (orte_abort_on_non_zero_status 0): by default it kills the slower ranks as soon as one exits
# non-zero, and their codes would be lost. With that setting mpirun itself exits 0 whatever the
# ranks return, so check mpirun's code in a separate, ordinary run.
per_rank_codes() {
    local file=$1 np=$2; shift 2
    : > "$file"
    CODES_FILE=$file OMPI_MCA_orte_abort_on_non_zero_status=0 timeout -k 10 "$JOB_LIMIT" \
        "$MPIEXEC" --oversubscribe -np "$np" \
        bash -c '"$0" "$@"; rc=$?; echo "$OMPI_COMM_WORLD_RANK $rc" >> "$CODES_FILE"; exit $rc' \
        "$MPITRAIN" --data "$DATA" "$@" < /dev/null
}

# ranks_exit WHAT FILE NP CODE: check that each of the NP ranks recorded CODE in FILE.
ranks_exit() {
    local what=$1 file=$2 np=$3 want=$4 r code
    for ((r = 0; r < np; r++)); do
        code=$(sed -n "s/^$r //p" "$file")
        check "$what: rank $r exits $want by itself (got ${code:-nothing recorded})" \
            test "${code:-x}" = "$want"
    done
}
