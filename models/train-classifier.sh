#!/bin/sh
# train-classifier.sh - reproduces models/classifier.nnw from the shared data
# (run by `make train-classifier` / `make models/classifier.nnw` from the
# repository root). Fixed seed and thread count: the same binary gives the
# same weights. Resumable: if it is stopped, running it again continues from
# the checkpoint. Logs, curves and the checkpoint go to models/train/ (not
# committed). See models/README.md for the figures and how long it takes.
set -e
MASKDET=${1:-build/maskdet}
DATA=${MASKDET_SHARED:-../shared}/datasets
OUT=models/train
mkdir -p "$OUT"
if [ -f "$OUT/classifier.ckpt.nnw" ]; then
    exec "$MASKDET" train-classifier --resume "$OUT/classifier.ckpt.nnw"
fi
exec "$MASKDET" train-classifier \
    "$DATA/facemask_classification_chandrikadeb7" "$DATA/facemask_detection_andrewmvd" \
    --arch compact --input-size 48 --epochs 20 --batch 32 \
    --optim adamw --lr 0.002 --weight-decay 0.01 --schedule cosine --warmup 1 \
    --val-split 0.15 --min-face 16 --margin 0.1 --balance weights \
    --seed 1 --threads 2 --fp16 \
    -o models/classifier.nnw --checkpoint "$OUT/classifier.ckpt.nnw" \
    --log "$OUT/classifier.csv" --plot "$OUT/classifier.png"
