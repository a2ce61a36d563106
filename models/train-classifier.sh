#!/bin/sh
# train-classifier.sh - reproduces models/classifier.nnw from the shared data
# (run by `make train-classifier` / `make models/classifier.nnw` from the
# repository root). Fixed seed and thread count: the same binary gives the
# same weights, bit for bit.
#
# Two steps:
#  1. the bundled face detector runs over every photo of the detection set at
#     three input sizes (the longer side at 480, 640 and 800 px), keeping its
#     boxes down to face score 0.2 (`maskdet eval --save-detections`). Its boxes
#     that overlap no labelled face become the classifier's third class,
#     "background", so the classifier can check the detector's boxes;
#  2. 24 epochs of training on the class folders, the faces (>= 8 px) of the
#     detection set's training photos (the split by photo name that
#     `maskdet eval --split val` and train-detector use), and those boxes.
# Resumable: if it is stopped, running it again continues from the
# checkpoint. Logs, curves, the boxes and the checkpoint go to models/train/
# (not committed). See models/README.md for the figures and how long it takes.
set -e
MASKDET=${1:-build/maskdet}
DATA=${MASKDET_SHARED:-../shared}/datasets
OUT=models/train
CKPT=$OUT/classifier.ckpt.nnw
mkdir -p "$OUT"
for SIDE in 640 480 800; do
    NEG=$OUT/negatives-$SIDE.jsonl
    if [ ! -f "$NEG.done" ]; then
        "$MASKDET" eval --data "$DATA/facemask_detection_andrewmvd" --split all \
            --detector models/face_detector.nnw --detector-only --min-score 0.2 \
            --input-long-side $SIDE --threads 2 --save-detections "$NEG" \
            > "$OUT/negatives-$SIDE.txt"
        touch "$NEG.done"
    fi
done
if [ -f "$CKPT" ]; then
    exec "$MASKDET" train-classifier --resume "$CKPT"
fi
exec "$MASKDET" train-classifier \
    "$DATA/facemask_classification_chandrikadeb7" "$DATA/facemask_detection_andrewmvd" \
    --negatives "$OUT/negatives-640.jsonl" --negatives "$OUT/negatives-480.jsonl" \
    --negatives "$OUT/negatives-800.jsonl" \
    --arch compact --input-size 48 --epochs 24 --batch 32 \
    --optim adamw --lr 0.002 --weight-decay 0.01 --schedule cosine --warmup 1 \
    --val-split 0.15 --min-face 8 --margin 0.1 --balance weights \
    --seed 1 --threads 2 --fp16 \
    -o models/classifier.nnw --checkpoint "$CKPT" \
    --log "$OUT/classifier.csv" --plot "$OUT/classifier.png"
