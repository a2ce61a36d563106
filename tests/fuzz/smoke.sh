#!/bin/sh
# smoke.sh - a short fuzzing pass for CI: builds the harnesses (make fuzz) and
# runs each for SECONDS (default 5) from the seeds and regression corpora, in
# a scratch folder, without ../shared. Fails (exit 1) when any target finds a
# crash, leak, timeout or excessive allocation; the table and the offending
# log lines are printed.
#
#   tests/fuzz/smoke.sh [SECONDS]
set -eu
cd "$(dirname "$0")/../.."
seconds=${1:-5}
make --no-print-directory -j2 fuzz >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/maskdet-fuzz-smoke-XXXXXX")
status=0
FUZZ_WORK="$work" FUZZ_SHARED=0 tests/fuzz/run.sh "$seconds" || status=$?
if [ "$status" -eq 0 ]; then
    rm -rf "$work"
else
    echo "smoke.sh: findings kept in $work" >&2
fi
exit "$status"
