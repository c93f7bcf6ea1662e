#!/usr/bin/env bash
# Build the libFuzzer targets (clang, -DMPITRAIN_FUZZ=ON, in build-fuzz) when needed, replay
# every stored input once, then fuzz each target for a bounded time from its corpus in
# tests/fuzz/corpus/<target> (regression inputs included: a fixed crash that comes back fails).
#   tests/fuzz/run.sh [-t SECONDS] [TARGET...]
#     -t SECONDS   fuzzing time per target (default 60; FUZZ_SECONDS also sets it)
#     TARGET       idx, ckpt (default: both; ckpt also fuzzes from corpus/ckpt-legacy)
# A crash, an ASan/UBSan report, a leak, a timeout (one input over 25 s), an allocation over
# 1 GiB by mpitrain's code or more than 2 GB of memory in use fails: the script prints the
# report, copies the input to build-fuzz/findings/ and exits 1.
# New corpus entries go to a scratch folder, never into tests/fuzz/corpus. FUZZ_BUILD_DIR
# overrides the build folder.
set -euo pipefail
prog=${0##*/}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
corpus=$repo/tests/fuzz/corpus
build=${FUZZ_BUILD_DIR:-$repo/build-fuzz}
seconds=${FUZZ_SECONDS:-60}

while (($#)); do
    case $1 in
    -t) seconds=${2:?-t needs a number of seconds}; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "$prog: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) break ;;
    esac
done
targets=("$@")
((${#targets[@]})) || targets=(idx ckpt)
for t in "${targets[@]}"; do
    case $t in idx | ckpt) ;; *) echo "$prog: no target '$t' (idx, ckpt)" >&2; exit 2 ;; esac
done

if ! command -v clang >/dev/null 2>&1; then
    echo "$prog: FAIL: clang is not installed; the fuzz targets need clang and libFuzzer:" \
        "apt-get install clang libclang-rt-14-dev (jobs/setup.sh does)" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mpitrain-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

CC=clang cmake -S "$repo" -B "$build" -DMPITRAIN_FUZZ=ON > "$work/configure.log" 2>&1 ||
    { cat "$work/configure.log" >&2; echo "$prog: FAIL: cannot configure $build" >&2; exit 1; }
cmake --build "$build" -j "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") \
    > "$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; echo "$prog: FAIL: cannot build the fuzz targets" >&2; exit 1; }

# Leaks inside the libraries (HDF5's metadata cache) are not mpitrain's: the same suppressions
# as the sanitizer build (tests/memcheck/lsan.supp). HDF5 1.10 allocates sizes it reads from a
# malformed file (2^52 bytes in H5C_protect for a v0 file; in H5Dread, the size of a chunk as
# the unchecksummed chunk index records it) and handles a NULL from malloc:
# allocator_may_return_null=1 and max_allocation_size_mb=1024 make any request over 1 GiB fail
# with NULL, as under a memory limit, instead of stopping the run. mpitrain's own requests over
# 1 GiB still abort with their stack (alloc_limit.c). intercept_tls_get_addr=0: see
# tests/memcheck/sanitizer-env.cmake.in. UBSan stops at the first report.
export ASAN_OPTIONS="allocator_may_return_null=1:max_allocation_size_mb=1024:intercept_tls_get_addr=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$repo/tests/memcheck/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

failed=0
# run NAME TARGET LIBFUZZER_ARGS...: one run of fuzz_TARGET; a failure prints the report and
# keeps the input that caused it
run() {
    local name=$1 t=$2 rc=0 saved
    shift 2
    local dir=$work/$name
    mkdir -p "$dir/tmp"
    # TMPDIR: fuzz_ckpt's input file, removed with $work even after a crash
    TMPDIR=$dir/tmp "$build/tests/fuzz/fuzz_$t" -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$dir/" "$@" > "$dir/log" 2>&1 || rc=$?
    saved=$(find "$dir" -maxdepth 1 -type f \
        \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | head -n 1)
    if [ "$rc" -eq 0 ] && [ -z "$saved" ]; then
        if grep -q '^Running: ' "$dir/log"; then
            echo "   inputs replayed: $(grep -c '^Running: ' "$dir/log")"
        else
            sed -n 's/^stat::number_of_executed_units: */   inputs run: /p' "$dir/log"
        fi
        echo "ok: $name"
        return 0
    fi
    failed=1
    echo "FAIL: $name (fuzz_$t exited with $rc); its report:"
    grep -v -E '^(#[0-9]+|INFO:|MS:|base unit:|0x|.*WARNING: AddressSanitizer failed to allocate)' \
        "$dir/log" | sed 's/^/  | /' | tail -n 80
    if [ -n "$saved" ]; then
        mkdir -p "$build/findings"
        cp "$saved" "$build/findings/"
        echo "  input: $build/findings/${saved##*/} ($(stat -c %s "$saved") bytes)"
        echo "  replay: $build/tests/fuzz/fuzz_$t $build/findings/${saved##*/}"
        echo "  once mpitrain is fixed, add it to tests/fuzz/corpus/$t/ as a regression input"
    fi
}

for t in "${targets[@]}"; do
    dirs=("$corpus/$t")
    [ "$t" = ckpt ] && dirs+=("$corpus/ckpt-legacy")
    echo "== fuzz_$t: replay ${dirs[*]#$repo/}"
    mapfile -t inputs < <(find "${dirs[@]}" -type f | sort)
    run "replay-$t" "$t" "${inputs[@]}" # files, not folders: each runs once, nothing is written
    echo "== fuzz_$t: ${seconds} s from ${dirs[*]#$repo/}"
    mkdir -p "$work/fuzz-$t/new"
    run "fuzz-$t" "$t" -max_total_time="$seconds" -dict="$repo/tests/fuzz/$t.dict" \
        "$work/fuzz-$t/new" "${dirs[@]}"
done
exit $failed
