#!/usr/bin/env bash
# The reduction between nodes is correct. MPITRAIN_NODE_SIZE=K makes every K ranks of this
# machine act as a node of their own, so the path between nodes (node sums, then the first rank
# of each node reduces and broadcasts over MPI) runs here. Its weights match the single-node
# path within the np-invariance tolerance, and every rank holds the same weights (the ranks
# compare a hash of their weights at every save and exit 1 if they differ).
. "$(dirname "$0")/lib.sh"

steps=100
run() { # run NAME NP [VAR=VALUE...]
    local name=$1 np=$2; shift 2
    if ! env "$@" timeout -k 10 300 "$MPIEXEC" --oversubscribe -np "$np" "$MPITRAIN" --data "$DATA" \
        --max-steps $steps --checkpoint-dir "$WORK/$name" > "$WORK/$name.log" 2>&1; then
        fail "$name: training failed"; cat "$WORK/$name.log"
    fi
}
ckpt() { printf '%s/%s/step-%08d.h5' "$WORK" "$1" $steps; }

run one4 4
run two4 4 MPITRAIN_NODE_SIZE=2
run four4 4 MPITRAIN_NODE_SIZE=1
run uneven3 3 MPITRAIN_NODE_SIZE=2
run plain4 4 MPITRAIN_ALLREDUCE=mpi
check "single node: the log says 1 node" grep -q "ranks 4 on 1 node(s)" "$WORK/one4.log"
check "NODE_SIZE=2: the log says 2 nodes" grep -q "ranks 4 on 2 node(s)" "$WORK/two4.log"
check "NODE_SIZE=1: the log says 4 nodes" grep -q "ranks 4 on 4 node(s)" "$WORK/four4.log"
check "3 ranks, NODE_SIZE=2: the log says 2 nodes" grep -q "ranks 3 on 2 node(s)" "$WORK/uneven3.log"
for name in two4 four4 uneven3 plain4; do
    check "$name matches the single-node path within 1e-4" same_weights "$(ckpt one4)" "$(ckpt "$name")" 1e-4
done
finish
