#!/bin/sh
# Generates the mathx tables with mathx-calc (run in %build of mathx-tables).
# Usage: gen-tables.sh OUTDIR
set -e
out=${1:-.}
mkdir -p "$out"
mathx-calc version > "$out/VERSION"
mathx-calc table 12 > "$out/multiplication.txt"
: > "$out/powers-of-two.txt"
: > "$out/factorials.txt"
n=0
while [ "$n" -le 20 ]; do
    printf '2^%s = %s\n' "$n" "$(mathx-calc pow 2 "$n")" >> "$out/powers-of-two.txt"
    printf '%s! = %s\n' "$n" "$(mathx-calc fact "$n")" >> "$out/factorials.txt"
    n=$((n + 1))
done
