"""Peers for build/bench_detect: OpenCV DNN running res10 (Caffe) and
PyTorch's torchvision ssd300_vgg16, timed like ours (batch 1, 300x300, one
warm-up, then min and median of the repeats). Each result is a JSON line:
{"peer": ..., "model": ..., "threads": T, "min_ms": ..., "median_ms": ...}.
Both are optional: a peer whose module is missing is skipped.

  /usr/bin/python3 benchmarks/detect/peers.py --threads 2 --repeats 10 --shared /work/shared
"""
import argparse
import json
import os
import statistics
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--repeats", type=int, default=10)
ap.add_argument("--shared", default="/work/shared")
a = ap.parse_args()


def timed(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return min(ts), statistics.median(ts)


def report(peer, model, mn, med):
    print(json.dumps({"peer": peer, "model": model, "threads": a.threads, "min_ms": mn, "median_ms": med}))
    sys.stdout.flush()


try:
    import cv2
    import numpy as np
    cv2.setNumThreads(a.threads)
    d = os.path.join(a.shared, "models", "opencv_res10_ssd")
    net = cv2.dnn.readNetFromCaffe(os.path.join(d, "deploy.prototxt"),
                                   os.path.join(d, "res10_300x300_ssd_from_uint8.caffemodel"))
    blob = cv2.dnn.blobFromImage(np.zeros((300, 300, 3), np.uint8) + 100, 1.0, (300, 300), (104.0, 177.0, 123.0))

    def run_cv():
        net.setInput(blob)
        net.forward()
    report("opencv", "res10", *timed(run_cv, a.repeats))
except Exception as e:  # optional peer
    print("# opencv peer skipped: %s" % e, file=sys.stderr)

try:
    import torch
    import torchvision
    torch.set_num_threads(a.threads)
    model = torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None).eval()
    x = [torch.rand(3, 300, 300)]

    def run_torch():
        with torch.no_grad():
            model(x)
    report("pytorch", "ssd300_vgg16", *timed(run_torch, max(3, a.repeats // 2)))
except Exception as e:
    print("# pytorch peer skipped: %s" % e, file=sys.stderr)
