#!/usr/bin/env bash
# The README documents every option --help lists, and every exit code.
set -u
mpitrain=${MPITRAIN:?run through ctest}
readme=${SOURCE_DIR:?run through ctest}/README.md
. "$(dirname "$0")/checks.sh"
help=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$mpitrain" --help) || { echo "FAIL: --help failed"; exit 1; }
options=$(grep -oE -- '--(\[no-\])?[a-z][a-z0-9-]+' <<< "$help" | sed 's/\[no-\]//' | sort -u)
[ -n "$options" ] || { echo "FAIL: no options found in --help"; exit 1; }
for opt in $options; do
    case $opt in --no-*) opt=--${opt#--no-} ;; esac # documented as --[no-]name
    check "README.md documents $opt" grep -qE -- "\`--(\[no-\])?${opt#--}[ \`]" "$readme"
done
for code in 0 1 2 3; do
    check "README.md's exit code table has $code" grep -qE "^\| $code \|" "$readme"
done
finish
