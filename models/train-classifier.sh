#!/bin/sh
# train-classifier.sh - reproduces models/classifier.nnw and
# models/classifier_b.nnw, the pipeline's pair of classifiers, from the
# shared data (run by `make train-classifier` from the repository root).
# Fixed seed and thread count: the same binary gives the same weights, bit
# for bit.
#
# Three steps:
#  1. the bundled face detector runs over every photo of the detection set at
#     three input sizes (the longer side at 480, 640 and 800 px), keeping its
#     boxes down to face score 0.2 (`maskdet eval --save-detections`, without
#     box voting, as when the shipped pair was trained). Its boxes that
#     overlap no labelled face become the classifiers' third class,
#     "background", so the classifiers can check the detector's boxes;
#  2. classifier.nnw: 24 epochs on the class folders, the faces (>= 8 px) of
#     the detection set's training photos (the split by photo name that
#     `maskdet eval --split val` and train-detector use), and those boxes
#     that overlap no face by IoU 0.1 or more;
#  3. classifier_b.nnw: the same, with boxes up to IoU 0.4 as background (a
#     stricter idea of "a face"); the pipeline averages the two.
# Resumable: if it is stopped, running it again continues from the
# checkpoints. Logs, curves, the boxes and the checkpoints go to
# models/train/ (not committed). See models/README.md for the figures and
# how long it takes.
set -e
MASKDET=${1:-build/maskdet}
DATA=${MASKDET_SHARED:-../shared}/datasets
OUT=models/train
mkdir -p "$OUT"
for SIDE in 640 480 800; do
    NEG=$OUT/negatives-$SIDE.jsonl
    if [ ! -f "$NEG.done" ]; then
        "$MASKDET" eval --data "$DATA/facemask_detection_andrewmvd" --split all \
            --detector models/face_detector.nnw --detector-only --min-score 0.2 \
            --input-long-side $SIDE --no-box-vote --threads 2 --save-detections "$NEG" \
            > "$OUT/negatives-$SIDE.txt"
        touch "$NEG.done"
    fi
done
# train NAME NEGATIVE_IOU: models/NAME.nnw, unless models/train/NAME.done says it is made
train() {
    NAME=$1
    CKPT=$OUT/$NAME.ckpt.nnw
    [ -f "$OUT/$NAME.done" ] && return 0
    if [ -f "$CKPT" ]; then
        "$MASKDET" train-classifier --resume "$CKPT"
    else
        "$MASKDET" train-classifier \
            "$DATA/facemask_classification_chandrikadeb7" "$DATA/facemask_detection_andrewmvd" \
            --negatives "$OUT/negatives-640.jsonl" --negatives "$OUT/negatives-480.jsonl" \
            --negatives "$OUT/negatives-800.jsonl" --negative-iou "$2" \
            --arch compact --input-size 48 --epochs 24 --batch 32 \
            --optim adamw --lr 0.002 --weight-decay 0.01 --schedule cosine --warmup 1 \
            --val-split 0.15 --min-face 8 --margin 0.1 --balance weights \
            --seed 1 --threads 2 --fp16 \
            -o "models/$NAME.nnw" --checkpoint "$CKPT" \
            --log "$OUT/$NAME.csv" --plot "$OUT/$NAME.png"
    fi
    touch "$OUT/$NAME.done"
}
train classifier 0.1
train classifier_b 0.4
