#!/usr/bin/env bash
# Set up a Debian machine for mpitrain: install the packages it builds and tests with, fetch
# MNIST into data/mnist, build into build/.
#   jobs/setup.sh [--from DIR] [--no-install]
#     --from DIR     copy MNIST from a local folder instead of downloading it
#     --no-install   skip apt-get (the packages are there already)
set -euo pipefail

prog=${0##*/}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Everything the build, the tests and the job scripts use, by Debian package name.
packages=(
    build-essential cmake pkg-config
    openmpi-bin libopenmpi-dev          # MPI
    libblis-serial-dev                  # BLIS, single-threaded: one rank per core
    libhdf5-openmpi-dev hdf5-tools      # HDF5 checkpoints, h5dump for the tests
    zlib1g-dev                          # gzip IDX files
    python3-h5py python3-numpy          # checkpoint interop tests
    python3-torch python3-torchvision   # interop test; tests/make_reference.py
    slurm-wlm munge                     # the SLURM job-script test
    gnuplot-nox                         # plots of sweeps
    dataset-fashion-mnist               # Fashion-MNIST, for data/get_mnist.sh --fashion
    valgrind clang libclang-rt-14-dev   # memory checks and fuzzing
)

from=""
install=1
while (($#)); do
    case $1 in
        --from) from=${2:?--from needs a folder}; shift 2 ;;
        --no-install) install=0; shift ;;
        -h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "$prog: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if ((install)); then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends "${packages[@]}"
fi

if [ -n "$from" ]; then
    "$repo/data/get_mnist.sh" --from "$from"
else
    "$repo/data/get_mnist.sh"
fi

cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$repo/build" -j "$(nproc)"
echo "$prog: ready: $repo/build/mpitrain"
