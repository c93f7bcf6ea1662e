#!/usr/bin/env bash
# The speed benchmark (not part of ctest). In one go it measures this machine's roofline, BLIS
# sgemm on exactly the model's shapes, then the trainer for np = 1 and 2 (and 8 oversubscribed,
# reported separately) for hidden sizes 100 and 1024, with MNIST's pixels as they are (the
# sparse first layer) and with --normalize (every product dense, through BLIS), and the
# allreduce of the gradient through mpitrain's node reduction and through plain MPI_Allreduce.
# Prints one Markdown table.
#   tests/perf/bench.sh [--epochs N] [--data DIR]
# Timings on a shared machine are noisy: compare numbers from the same run.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BUILD:-$repo/build}
data=$repo/data/mnist
epochs=5
while (($#)); do
    case $1 in
        --epochs) epochs=$2; shift 2 ;;
        --data) data=$2; shift 2 ;;
        -h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
for f in mpitrain tests/perf/sgemm_bench tests/perf/allreduce_bench; do
    [ -x "$build/$f" ] || { echo "bench.sh: $build/$f is missing: build first (cmake --build build)" >&2; exit 1; }
done
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo

# 1. the roofline: sgemm on the products of one step, per rank (rows = 100 / np)
for h in 100 1024; do
    for np in 1 2; do
        "$build/tests/perf/sgemm_bench" $((100 / np)) "$h" $((h > 100 ? 40 : 400)) > "$work/sgemm-$h-$np.txt"
    done
done

# 2. the trainer: pixels / 255 (mostly zeros: the first layer's sparse path), and --normalize
#    (no zeros: every product through BLIS)
train() { # train NP HIDDEN EPOCHS NORMALIZE
    local np=$1 h=$2 e=$3 z=$4
    mpirun --oversubscribe -np "$np" "$build/mpitrain" --data "$data" --hidden "$h" --epochs "$e" \
        --normalize="$z" --sched none --progress off --metrics "$work/train-$np-$h-$z.jsonl" \
        > "$work/train-$np-$h-$z.log"
}
for h in 100 1024; do
    e=$epochs; [ "$h" -gt 100 ] && e=$(( epochs > 3 ? 3 : epochs ))
    for np in 1 2 8; do train "$np" "$h" "$e" 0; done
    for np in 1 2; do train "$np" "$h" "$e" 1; done
done

# 3. the allreduce alone
mpirun -np 2 "$build/tests/perf/allreduce_bench" > "$work/allreduce-2.txt"
mpirun --oversubscribe -np 8 "$build/tests/perf/allreduce_bench" 79512 300 > "$work/allreduce-8.txt"

python3 - "$work" <<'PY'
import json, re, statistics, sys
work = sys.argv[1]

def sgemm_rate(h, np):
    text = open(f"{work}/sgemm-{h}-{np}.txt").read()
    return float(re.search(r"step products: .* ([0-9.]+) GFLOP/s", text).group(1))

def flops_per_sample(h):
    # forward: two products; backward: both weight gradients and the hidden-layer gradient
    return 2 * (784 * h + h * 10) * 2 + 2 * h * 10

# The rate counts the flops of dense products over the whole compute phase (products, bias,
# ReLU, loss); with the sparse first layer it is a dense-equivalent rate and can pass sgemm's.
print("| np | hidden | first layer | s/epoch (median) | samples/s | GFLOP/s per rank (dense-equivalent) | % of sgemm rate | allreduce us/step | eval ms | peak RSS/rank MiB | PSS all ranks MiB |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for h in (100, 1024):
    for np, z in ((1, 0), (2, 0), (8, 0), (1, 1), (2, 1)):
        name = f"{work}/train-{np}-{h}-{z}"
        rows = [json.loads(l) for l in open(f"{name}.jsonl")]
        steps = 600
        sec = statistics.median(r["seconds"] for r in rows)
        compute = statistics.median(r["phases"]["compute"][1] for r in rows)
        allreduce = statistics.median(r["phases"]["allreduce"][1] for r in rows)
        evals = statistics.median(r["eval_seconds"] for r in rows)
        rate = flops_per_sample(h) * 60000 / np / compute * 1e-9
        log = open(f"{name}.log").read()
        m = re.search(r"peak RSS per rank [0-9.]+ / ([0-9.]+) / [0-9.]+ MiB.*PSS of all \d+ ranks? ([0-9.]+) MiB", log)
        roof = f"{100 * rate / sgemm_rate(h, np):.0f}%" if np <= 2 else "(oversubscribed)"
        layer = "dense (--normalize)" if z else "sparse"
        print(f"| {np}{' (8 ranks on 2 cores)' if np == 8 else ''} | {h} | {layer} | {sec:.3f} | {60000 / sec:,.0f} | {rate:.1f} | {roof} | {1e6 * allreduce / steps:.1f} | {1e3 * evals:.1f} | {m.group(1)} | {m.group(2)} |")
print()
for h in (100, 1024):
    for np in (1, 2):
        print(f"sgemm on the step's products, hidden {h}, {100 // np} rows per rank: {sgemm_rate(h, np):.1f} GFLOP/s")
        print("  " + re.search(r"fc1 with sparse input.*", open(f"{work}/sgemm-{h}-{np}.txt").read()).group(0))
print()
for n in (2, 8):
    print(f"allreduce of 79,512 floats, {n} ranks:")
    print(open(f"{work}/allreduce-{n}.txt").read().rstrip())
PY
