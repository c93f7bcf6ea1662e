#!/usr/bin/env bash
# Build and run the whole test suite: the normal build, then the same suite built with
# AddressSanitizer and UndefinedBehaviorSanitizer.
#   tests/run.sh [ctest options...]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$repo/build" -j "$(nproc)"
(cd "$repo/build" && ctest --output-on-failure "$@")
