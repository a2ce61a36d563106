#!/bin/sh
# train-classifier.sh - reproduces models/classifier.nnw from the shared data
# (run by `make train-classifier` / `make models/classifier.nnw` from the
# repository root). Fixed seed and thread count: the same binary gives the
# same weights. Two stages, as the shipped model was made: 20 epochs of a
# 20-epoch cosine schedule, then the run resumed with the schedule stretched
# to 26 epochs. Resumable: if it is stopped, running it again continues from
# the checkpoint. Logs, curves and the checkpoint go to models/train/ (not
# committed). See models/README.md for the figures and how long it takes.
set -e
MASKDET=${1:-build/maskdet}
DATA=${MASKDET_SHARED:-../shared}/datasets
OUT=models/train
CKPT=$OUT/classifier.ckpt.nnw
mkdir -p "$OUT"
if [ ! -f "$OUT/stage1.done" ]; then
    if [ -f "$CKPT" ]; then
        "$MASKDET" train-classifier --resume "$CKPT"
    else
        "$MASKDET" train-classifier \
            "$DATA/facemask_classification_chandrikadeb7" "$DATA/facemask_detection_andrewmvd" \
            --arch compact --input-size 48 --epochs 20 --batch 32 \
            --optim adamw --lr 0.002 --weight-decay 0.01 --schedule cosine --warmup 1 \
            --val-split 0.15 --min-face 16 --margin 0.1 --balance weights \
            --seed 1 --threads 2 --fp16 \
            -o models/classifier.nnw --checkpoint "$CKPT" \
            --log "$OUT/classifier.csv" --plot "$OUT/classifier.png"
    fi
    touch "$OUT/stage1.done"
fi
exec "$MASKDET" train-classifier --resume "$CKPT" --epochs 26
