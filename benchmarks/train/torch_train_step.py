#!/usr/bin/python3
"""torch_train_step.py - PyTorch's speed on bench_train.c's networks (the peer).

Same networks, batch, input, loss (cross-entropy) and optimizer (SGD, momentum
0.9) as benchmarks/train/bench_train.c; see its header for the layer lists.
One warm-up step, then steps until --steps are done or --seconds have passed
(at least 3). Prints one JSON object: images/s at the median and slowest step.

  /usr/bin/python3 benchmarks/train/torch_train_step.py --net small --threads 2
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn


def small_net():
    layers, cin = [], 3
    for cout in (32, 64, 128):
        layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 2)]
    return nn.Sequential(*layers)


def seed_net(side=124):
    pooled = (side - 4) // 2
    return nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(64 * pooled * pooled, 50), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(50, 2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", choices=["small", "seed"], default="small")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = small_net() if args.net == "small" else seed_net()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(args.batch, 3, 124, 124)
    labels = torch.arange(args.batch) % 2
    loss_fn = nn.CrossEntropyLoss()

    def step():
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), labels)
        loss.backward()
        opt.step()
        return (time.perf_counter() - t0) * 1e3

    step()  # warm-up
    times, begin = [], time.perf_counter()
    while len(times) < args.steps and (len(times) < 3 or time.perf_counter() - begin < args.seconds):
        times.append(step())
    med = statistics.median(times)
    print(json.dumps({"net": args.net, "threads": args.threads, "batch": args.batch,
                      "torch": torch.__version__, "steps": len(times),
                      "step_ms_median": round(med, 3),
                      "images_per_s_median": round(args.batch * 1e3 / med, 2),
                      "images_per_s_min": round(args.batch * 1e3 / max(times), 2)}))


if __name__ == "__main__":
    main()
