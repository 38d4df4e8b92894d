#!/usr/bin/python3
"""PyTorch training speed of the reference WRN, for comparison with brn's CPU trainer.

    /usr/bin/python3 bench/torch_train_bench.py [--norm bn|brn|both] [--depth 16 --width 4]
        [--batch-size 128] [--steps 5] [--warmup 2] [--threads 2]

Trains on random 32x32x3 inputs with random labels (10 classes): SGD (lr 0.1, momentum 0.9,
weight decay 5e-4), mean cross-entropy, training mode, one batch reused every step (the data
pipeline is not measured). `bn` is torch.nn.BatchNorm2d; `brn` is the spec-exact
BatchRenorm2d of tests/torch_ref/wrn.py (rmax 3, dmax 5, momentum 0.01), by default its
"explicit" implementation (the formulas written out as tensor operations, differentiated by
autograd: a straightforward BRN, the one the golden fixtures use); --brn-impl fused selects
its second implementation (r, d without gradient, then the fused F.batch_norm with weight
gamma*r and bias gamma*d + beta: the same function, checked in tests/torch_ref/selfcheck.py).
After --warmup steps, times --steps steps and prints one JSON line per norm:
    {"norm", "images_per_sec", "threads", "torch", "impl", "depth", "width", "batch_size",
     "steps", "seconds"}
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "torch_ref"))
from wrn import WRN  # noqa: E402


def bench(norm, depth, width, batch, steps, warmup, threads, brn_impl="explicit", seed=1):
    torch.manual_seed(seed)
    kw = dict(rmax=3.0, dmax=5.0, momentum=0.01, brn_impl=brn_impl) if norm == "brn" else {}
    model = WRN(depth=depth, width=width, num_classes=10, in_channels=3, norm=norm, **kw)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = time.perf_counter() - t0
    return {"norm": norm, "images_per_sec": round(batch * steps / dt, 2), "threads": threads,
            "torch": torch.__version__, "impl": brn_impl if norm == "brn" else "torch.nn.BatchNorm2d", "depth": depth, "width": width, "batch_size": batch,
            "steps": steps, "seconds": round(dt, 3)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--norm", choices=["bn", "brn", "both"], default="both")
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--width", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--brn-impl", choices=["explicit", "fused"], default="explicit")
    a = ap.parse_args(argv)
    if a.steps < 1 or a.warmup < 0 or a.threads < 1 or a.batch_size < 2:
        ap.error("need --steps >= 1, --warmup >= 0, --threads >= 1, --batch-size >= 2")
    torch.set_num_threads(a.threads)
    for norm in (["bn", "brn"] if a.norm == "both" else [a.norm]):
        print(json.dumps(bench(norm, a.depth, a.width, a.batch_size, a.steps, a.warmup, a.threads,
                                      a.brn_impl)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
