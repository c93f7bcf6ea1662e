# Shared by the script tests: how to run the trainer under MPI, and how to count checks.
# ctest sets MPITRAIN, MPIEXEC, DATA and CKPT_COMPARE; see tests/mpi/CMakeLists.txt.
set -u

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

. "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"

for var in MPITRAIN MPIEXEC DATA CKPT_COMPARE; do
    if [ -z "${!var:-}" ]; then
        echo "FAIL: $var is not set (run this test through ctest)"; exit 1
    fi
done
if [ ! -e "$DATA/train-images-idx3-ubyte.gz" ] && [ ! -e "$DATA/train-images-idx3-ubyte" ]; then
    echo "FAIL: MNIST is missing in $DATA: run data/get_mnist.sh (or --from a local copy)"
    exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mpitrain-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# mpi N ARGS...: the trainer on N ranks with the test data, bounded in time.
mpi() {
    local n=$1; shift
    timeout -k 10 300 "$MPIEXEC" --oversubscribe -np "$n" "$MPITRAIN" --data "$DATA" "$@"
}

# same_weights A B TOL: the /model weights of A and B agree within TOL (0: bit-identical).
same_weights() { "$CKPT_COMPARE" "$1" "$2" "$3"; }

# metric_lines FILE: the metrics file without its timing fields, for comparing two runs.
metric_lines() { sed -E 's/,"seconds":.*$/}/' "$1"; }
