#!/usr/bin/env python3
"""PyTorch's training speed on a GPU, beside brn's CUDA backend (bench/gpu_bench.sh).

    python3 bench/torch_gpu_bench.py [--models 16x4,28x10] [--norms bn,brn]
        [--mode eager|compile] [--precision bf16|tf32|fp32] [--batch-size 128] [--steps 20] [--warmup 5]

The reference WRN of tests/torch_ref/wrn.py (the same model brn trains) on random 32x32x3
inputs, channels_last, cuDNN autotuning on (torch.backends.cudnn.benchmark). bf16 is
torch.autocast(bfloat16) over fp32 weights (brn's bf16: bf16 activations and convolutions,
fp32 master weights); tf32 and fp32 switch TF32 on and off for cuDNN and cuBLAS. `bn` is
nn.BatchNorm2d (cuDNN's fused batch norm); `brn` is BatchRenorm2d's "fused" implementation
(r and d without gradient, then F.batch_norm: the fastest BRN PyTorch offers), rmax 3,
dmax 5. --mode compile wraps the model in torch.compile (default mode); its compilation
happens in the warm-up steps and is reported as compile_seconds.

Each timed step is what brn's benchmark does: copy the batch from pinned host memory,
forward, backward, SGD (momentum 0.9, weight decay 5e-4), read the loss. Every model x norm
runs in this one process (PyTorch starts once) and prints its JSON line as soon as it is
done, so a run stopped by a time limit keeps what it finished: {"impl", "mode", "precision",
"norm", "depth", "width", "batch", "images_per_sec", "step_ms", "compile_seconds", "torch",
"gpu"}.
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


def bench(a, depth, width, norm, dev):
    torch.manual_seed(1)
    kw = dict(rmax=3.0, dmax=5.0, momentum=0.01, brn_impl="fused") if norm == "brn" else {}
    model = WRN(depth=depth, width=width, num_classes=10, in_channels=3, norm=norm, **kw)
    model = model.to(dev).to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    run = torch.compile(model) if a.mode == "compile" else model
    x_host = torch.randn(a.batch_size, 3, 32, 32).contiguous(memory_format=torch.channels_last).pin_memory()
    y_host = (torch.arange(a.batch_size) % 10).pin_memory()

    def step():
        x = x_host.to(dev, non_blocking=True)
        y = y_host.to(dev, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = F.cross_entropy(run(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    t0 = time.perf_counter()
    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(a.steps):
        last = step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {"impl": "torch", "mode": a.mode, "precision": a.precision, "norm": norm, "depth": depth, "width": width,
            "batch": a.batch_size, "steps": a.steps, "images_per_sec": round(a.batch_size * a.steps / dt, 2),
            "step_ms": round(1e3 * dt / a.steps, 3), "compile_seconds": round(warm, 1) if a.mode == "compile" else None,
            "last_loss": round(last, 5), "torch": torch.__version__, "gpu": torch.cuda.get_device_name()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="16x4,28x10", help="depth x width, comma-separated")
    ap.add_argument("--norms", default="bn,brn")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--mode", choices=["eager", "compile"], default="eager")
    ap.add_argument("--precision", choices=["bf16", "tf32", "fp32"], default="bf16")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    a = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print(json.dumps({"impl": "torch", "skipped": "no CUDA device visible to PyTorch"}))
        return 0
    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    tf32 = a.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    for m in a.models.split(","):
        depth, width = (int(v) for v in m.split("x"))
        for norm in a.norms.split(","):
            print(json.dumps(bench(a, depth, width, norm, dev)), flush=True)
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
