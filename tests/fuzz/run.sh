#!/bin/bash
# run.sh - runs the libFuzzer harnesses built by `make fuzz` and prints, per
# target, the executions, the edge coverage and the crashes found.
#
#   tests/fuzz/run.sh SECONDS [TARGET...]     (default: every target)
#
# Run from the repository root. Environment:
#   FUZZ_JOBS=N     targets run N at a time (default 1)
#   FUZZ_BUILD=dir  where the binaries are (default build-fuzz)
#   FUZZ_WORK=dir   where corpora, artifacts and logs go (default $FUZZ_BUILD)
#   FUZZ_SHARED=0   do not add inputs from ../shared (the real prototxts,
#                   VOC annotations and images) to the starting corpus
#   FUZZ_ARGS=...   extra libFuzzer flags
#
# Each target grows its own corpus in $FUZZ_WORK/corpus/<target>, starting
# from tests/fuzz/seeds/<target> and tests/fuzz/regressions/<target>, with the
# dictionary tests/fuzz/dict/<target>.dict when there is one. Crashes, leaks,
# timeouts and out-of-memory inputs land in $FUZZ_WORK/artifacts/<target>/;
# the log of the last run in $FUZZ_WORK/logs/<target>.log.
# Exit status: 0 when no target found anything, 1 otherwise, 2 on usage errors.
set -u

if [ $# -lt 1 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
    echo "usage: tests/fuzz/run.sh SECONDS [TARGET...]" >&2
    exit 2
fi
seconds=$1
shift
build=${FUZZ_BUILD:-build-fuzz}
work=${FUZZ_WORK:-$build}
jobs=${FUZZ_JOBS:-1}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(weights prototxt caffemodel protobuf xml voc json image rawvideo)
fi
shared=${MASKDET_SHARED:-../shared}

for t in "${targets[@]}"; do
    if [ ! -x "$build/fuzz_$t" ]; then
        echo "run.sh: $build/fuzz_$t is missing; run 'make fuzz' first" >&2
        exit 2
    fi
done

# Copies up to 20 of the smallest files matching a pattern (real inputs are a
# better start than our tiny seeds; they are only read here, never committed).
add_shared() { # target, files...
    local dir="$work/shared-seeds/$1"
    shift
    mkdir -p "$dir"
    ls -S -r "$@" 2>/dev/null | head -n 20 | while read -r f; do cp -f "$f" "$dir/"; done
}
if [ "${FUZZ_SHARED:-1}" != 0 ] && [ -d "$shared" ]; then
    rm -rf "$work/shared-seeds"
    add_shared prototxt "$shared"/models/*/*.prototxt
    add_shared voc "$shared"/datasets/facemask_detection_andrewmvd/annotations/*.xml
    add_shared xml "$shared"/datasets/facemask_detection_andrewmvd/annotations/*.xml
    add_shared image "$shared"/datasets/facemask_classification_chandrikadeb7/with_mask/*.jpg \
        "$shared"/datasets/facemask_classification_chandrikadeb7/without_mask/*.png
fi

run_one() { # target
    local t=$1
    local corpus="$work/corpus/$t" artifacts="$work/artifacts/$t/" log="$work/logs/$t.log"
    mkdir -p "$corpus" "$artifacts" "$work/logs"
    local dirs=("$corpus")
    for d in "tests/fuzz/seeds/$t" "tests/fuzz/regressions/$t" "$work/shared-seeds/$t"; do
        [ -d "$d" ] && dirs+=("$d")
    done
    local dict=()
    [ -f "tests/fuzz/dict/$t.dict" ] && dict=("-dict=tests/fuzz/dict/$t.dict")
    local before
    before=$(ls "$artifacts" | wc -l)
    # rss/malloc limits: a small input must not make us allocate hundreds of MB
    # shellcheck disable=SC2086
    "$build/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=1024 -malloc_limit_mb=512 -max_len=65536 -artifact_prefix="$artifacts" \
        "${dict[@]}" ${FUZZ_ARGS:-} "${dirs[@]}" >"$log" 2>&1
    local rc=$?
    local execs cov after
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //')
    after=$(ls "$artifacts" | wc -l)
    echo "$t ${execs:-?} ${cov:-?} $((after - before)) $rc" >"$work/logs/$t.result"
}

start=$(date +%s)
running=0
for t in "${targets[@]}"; do
    rm -f "$work/logs/$t.result"
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

status=0
printf '%-11s %12s %8s %8s  %s\n' target executions edges crashes log
for t in "${targets[@]}"; do
    read -r name execs cov crashes rc <"$work/logs/$t.result"
    printf '%-11s %12s %8s %8s  %s\n' "$name" "$execs" "$cov" "$crashes" "$work/logs/$t.log"
    if [ "$crashes" != 0 ] || [ "$rc" != 0 ]; then
        status=1
        ls -t "$work/artifacts/$t/" | head -n "$((crashes > 0 ? crashes : 1))" | sed "s|^|    $work/artifacts/$t/|"
        grep -m 3 -E 'ERROR|runtime error|fuzz target|SUMMARY' "$work/logs/$t.log" | sed 's/^/    /'
    fi
done
echo "($seconds s per target, $jobs at a time, $(($(date +%s) - start)) s in all)"
exit $status
