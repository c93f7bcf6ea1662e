#!/usr/bin/env bash
# Stopping and resuming changes nothing: a run straight through and the same run stopped at an
# epoch's end or in the middle of an epoch, then resumed with --resume auto, end with
# bit-identical weights and the same per-epoch metric lines. For StepLR, and for
# ReduceLROnPlateau with its cooldown counter and decays in play when it is stopped.
. "$(dirname "$0")/lib.sh"

# run_case NAME STOP_STEPS OPTIONS...: straight run, then stopped at STOP_STEPS and resumed.
run_case() {
    local name=$1 stop=$2; shift 2
    local straight="$WORK/$name-straight" split="$WORK/$name-$stop"
    if [ ! -d "$straight" ]; then # one straight run serves every stop of the case
        mpi 2 "$@" --quiet --checkpoint-dir "$straight" --metrics "$straight.jsonl" > "$straight.log" 2>&1 \
            || { fail "$name: straight run failed"; cat "$straight.log"; return; }
    fi
    mpi 2 "$@" --quiet --checkpoint-dir "$split" --metrics "$split.jsonl" --max-steps "$stop" \
        > "$split.log" 2>&1 || { fail "$name: run to step $stop failed"; cat "$split.log"; return; }
    check "$name: stopped run left step $stop" test -f "$(printf '%s/step-%08d.h5' "$split" "$stop")"
    mpi 2 "$@" --checkpoint-dir "$split" --metrics "$split.jsonl" --resume auto \
        > "$split.resume.log" 2>&1 || { fail "$name: resume failed"; cat "$split.resume.log"; return; }
    check "$name: resume says where it continues" grep -q "resumed from .*step-$(printf '%08d' "$stop").h5" "$split.resume.log"
    local last
    last=$(ls "$straight" | sort | tail -n 1)
    check "$name: both runs end at $last" test -f "$split/$last"
    check "$name: bit-identical weights after stop at $stop and resume" \
        same_weights "$straight/$last" "$split/$last" 0
    grep -v '"complete":false' "$split.jsonl" > "$split.complete.jsonl"
    check "$name: same per-epoch metric lines" \
        diff <(metric_lines "$straight.jsonl") <(metric_lines "$split.complete.jsonl")
}

step=(--sched step --step-size 1 --gamma 0.5 --epochs 3)
run_case step 600 "${step[@]}"   # at the end of epoch 1
run_case step 950 "${step[@]}"   # in the middle of epoch 2

# abs threshold 5: no epoch after the first counts as better, so the rate decays, then the
# cooldown holds it, then it decays again.
plateau=(--sched plateau --threshold-mode abs --threshold 5 --patience 0 --cooldown 1 --epochs 4)
run_case plateau 1200 "${plateau[@]}"  # after the first decay, cooldown counter 1
run_case plateau 1500 "${plateau[@]}"  # in the middle of the cooldown epoch
lrs=$(sed -n 's/.*"lr":\([^,]*\),.*/\1/p' "$WORK/plateau-straight.jsonl" | tr '\n' ' ')
check "plateau: the rates show decay and cooldown (0.1 0.1 0.1*0.1 0.1*0.1), got: $lrs" \
    test "$lrs" = "0.10000000000000001 0.10000000000000001 0.010000000000000002 0.010000000000000002 "

# The comparison can fail: a different stop that changes the run is caught.
mpi 2 "${step[@]}" --quiet --checkpoint-dir "$WORK/other" --lr 0.05 > /dev/null 2>&1
check "a different run is told apart" bash -c "! '$CKPT_COMPARE' '$WORK/step-straight/step-00001800.h5' '$WORK/other/step-00001800.h5' 0"
finish
