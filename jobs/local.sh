#!/usr/bin/env bash
# Run the trainer on this machine with mpirun, without SLURM.
#   jobs/local.sh [-n N] [trainer options...]
# Exits with the trainer's exit code.
set -euo pipefail

prog=${0##*/}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary=${MPITRAIN:-$repo/build/mpitrain}

usage() {
    cat <<EOF
usage: jobs/local.sh [-n N] [trainer options...]

Runs 'mpirun -np N' (N defaults to 2) on the trainer, $repo/build/mpitrain
(or \$MPITRAIN if set), and passes every other argument to it. When run as root it sets
OMPI_ALLOW_RUN_AS_ROOT and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM; when N is more than the cores
nproc reports it adds --oversubscribe. Relative paths in the trainer's options (such as
--data, whose default is data/mnist) are relative to the current working directory.
Exits with the trainer's exit code.

The trainer's own options follow.

EOF
}

die() { echo "$prog: $*" >&2; exit 1; }
usage_error() { echo "$prog: $*; see --help" >&2; exit 2; }

check_binary() {
    [[ -x $binary ]] ||
        die "$binary is missing or not executable; build it with: cmake -S $repo -B $repo/build && cmake --build $repo/build -j2 (or set MPITRAIN to the program)"
}

np=2
case ${1-} in
    -n | --np)
        (($# >= 2)) || usage_error "$1 needs a value"
        np=$2
        shift 2
        ;;
    -n=* | --np=*)
        np=${1#*=}
        shift
        ;;
    -h | --help)
        usage
        check_binary
        exec "$binary" --help
        ;;
esac
[[ $np =~ ^[1-9][0-9]*$ ]] || usage_error "-n needs a positive whole number, not '$np'"

check_binary
command -v mpirun >/dev/null 2>&1 || die "mpirun not found; install Open MPI (apt-get install -y openmpi-bin)"

mpirun_args=(-np "$np")
if ((np > $(nproc))); then
    mpirun_args+=(--oversubscribe)
fi
if (($(id -u) == 0)); then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

exec mpirun "${mpirun_args[@]}" "$binary" "$@"
