#!/usr/bin/env bash
# Summarize a sweep folder (jobs/sweep.sbatch): one Markdown table row per metrics file
# (schedule, epochs, final and best test accuracy, final learning rate) and a PNG with two
# panels, test accuracy and learning rate per epoch, one line per schedule.
#   jobs/summarize.sh [--png FILE] DIR
# Prints the table on stdout and writes it to DIR/summary.md too.
# Exits 0 when done, 1 when DIR holds no metrics or gnuplot fails, 2 on bad usage.
set -euo pipefail

prog=${0##*/}

usage() {
    cat <<EOF
usage: jobs/summarize.sh [--png FILE] DIR

Reads DIR/*.jsonl, the per-epoch metrics mpitrain writes with --metrics (one JSON object per
epoch), and the DIR/NAME.info files jobs/sweep.sbatch writes beside them (for the schedule's
name and the task's order). When an epoch appears more than once (a run resumed after a stop),
the last line counts. Prints a Markdown table (schedule, epochs, final test accuracy, best
test accuracy, final learning rate), writes it to DIR/summary.md, and draws with gnuplot a PNG
of test accuracy (top) and learning rate (bottom, log scale) per epoch, one line per schedule.

Options:
  --png FILE   where the plot goes [default: DIR/summary.png]
  --help       this text

Exit codes: 0 done, 1 no metrics in DIR or gnuplot failed, 2 bad usage.
EOF
}

die() { echo "$prog: $*" >&2; exit 1; }
usage_error() { echo "$prog: $*; see --help" >&2; exit 2; }

dir="" png=""
while (($# > 0)); do
    case $1 in
        --png)
            (($# >= 2)) || usage_error "$1 needs a value"
            png=$2
            shift 2
            ;;
        --png=*) png=${1#*=}; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) usage_error "unknown option '$1'" ;;
        *)
            [[ -z $dir ]] || usage_error "one folder only ('$dir', then '$1')"
            dir=$1
            shift
            ;;
    esac
done
[[ -n $dir ]] || usage_error "give the sweep folder"
[[ -d $dir ]] || usage_error "$dir: no such folder"
png=${png:-$dir/summary.png}
command -v gnuplot >/dev/null 2>&1 || die "gnuplot not found; install it (apt-get install -y gnuplot-nox)"

shopt -s nullglob
files=("$dir"/*.jsonl)
((${#files[@]} > 0)) || die "$dir: no metrics files (*.jsonl); is it a sweep folder?"

work=$(mktemp -d "${TMPDIR:-/tmp}/summarize.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

# info FILE KEY: a value from a NAME.info file ("key=value" lines), empty when missing.
info() { [[ -r $1 ]] && sed -n "s/^$2=//p" "$1" | head -n 1 || true; }

# One line per run, "order<TAB>name<TAB>schedule", sorted by the task's index, then by name.
for f in "${files[@]}"; do
    name=$(basename "$f" .jsonl)
    order=$(info "$dir/$name.info" task)
    schedule=$(info "$dir/$name.info" schedule)
    printf '%s\t%s\t%s\n' "${order:-999999}" "$name" "${schedule:-$name}"
done | sort -t $'\t' -k1,1n -k2,2 >"$work/runs"

table=("| schedule | epochs | final test accuracy | best test accuracy | final lr |"
    "|---|---|---|---|---|")
plots_acc=() plots_lr=()
max_epoch=1 i=0
while IFS=$'\t' read -r _ name schedule; do
    i=$((i + 1))
    data=$work/$i.dat
    # epoch, test_acc, lr, complete (1/0) per epoch, the last line of each epoch winning
    awk '
        function num(key,   m) {
            if (match($0, "\"" key "\":[-+0-9.eE]+")) return substr($0, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
            return ""
        }
        {
            e = num("epoch"); acc = num("test_acc"); lr = num("lr")
            if (e == "" || acc == "" || lr == "") next
            row[e + 0] = sprintf("%d %s %s %d", e, acc, lr, index($0, "\"complete\":false") == 0)
            if (e + 0 > last) last = e + 0
        }
        END { for (e = 1; e <= last; e++) if (e in row) print row[e] }
    ' "$dir/$name.jsonl" >"$data"
    if [[ ! -s $data ]]; then
        echo "$prog: $dir/$name.jsonl: no epoch with test_acc and lr; left out" >&2
        continue
    fi
    read -r epochs final_acc final_lr complete < <(tail -n 1 "$data")
    best_acc=$(awk 'NR == 1 || $2 > best { best = $2 } END { print best }' "$data")
    ((complete)) || epochs="$epochs (partial)"
    ((${epochs%% *} <= max_epoch)) || max_epoch=${epochs%% *}
    table+=("| $schedule | $epochs | $(printf '%.2f' "$final_acc")% | $(printf '%.2f' "$best_acc")% | $(printf '%g' "$final_lr") |")
    title=${schedule//\\/\\\\}
    title=${title//\"/\\\"}
    plots_acc+=("'$data' using 1:2 with linespoints title \"$title\" noenhanced")
    plots_lr+=("'$data' using 1:3 with linespoints title \"$title\" noenhanced")
done <"$work/runs"
((${#plots_acc[@]} > 0)) || die "$dir: no metrics file holds a complete epoch line"

join() { local IFS=,; echo "$*"; }
xtics=""
((max_epoch > 20)) || xtics="set xtics 1"
cat >"$work/plot.gp" <<EOF
set terminal pngcairo size 1000,1150 font ",11"
set output '${png//\'/\'\'}'
set multiplot title "Sweep $(basename -- "$(cd "$dir" && pwd)" | sed 's/["\\]//g')" noenhanced
set grid
set for [i=1:10] linetype i linewidth 2 pointsize 1.2 pointtype i
set linetype 1 linecolor rgb "#1f77b4"
set linetype 2 linecolor rgb "#ff7f0e"
set linetype 3 linecolor rgb "#2ca02c"
set linetype 4 linecolor rgb "#d62728"
set linetype 5 linecolor rgb "#9467bd"
set linetype 6 linecolor rgb "#8c564b"
set linetype 7 linecolor rgb "#e377c2"
set linetype 8 linecolor rgb "#7f7f7f"
set linetype 9 linecolor rgb "#bcbd22"
set linetype 10 linecolor rgb "#17becf"
set linetype cycle 10
set xlabel "epoch"
set xrange [0.5:$max_epoch + 0.5]
$xtics
set lmargin 12
set rmargin 4
set title "Test accuracy"
set ylabel "test accuracy (%)"
unset key
set origin 0, 0.56
set size 1, 0.41
plot $(join "${plots_acc[@]}")
set title "Learning rate"
set ylabel "learning rate"
set logscale y
set format y "%g"
set key at screen 0.5, 0.04 center center vertical maxrows 3 spacing 1.3 width 2
set bmargin 9
set origin 0, 0
set size 1, 0.56
plot $(join "${plots_lr[@]}")
unset multiplot
EOF
gnuplot "$work/plot.gp" 2>"$work/gnuplot.err" || die "gnuplot failed: $(head -c 2000 "$work/gnuplot.err")"

printf '%s\n' "${table[@]}" | tee "$dir/summary.md"
echo "$prog: plot written to $png" >&2
