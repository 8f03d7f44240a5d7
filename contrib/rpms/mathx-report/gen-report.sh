#!/bin/sh
# Writes a short report computed with mathx-calc (run in %build of mathx-report).
# Usage: gen-report.sh > report.txt
set -e
echo "mathx report"
echo "============"
mathx-calc version
echo "6 * 7 = $(mathx-calc mul 6 7)"
echo "2 ^ 10 = $(mathx-calc pow 2 10)"
echo "10! = $(mathx-calc fact 10)"
echo "1 + ... + 10 = $(s=0; i=1; while [ $i -le 10 ]; do s=$(mathx-calc add "$s" "$i"); i=$((i + 1)); done; echo "$s")"
