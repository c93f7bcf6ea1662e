#!/usr/bin/env bash
# Build and run the whole test suite, in three stages; each runs even when one before it failed,
# and the script fails when any of them failed:
#   1. the normal build (build/) and its ctest suite, memcheck_train under valgrind included;
#   2. the same suite built with AddressSanitizer and UndefinedBehaviorSanitizer
#      (build-asan/, -DMPITRAIN_SANITIZE=ON; the sanitizers' options come with that build);
#   3. the libFuzzer targets for FUZZ_SECONDS (default 60) each (build-fuzz/, clang):
#      tests/fuzz/run.sh, which fails, saying so, when clang is missing.
#   tests/run.sh [ctest options...]     (the ctest options apply to stages 1 and 2)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

results=()
# stage NAME COMMAND...: run a stage, note its result and time
stage() {
    local name=$1 start=$SECONDS rc=0
    shift
    echo "=== $name"
    "$@" || rc=$?
    results+=("$(printf '%-40s %-6s %5d s' "$name" "$([ $rc -eq 0 ] && echo ok || echo FAILED)" \
        $((SECONDS - start)))")
    return 0
}
suite() { # suite BUILD_DIR CMAKE_OPTIONS... -- CTEST_OPTIONS...
    local dir=$1 opts=()
    shift
    while (($#)) && [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    cmake -S "$repo" -B "$dir" "${opts[@]}" &&
        cmake --build "$dir" -j "$(nproc)" &&
        (cd "$dir" && ctest --output-on-failure "$@")
}

stage "normal build + ctest (build)" suite "$repo/build" -DCMAKE_BUILD_TYPE=Release -- "$@"
# The sanitizers' options come with that build (tests/memcheck/sanitizer-env.cmake.in).
stage "ASan+UBSan build + ctest (build-asan)" suite "$repo/build-asan" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPITRAIN_SANITIZE=ON -- "$@"
stage "fuzzing (build-fuzz)" "$repo/tests/fuzz/run.sh"

echo "=== summary"
printf '%s\n' "${results[@]}"
! printf '%s\n' "${results[@]}" | grep -q FAILED
