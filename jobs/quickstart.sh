#!/usr/bin/env bash
# One command from a fresh Debian machine to a trained model: install, fetch MNIST, build, then
# train on 2 ranks with the tutorial's best setting (ReduceLROnPlateau, 10 epochs).
#   jobs/quickstart.sh [--from DIR] [trainer options...]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
setup=()
if [ "${1-}" = --from ]; then setup=(--from "${2:?--from needs a folder}"); shift 2; fi
"$repo/jobs/setup.sh" "${setup[@]}"
cd "$repo"
exec jobs/local.sh -n 2 --checkpoint-dir checkpoints/quickstart --metrics checkpoints/quickstart/metrics.jsonl "$@"
