#!/usr/bin/env bash
# Reproduce the classic PyTorch MNIST tutorial's table of learning-rate schedules: each row
# is trained for several seeds with jobs/local.sh, and the row passes when the MEAN final
# test accuracy reaches its bound. Prints a Markdown table on stdout, progress on stderr.
# Exits 0 when every row passes, 1 otherwise (or when a run fails), 2 on bad usage.
set -euo pipefail

prog=${0##*/}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# schedule | epochs | tutorial's accuracy | bound for the mean (percent) | trainer options.
# Everything else is the trainer's default: 784-100-10, batch 100, lr 0.1, momentum 0.9
# Nesterov.
rows=(
    "StepLR step 1, gamma 0.1|5|97%|97.0|--sched step --step-size 1 --gamma 0.1 --epochs 5"
    "StepLR step 2, gamma 0.1|5|97%|97.0|--sched step --step-size 2 --gamma 0.1 --epochs 5"
    "StepLR step 2, gamma 0.96|5|97%|97.0|--sched step --step-size 2 --gamma 0.96 --epochs 5"
    "ReduceLROnPlateau max, factor 0.1, patience 0|10|98.04%|98.0|--sched plateau --plateau-mode max --factor 0.1 --patience 0 --epochs 10"
    "ReduceLROnPlateau max, factor 0.5, patience 0|10|98.01%|98.0|--sched plateau --plateau-mode max --factor 0.5 --patience 0 --epochs 10"
)

usage() {
    cat <<EOF
usage: jobs/seed_table.sh [--data DIR] [--seeds LIST] [-n N]

Trains each row of the classic PyTorch MNIST tutorial's schedule table (784-100-10, batch
100, lr 0.1, momentum 0.9 Nesterov) once per seed with 'jobs/local.sh -n N', reads the final
test accuracy from each run's metrics file, and prints a Markdown table with the mean, min
and max per row. A row passes when its mean reaches the bound.

Options:
  --data DIR     MNIST folder [default: data/mnist in the repository]
  --seeds LIST   comma-separated seeds [default: 1,2,3,4,5]
  -n N           MPI ranks [default: 2]
  --help         this text

The trainer is $repo/build/mpitrain, or \$MPITRAIN if set.
Exit codes: 0 every row passes, 1 a row fails or a run fails, 2 bad usage.
EOF
}

die() { echo "$prog: $*" >&2; exit 1; }
usage_error() { echo "$prog: $*; see --help" >&2; exit 2; }

data=$repo/data/mnist
seeds=1,2,3,4,5
np=2
while (($# > 0)); do
    case $1 in
        --data | --seeds | -n)
            (($# >= 2)) || usage_error "$1 needs a value"
            opt=$1 val=$2
            shift 2
            ;;
        --data=* | --seeds=* | -n=*)
            opt=${1%%=*} val=${1#*=}
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        *) usage_error "unknown argument '$1'" ;;
    esac
    case $opt in
        --data) data=$val ;;
        --seeds) seeds=$val ;;
        -n) np=$val ;;
    esac
done

[[ $seeds =~ ^[0-9]+(,[0-9]+)*$ ]] || usage_error "--seeds needs a comma-separated list of whole numbers, not '$seeds'"
[[ $np =~ ^[1-9][0-9]*$ ]] || usage_error "-n needs a positive whole number, not '$np'"
[[ -d $data ]] || die "$data: no such folder; fill it with data/get_mnist.sh or give --data DIR"
IFS=, read -ra seed_list <<<"$seeds"

work=$(mktemp -d "${TMPDIR:-/tmp}/seed_table.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs one row for one seed; prints the final test accuracy (percent).
run_one() {
    local row=$1 seed=$2 epochs=$3
    shift 3
    local metrics=$work/row$row-seed$seed.jsonl log=$work/row$row-seed$seed.log rc=0 last acc msg
    "$repo/jobs/local.sh" -n "$np" --data "$data" --seed "$seed" --quiet --progress off \
        --metrics "$metrics" "$@" >"$log" 2>&1 || rc=$?
    if ((rc != 0)); then
        msg=$(grep -m 1 -E '^(mpitrain|local\.sh):' "$log" || grep -v '^[[:space:]-]*$' "$log" | tail -n 1 || true)
        die "row $row, seed $seed: the run exited with code $rc: ${msg:-no output}"
    fi
    last=$(tail -n 1 "$metrics" 2>/dev/null || true)
    acc=$(sed -n 's/.*"test_acc":\([0-9.]*\).*/\1/p' <<<"$last")
    [[ -n $acc ]] || die "row $row, seed $seed: no test_acc in the last line of the metrics file"
    [[ $last == *"\"epoch\":$epochs,"* && $last == *'"complete":true'* ]] ||
        die "row $row, seed $seed: the metrics file does not end with a complete epoch $epochs"
    echo "$acc"
}

# The table is printed once every run is done, so stdout holds either all of it or nothing.
table=("| schedule | epochs | tutorial | must reach | mean | min | max | result |"
    "|---|---|---|---|---|---|---|---|")
all_pass=1
row=0
for spec in "${rows[@]}"; do
    row=$((row + 1))
    IFS='|' read -r label epochs tutorial bound opts <<<"$spec"
    read -ra args <<<"$opts"
    accs=()
    for seed in "${seed_list[@]}"; do
        acc=$(run_one "$row" "$seed" "$epochs" "${args[@]}")
        echo "$prog: row $row/${#rows[@]} ($label), seed $seed: $acc%" >&2
        accs+=("$acc")
    done
    # mean, min, max and PASS/FAIL of the mean against the bound (a hair of slack for
    # floating-point sums that should equal the bound exactly).
    read -r mean min max result < <(echo "${accs[*]}" | awk -v bound="$bound" '{
        sum = 0; min = $1; max = $1
        for (i = 1; i <= NF; i++) { sum += $i; if ($i < min) min = $i; if ($i > max) max = $i }
        mean = sum / NF
        printf "%.3f %.2f %.2f %s\n", mean, min, max, (mean >= bound - 1e-9) ? "PASS" : "FAIL"
    }')
    [[ $result == PASS ]] || all_pass=0
    table+=("| $label | $epochs | $tutorial | >= $bound% | $mean% | $min% | $max% | $result |")
done
printf '%s\n' "${table[@]}"
echo
echo "Final test accuracy after the last epoch; seeds $seeds; mpirun -np $np; the mean must reach the bound."

((all_pass)) || exit 1
