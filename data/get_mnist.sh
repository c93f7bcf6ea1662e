#!/usr/bin/env bash
# Fill data/mnist (or data/fashion-mnist) with the four IDX files the trainer reads,
# gzipped and checked against the SHA-256 of their uncompressed contents.
# Run with --help for the options.
set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

# SHA-256 of the uncompressed MNIST files (the original IDX files).
declare -A mnist_sha256=(
    [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
    [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
    [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
    [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)

# SHA-256 of the uncompressed Fashion-MNIST files. Debian's package dataset-fashion-mnist
# (version 0.0~git20200523.55506a9-1) ships no checksum list for the data: its README's MD5
# values are those of the upstream .gz files, which differ from the package's recompressed
# ones, and dpkg's own md5sums cover only the .gz bytes of that one build. So these values
# were computed from that package's files with `gzip -dc FILE | sha256sum` and hard-coded.
# The package uses the same four file names as MNIST, so nothing is renamed.
declare -A fashion_sha256=(
    [train-images-idx3-ubyte]=c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
    [train-labels-idx1-ubyte]=bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
    [t10k-images-idx3-ubyte]=5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
    [t10k-labels-idx1-ubyte]=0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
)

default_mirrors=(
    https://ossci-datasets.s3.amazonaws.com/mnist/
    https://storage.googleapis.com/cvdf-datasets/mnist/
)
fashion_package_dir=/usr/share/datasets/fashion-mnist

usage() {
    cat <<EOF
usage: data/get_mnist.sh [--from DIR] [--out DIR]
       data/get_mnist.sh --fashion [--from DIR] [--out DIR]

Puts the four IDX files the trainer reads (train-images-idx3-ubyte.gz,
train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) into a
folder, gzipped. Every file is checked against the SHA-256 of its uncompressed contents;
a file that does not match is refused and removed. Files already in place and correct are
left alone, so running it again is cheap. Each file is written under a temporary name in
the destination folder and renamed when complete, so an interrupted run leaves no partial
file under a final name.

Options:
  --from DIR     copy the files from DIR (each may be raw or .gz) instead of downloading
  --out DIR      destination folder [default: data/mnist, or data/fashion-mnist with --fashion,
                 both next to this script]
  --fashion      Fashion-MNIST instead of MNIST, taken from Debian's package
                 dataset-fashion-mnist ($fashion_package_dir) unless --from is given
  --mirror URL   download from this base URL instead of the default mirrors (repeatable;
                 tried in order)
  --help         this text

Without --from (and without --fashion) the .gz files are downloaded with curl or wget from:
$(printf '  %s\n' "${default_mirrors[@]}")

Relative paths are relative to the current working directory.
Exit codes: 0 all four files in place and verified, 1 failure, 2 bad usage.
EOF
}

die() { echo "$prog: $*" >&2; exit 1; }
usage_error() { echo "$prog: $*; see --help" >&2; exit 2; }

from=""
out=""
fashion=0
mirrors=()
while (($# > 0)); do
    case $1 in
        --from | --out | --mirror)
            (($# >= 2)) || usage_error "$1 needs a value"
            opt=$1 val=$2
            shift 2
            ;;
        --from=* | --out=* | --mirror=*)
            opt=${1%%=*} val=${1#*=}
            shift
            ;;
        --fashion) fashion=1; shift; continue ;;
        -h | --help) usage; exit 0 ;;
        *) usage_error "unknown argument '$1'" ;;
    esac
    [[ -n $val ]] || usage_error "$opt needs a non-empty value"
    case $opt in
        --from) from=$val ;;
        --out) out=$val ;;
        --mirror) [[ $val == */ ]] || val+=/; mirrors+=("$val") ;;
    esac
done

if [[ -n $from ]] && ((${#mirrors[@]} > 0)); then
    usage_error "--from and --mirror cannot be used together"
fi

declare -A expected=()
if ((fashion)); then
    dataset=Fashion-MNIST
    for name in "${names[@]}"; do expected[$name]=${fashion_sha256[$name]}; done
    [[ -n $out ]] || out=$here/fashion-mnist
    ((${#mirrors[@]} == 0)) || usage_error "--mirror cannot be used with --fashion"
    if [[ -z $from ]]; then
        [[ -d $fashion_package_dir ]] ||
            die "Fashion-MNIST comes from Debian's package dataset-fashion-mnist, which is not installed ($fashion_package_dir is missing): run 'apt-get install -y dataset-fashion-mnist', or give --from DIR"
        from=$fashion_package_dir
    fi
else
    dataset=MNIST
    for name in "${names[@]}"; do expected[$name]=${mnist_sha256[$name]}; done
    [[ -n $out ]] || out=$here/mnist
    ((${#mirrors[@]} > 0)) || mirrors=("${default_mirrors[@]}")
fi

if [[ -n $from ]]; then
    [[ -d $from ]] || die "--from $from: no such folder"
else
    if command -v curl >/dev/null 2>&1; then
        fetcher=curl
    elif command -v wget >/dev/null 2>&1; then
        fetcher=wget
    else
        die "neither curl nor wget is installed: install one (apt-get install -y curl) or copy the files with --from DIR"
    fi
fi

mkdir -p -- "$out" || die "cannot create the destination folder $out"
[[ -w $out ]] || die "cannot write to the destination folder $out"

# The temporary file being written, removed if the script stops before renaming it.
tmp=""
trap 'if [[ -n $tmp ]]; then rm -f -- "$tmp"; fi' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prints the SHA-256 of a gzip file's uncompressed contents; fails if it is not valid gzip.
gz_sha256() {
    local sum
    sum=$(gzip -dc -- "$1" 2>/dev/null | sha256sum) || return 1
    echo "${sum%% *}"
}

raw_sha256() {
    local sum
    sum=$(sha256sum -- "$1") || return 1
    echo "${sum%% *}"
}

# Downloads URL to FILE with curl or wget; fails on any HTTP error.
fetch() {
    local url=$1 file=$2
    if [[ $fetcher == curl ]]; then
        curl --fail --silent --show-error --location --connect-timeout 20 --retry 2 \
            --output "$file" -- "$url"
    else
        wget --quiet --timeout=20 --tries=3 --output-document="$file" -- "$url"
    fi
}

# Copies one file from the --from folder into tmp (gzipped) and checks it.
# Returns 0 when tmp holds a verified file; otherwise prints the reason on stderr.
copy_one() {
    local name=$1 src got
    if [[ -f $from/$name.gz ]]; then
        src=$from/$name.gz
        cp -- "$src" "$tmp" || { echo "$prog: $name: cannot copy $src" >&2; return 1; }
    elif [[ -f $from/$name ]]; then
        src=$from/$name
        gzip -c -n -- "$src" >"$tmp" || { echo "$prog: $name: cannot compress $src" >&2; return 1; }
    else
        echo "$prog: $name: not found in $from (looked for $name.gz and $name)" >&2
        return 1
    fi
    if ! got=$(gz_sha256 "$tmp"); then
        echo "$prog: refusing $name from $src: not a readable gzip file (truncated or corrupt)" >&2
        return 1
    fi
    if [[ $got != "${expected[$name]}" ]]; then
        echo "$prog: refusing $name from $src: SHA-256 of the contents is $got, expected ${expected[$name]}" >&2
        return 1
    fi
    echo "$name: copied from $src, SHA-256 verified"
}

# Downloads one file into tmp, trying each mirror in turn, and checks it.
download_one() {
    local name=$1 base url got err failures=()
    for base in "${mirrors[@]}"; do
        url=$base$name.gz
        : >"$tmp"
        if ! err=$(fetch "$url" "$tmp" 2>&1 >/dev/null); then
            err=${err%%$'\n'*}
            failures+=("$url (download failed${err:+: $err})")
        elif ! got=$(gz_sha256 "$tmp"); then
            failures+=("$url (not a readable gzip file)")
        elif [[ $got != "${expected[$name]}" ]]; then
            failures+=("$url (SHA-256 of the contents is $got, expected ${expected[$name]})")
        else
            echo "$name: downloaded from $url, SHA-256 verified"
            return 0
        fi
    done
    echo "$prog: could not get $name.gz from any mirror: $(printf '%s; ' "${failures[@]}" | sed 's/; $//')" >&2
    return 1
}

echo "$dataset into $out"
failed=0
for name in "${names[@]}"; do
    dest=$out/$name.gz
    if [[ -e $dest ]]; then
        if got=$(gz_sha256 "$dest") && [[ $got == "${expected[$name]}" ]]; then
            echo "$name: already in place and verified, skipped"
        else
            echo "$prog: $dest is there but does not verify; removing it and fetching it again" >&2
            rm -f -- "$dest"
        fi
    fi
    if [[ ! -e $dest ]]; then
        tmp=$(mktemp -- "$out/.$name.gz.XXXXXX") || die "cannot create a temporary file in $out"
        if [[ -n $from ]]; then
            ok=copy_one
        else
            ok=download_one
        fi
        if "$ok" "$name"; then
            chmod 0644 -- "$tmp"
            mv -f -- "$tmp" "$dest"
        else
            rm -f -- "$tmp"
            failed=1
        fi
        tmp=""
    fi
    # The trainer reads an uncompressed file before the .gz of the same name, so a stray
    # uncompressed copy in the destination must be right too.
    if [[ -f $out/$name ]]; then
        got=$(raw_sha256 "$out/$name") || got="(unreadable)"
        if [[ $got != "${expected[$name]}" ]]; then
            echo "$prog: $out/$name: an uncompressed copy with SHA-256 $got, expected ${expected[$name]}; the trainer would read it instead of $name.gz, so remove it" >&2
            failed=1
        fi
    fi
done

if ((failed)); then
    echo "$prog: $dataset in $out is not complete and verified; see the messages above" >&2
    exit 1
fi
echo "$dataset: all four files in $out are verified"
