#!/bin/sh
# tests/valgrind.sh - the app's detect, classify, train, eval and import paths
# under valgrind memcheck (`make valgrind` builds maskdet without sanitizers
# at -O1 -g and runs this; not part of `make test` or CI: it takes minutes).
#
#   tests/valgrind.sh MASKDET [SHARED]
#
# Each step runs `valgrind --leak-check=full --errors-for-leak-kinds=definite,
# indirect` and fails on any invalid read or write, use of uninitialised
# memory, or a definite / indirect leak ("possibly lost" is not an error:
# glibc's per-thread blocks of the thread pool, alive at exit, show as that).
# valgrind's error exit code is 97 rather than 1, so a step that must exit 1
# (detect naming a corrupt file) is told apart from a memory
# error. Data comes from SHARED (default ../shared: the sample photos, the
# class folders, the detection set, a Caffe model); the bundled models from
# models/. Logs: build-vg/valgrind/<step>.log. VALGRIND_STEPS="classify
# eval-classifier" runs only those steps (the others' data is still made).
set -u
MASKDET=${1:?usage: tests/valgrind.sh MASKDET [SHARED]}
SHARED=${2:-../shared}
if [ ! -d "$SHARED/samples" ]; then
    echo "valgrind.sh: $SHARED not found (the sample photos and data sets live there)" >&2
    exit 2
fi
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 2; }
SHARED=$(cd "$SHARED" && pwd) # absolute: the class folders below are symlinks into it

LOGS=$(dirname "$MASKDET")/valgrind
WORK=$(mktemp -d "${TMPDIR:-/tmp}/maskdet-valgrind-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$LOGS"
VALGRIND="valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=97 --track-origins=yes"
export NN_THREADS=2 # the thread pool is part of what is checked
FAILED=0
TOTAL_START=$(date +%s)

# step NAME EXPECTED_EXIT ARGS... : runs maskdet ARGS under valgrind (stdin:
# the file $STDIN, else /dev/null).
step() {
    name=$1 want=$2
    shift 2
    case " ${VALGRIND_STEPS:-$name} " in *" $name "*) ;; *) return ;; esac
    start=$(date +%s)
    $VALGRIND --log-file="$LOGS/$name.log" "$MASKDET" "$@" <"${STDIN:-/dev/null}" \
        >"$LOGS/$name.out" 2>"$LOGS/$name.err"
    rc=$?
    secs=$(($(date +%s) - start))
    leaks=$(grep -E "definitely lost|indirectly lost" "$LOGS/$name.log" | sed 's/^==[0-9]*== *//' | tr -s ' ' | paste -sd';' -)
    errors=$(grep "ERROR SUMMARY" "$LOGS/$name.log" | sed 's/^==[0-9]*== *//; s/ (suppressed.*//')
    if [ "$rc" -eq "$want" ]; then
        printf 'ok    %-22s %4d s  %s %s\n' "$name" "$secs" "$errors" "${leaks:+($leaks)}"
    else
        printf 'FAIL  %-22s %4d s  exit %d (want %d): %s  see %s/%s.log\n' "$name" "$secs" "$rc" \
            "$want" "$errors" "$LOGS" "$name"
        FAILED=$((FAILED + 1))
    fi
}

# data: a folder with a good photo, a truncated JPEG and a text file named
# .jpg; two 64x48 "video frames" (any bytes will do)
mkdir -p "$WORK/photos"
cp "$SHARED/samples/demo2.jpg" "$WORK/photos/good.jpg"
head -c 3000 "$SHARED/samples/sample2.jpg" >"$WORK/photos/truncated.jpg"
echo "not a picture" >"$WORK/photos/text.jpg"
head -c $((64 * 48 * 3 * 2)) "$SHARED/samples/sample1.jpg" >"$WORK/frames.rgb"
# tiny class folders: 8 faces per class
CLS="$SHARED/datasets/facemask_classification_chandrikadeb7"
for c in with_mask without_mask; do
    mkdir -p "$WORK/faces/$c"
    for f in $(ls "$CLS/$c" | sort | head -8); do ln -s "$CLS/$c/$f" "$WORK/faces/$c/$f"; done
done
FACE1="$WORK/faces/with_mask/$(ls "$WORK/faces/with_mask" | head -1)"
FACE2="$WORK/faces/without_mask/$(ls "$WORK/faces/without_mask" | head -1)"
CAFFE="$SHARED/models/aizoo_face_mask_ssd"

step detect 0 detect --json -o "$WORK/annotated" "$SHARED/samples/sample1.jpg"
step detect-folder-corrupt 0 detect "$WORK/photos"   # a folder: bad files skipped
step detect-files-corrupt 1 detect "$WORK"/photos/*   # named files: a bad one fails the run
STDIN="$WORK/frames.rgb"
step detect-raw 0 detect --raw 64x48 --input-size 128x96 --json-out "$WORK/frames.json" -
STDIN=
step classify 0 classify --json "$FACE1" "$FACE2"
step train-classifier 0 train-classifier "$WORK/faces" -o "$WORK/cls.nnw" --epochs 2 --stop-after 1 \
    --input-size 16 --batch 4 --threads 2 --cache-mb 4 --min-face 0 --val-split 0.25 \
    --log "$WORK/cls.csv" --plot "$WORK/cls.png"
step train-classifier-resume 0 train-classifier --resume "$WORK/cls.ckpt.nnw"
step eval-classifier 0 eval-classifier --model "$WORK/cls.nnw" --data "$WORK/faces" --json \
    --confusion "$WORK/confusion.png" --errors "$WORK/errors.png"
step train-detector 0 train-detector --data "$SHARED/datasets/facemask_detection_andrewmvd" \
    --out "$WORK/det" --limit 8 --epochs 1 --batch 2 --size 64 --widths 4,8,8,8,8,8 --maps 2 \
    --eval-every 1 --val-fraction 0.3 --warmup 2 --threads 2 --export "$WORK/det.nnw"
step import-caffe 0 import-caffe "$CAFFE/face_mask_detection.prototxt" \
    "$CAFFE/face_mask_detection.caffemodel" -o "$WORK/aizoo.nnw" --name aizoo
step detect-imported 0 detect --detector "$WORK/aizoo.nnw" --json "$SHARED/samples/demo2.jpg"

echo "valgrind: $FAILED step(s) failed, $(($(date +%s) - TOTAL_START)) s in all"
[ "$FAILED" -eq 0 ]
