#!/usr/bin/env bash
# The README documents every option --help lists, and every exit code.
set -u
mpitrain=${MPITRAIN:?run through ctest}
readme=${SOURCE_DIR:?run through ctest}/README.md
passed=0 failed=0
help=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$mpitrain" --help) || { echo "FAIL: --help failed"; exit 1; }
options=$(grep -oE -- '--(\[no-\])?[a-z][a-z0-9-]+' <<< "$help" | sed 's/\[no-\]//' | sort -u)
[ -n "$options" ] || { echo "FAIL: no options found in --help"; exit 1; }
for opt in $options; do
    case $opt in --no-*) opt=--${opt#--no-} ;; esac # documented as --[no-]name
    if grep -qE -- "\`--(\[no-\])?${opt#--}[ \`]" "$readme"; then passed=$((passed + 1))
    else failed=$((failed + 1)); echo "FAIL: README.md does not document $opt"; fi
done
for code in 0 1 2 3; do
    if grep -qE "^\| $code \|" "$readme"; then passed=$((passed + 1))
    else failed=$((failed + 1)); echo "FAIL: README.md's exit code table lacks $code"; fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
