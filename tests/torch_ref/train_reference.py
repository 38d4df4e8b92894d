"""Trains the PyTorch reference WRN (wrn.py) on a Fashion-MNIST subset with brn's recipe,
so a whole run of `brnd train` can be compared with an independent implementation.

    /usr/bin/python3 tests/torch_ref/train_reference.py --norm brn --renorm-warmup 100 \
        --dmax-steps 200 --rmax-steps 250 [--depth 10 --width 2 --train-subset 10000 --epochs 2]

Recipe (as brn's): inputs scaled to [0,1] and normalized with the training subset's mean and
population std; shuffled every epoch; no augmentation; SGD lr 0.1, momentum 0.9, weight decay
5e-4 on every parameter; cosine LR per step; mean cross-entropy; BRN's rmax/dmax ramp linearly
from the end of the warm-up. Prints one JSON line with the final test accuracy."""
import argparse
import gzip
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from wrn import WRN, design_state_dict, he_init  # noqa: E402


def read_idx(path):
    with gzip.open(path) if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(magic & 0xFF)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def ramp(t, start, end, final, initial):
    if t < start:
        return initial
    if end <= start:
        return final
    return initial + (final - initial) * min(1.0, (t - start) / (end - start))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--width", type=int, default=2)
    p.add_argument("--norm", default="bn", choices=["bn", "brn", "gn"])
    p.add_argument("--norm-momentum", type=float, default=None)
    p.add_argument("--train-subset", type=int, default=10000)
    p.add_argument("--test-subset", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--microbatch", type=int, default=0)
    p.add_argument("--rmax", type=float, default=3.0)
    p.add_argument("--dmax", type=float, default=5.0)
    p.add_argument("--renorm-warmup", type=int, default=0)
    p.add_argument("--rmax-steps", type=int, default=0)
    p.add_argument("--dmax-steps", type=int, default=0)
    p.add_argument("--steps", type=int, default=0, help="train this many steps (0: --epochs)")
    p.add_argument("--no-shuffle", action="store_true", help="batches in the data's order (brnd train --no-shuffle)")
    p.add_argument("--save-init", metavar="PATH",
                   help="write the initial weights as safetensors (for brnd train --init), then train")
    p.add_argument("--step-losses", action="store_true", help="add the loss of every step to the JSON")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    d = a.data_dir
    xtr = read_idx(f"{d}/train-images-idx3-ubyte.gz")[:a.train_subset].astype(np.float32) / 255
    ytr = read_idx(f"{d}/train-labels-idx1-ubyte.gz")[:a.train_subset].astype(np.int64)
    xte = read_idx(f"{d}/t10k-images-idx3-ubyte.gz")[:a.test_subset].astype(np.float32) / 255
    yte = read_idx(f"{d}/t10k-labels-idx1-ubyte.gz")[:a.test_subset].astype(np.int64)
    mean, std = xtr.mean(), xtr.std()
    xtr = torch.from_numpy((xtr - mean) / std).unsqueeze(1)
    xte = torch.from_numpy((xte - mean) / std).unsqueeze(1)
    ytr, yte = torch.from_numpy(ytr), torch.from_numpy(yte)

    model = WRN(a.depth, a.width, 10, 1, a.norm, momentum=a.norm_momentum, microbatch=a.microbatch)
    he_init(model)
    if a.save_init:
        safetensors_io.save(a.save_init, {k: v.detach().numpy() for k, v in design_state_dict(model).items()})
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
    spe = len(xtr) // a.batch_size
    total = a.steps if a.steps > 0 else spe * a.epochs
    t = 0
    step_losses = []
    while t < total:
        model.train()
        loss_sum, hits_sum, seen = 0.0, 0, 0
        perm = torch.arange(len(xtr)) if a.no_shuffle else torch.randperm(len(xtr))
        for b in range(min(spe, total - t)):
            idx = perm[b * a.batch_size:(b + 1) * a.batch_size]
            if a.norm == "brn":
                model.set_renorm(ramp(t, a.renorm_warmup, a.rmax_steps, a.rmax, 1.0),
                                 ramp(t, a.renorm_warmup, a.dmax_steps, a.dmax, 0.0))
            for g in opt.param_groups:
                g["lr"] = 0.5 * a.lr * (1 + math.cos(math.pi * t / total))
            out = model(xtr[idx])
            loss = F.cross_entropy(out, ytr[idx])
            loss_sum += loss.item()
            hits_sum += (out.argmax(1) == ytr[idx]).sum().item()
            seen += 1
            step_losses.append(loss.item())
            opt.zero_grad()
            loss.backward()
            opt.step()
            t += 1
    model.eval()
    with torch.no_grad():
        hits = sum((model(xte[i:i + 500]).argmax(1) == yte[i:i + 500]).sum().item() for i in range(0, len(xte), 500))
    result = {"impl": "pytorch", "norm": a.norm, "microbatch": a.microbatch, "steps": total,
              "test_acc": hits / len(xte), "final_train_loss": loss.item(),
              "last_epoch_train_loss": loss_sum / seen, "last_epoch_train_acc": hits_sum / (seen * a.batch_size)}
    if a.step_losses:
        result["step_losses"] = step_losses
    print(json.dumps(result))


if __name__ == "__main__":
    main()
