#!/usr/bin/python3
"""Load a brn checkpoint into the PyTorch WRN and evaluate it: brn's checkpoints load into
PyTorch without renaming.

    /usr/bin/python3 tests/torch_ref/check_checkpoint.py CHECKPOINT DATA... [options]

CHECKPOINT is a brn safetensors file: the model's tensors under DESIGN.md's names
(running_var for bn, running_std for brn), optimizer state optim.momentum.<name> (ignored)
and __metadata__. The model's depth, width, norm, norm_eps, gn_groups and eval_stats come
from the metadata's "spec" (the job spec as JSON) when it is there, else from the flags,
else they are inferred from the tensors. Input channels and classes come from the tensors.

DATA, one of:
    --data FILE.safetensors      tensors "input" (N,C,H,W, already normalized) and "labels"
    --cifar FILE.bin [...]       CIFAR-10 binary batches (--cifar100: CIFAR-100, fine labels)
    --idx IMAGES LABELS          IDX image and label files, plain or .gz (MNIST, Fashion-MNIST)
Raw images (--cifar, --idx) are scaled to [0,1] and normalized per channel with --mean/--std,
else with the metadata's "input_mean"/"input_std" (JSON lists), else with the mean and
population std of the given images themselves (a warning says so).

Prints accuracy and mean cross-entropy; --json prints one JSON object instead.
Exit status 0, or 1 when --min-acc is given and not reached, 2 on a bad file or option.
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io as st  # noqa: E402
from wrn import WRN, BatchRenorm2d, BatchNorm2dGroups, load_design_state_dict  # noqa: E402


class CheckpointError(Exception):
    pass


def _spec_from_meta(meta):
    raw = meta.get("spec")
    if raw is None:
        return {}
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"metadata 'spec' is not JSON: {e}") from None
    if not isinstance(spec, dict):
        raise CheckpointError("metadata 'spec' is not a JSON object")
    return spec


def _infer(tensors):
    """depth, width, norm from the tensor names and shapes."""
    idx = {int(k.split(".")[1]) for k in tensors if k.startswith("blocks.") and k.split(".")[1].isdigit()}
    if not idx or "blocks.0.conv1.weight" not in tensors:
        raise CheckpointError("no blocks.{i}.* tensors: not a WRN checkpoint")
    nblocks = max(idx) + 1
    if nblocks % 3 != 0:
        raise CheckpointError(f"{nblocks} blocks is not 3 groups of n")
    depth = 6 * (nblocks // 3) + 4
    width = tensors["blocks.0.conv1.weight"].shape[0] // 16
    if "bn.running_std" in tensors:
        norm = "brn"
    elif "bn.running_var" in tensors:
        norm = "bn"
    elif "bn.weight" in tensors:
        norm = "gn"
    else:
        norm = "none"
    return depth, width, norm


def load_checkpoint(path, depth=None, width=None, norm=None, norm_eps=None, gn_groups=None):
    """-> (model in eval mode, info dict). Values in the checkpoint's spec win over arguments;
    arguments win over inference from the tensors."""
    try:
        tensors, meta = st.load(path)
    except (OSError, st.SafetensorsError) as e:
        raise CheckpointError(f"{path}: {e}") from None
    model_t = {k: v for k, v in tensors.items() if not k.startswith("optim.")}
    spec = _spec_from_meta(meta)
    if "conv1.weight" not in model_t or "fc.weight" not in model_t:
        raise CheckpointError(f"{path}: no conv1.weight / fc.weight: not a brn WRN checkpoint")
    i_depth, i_width, i_norm = _infer(model_t)

    def pick(key, arg, inferred):
        v = spec.get(key)
        if v is not None:
            return v
        return arg if arg is not None else inferred

    depth = int(pick("depth", depth, i_depth))
    width = int(pick("width", width, i_width))
    norm = str(pick("norm", norm, i_norm))
    eps = float(pick("norm_eps", norm_eps, 1e-5))
    groups = int(pick("gn_groups", gn_groups, 8))
    eval_stats = str(spec.get("eval_stats", "moving"))
    in_c = model_t["conv1.weight"].shape[1]
    classes = model_t["fc.weight"].shape[0]
    model = WRN(depth=depth, width=width, num_classes=classes, in_channels=in_c, norm=norm, eps=eps,
                gn_groups=groups)
    try:
        load_design_state_dict(model, st.to_torch(model_t))
    except ValueError as e:
        raise CheckpointError(f"{path}: WRN-{depth}-{width} {norm}: {e}") from None
    model.eval()
    info = dict(depth=depth, width=width, norm=norm, norm_eps=eps, gn_groups=groups, eval_stats=eval_stats,
                in_channels=in_c, classes=classes, spec_in_metadata=bool(spec),
                ignored=sorted(k for k in tensors if k.startswith("optim.")), metadata=meta)
    return model, info


def use_batch_statistics(model):
    """eval_stats = batch: normalize with the statistics of the evaluated batch, leave the
    running averages alone (BRN then is plain BN: r = 1, d = 0)."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, BatchNorm2dGroups, BatchRenorm2d)):
            m.train()
            m.momentum = 0.0
            if isinstance(m, BatchRenorm2d):
                m.rmax, m.dmax = 1.0, 0.0


# ---- data -------------------------------------------------------------------------------

def _open(path):
    with open(path, "rb") as f:
        head = f.read(2)
    return gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb")


def read_idx(path):
    with _open(path) as f:
        buf = f.read()
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0 or buf[2] != 0x08:
        raise CheckpointError(f"{path}: not an IDX file of unsigned bytes")
    nd = buf[3]
    if len(buf) < 4 + 4 * nd:
        raise CheckpointError(f"{path}: truncated IDX header")
    dims = struct.unpack(">" + "I" * nd, buf[4:4 + 4 * nd])
    n = int(np.prod(dims))
    if len(buf) - 4 - 4 * nd != n:
        raise CheckpointError(f"{path}: {len(buf) - 4 - 4 * nd} data bytes for dims {dims}")
    return np.frombuffer(buf, np.uint8, count=n, offset=4 + 4 * nd).reshape(dims)


def read_cifar(paths, cifar100=False):
    lab_bytes = 2 if cifar100 else 1
    rec = lab_bytes + 3072
    xs, ys = [], []
    for p in paths:
        with open(p, "rb") as f:
            buf = f.read()
        if len(buf) == 0 or len(buf) % rec:
            raise CheckpointError(f"{p}: {len(buf)} bytes is not a whole number of {rec}-byte records")
        a = np.frombuffer(buf, np.uint8).reshape(-1, rec)
        ys.append(a[:, lab_bytes - 1].astype(np.int64))
        xs.append(a[:, lab_bytes:].reshape(-1, 3, 32, 32))
    return np.concatenate(xs), np.concatenate(ys)


def _floats(s, n, what):
    if isinstance(s, str):
        try:
            s = json.loads(s) if s.strip().startswith("[") else [float(v) for v in s.split(",")]
        except ValueError:
            raise CheckpointError(f"{what}: '{s}' is not a list of numbers") from None
    s = [float(v) for v in s]
    if len(s) == 1:
        s = s * n
    if len(s) != n:
        raise CheckpointError(f"{what}: {len(s)} values for {n} channels")
    return np.array(s, np.float32)


def normalize(raw, mean=None, std=None, meta=None, warn=True):
    """uint8 (N,C,H,W) -> float32 in [0,1], normalized per channel."""
    x = raw.astype(np.float32) / 255.0
    c = x.shape[1]
    meta = meta or {}
    if mean is None and "input_mean" in meta:
        mean, std = meta["input_mean"], meta.get("input_std")
    if mean is None or std is None:
        if warn:
            print("check_checkpoint: no --mean/--std and none in the metadata: normalizing with "
                  "the given images' own statistics", file=sys.stderr)
        mean = x.mean(axis=(0, 2, 3))
        std = x.std(axis=(0, 2, 3))
    mean, std = _floats(mean, c, "mean"), _floats(std, c, "std")
    return (x - mean.reshape(1, c, 1, 1)) / std.reshape(1, c, 1, 1)


# ---- evaluation -------------------------------------------------------------------------

def evaluate(model, x, y, batch_size=256):
    """-> (accuracy, mean cross-entropy, logits) over all of x."""
    logits = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            logits.append(model(x[i:i + batch_size]))
    logits = torch.cat(logits)
    loss = F.cross_entropy(logits, y).item()
    acc = (logits.argmax(1) == y).double().mean().item()
    return acc, loss, logits


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="FILE", help="safetensors with input (N,C,H,W) and labels")
    src.add_argument("--cifar", nargs="+", metavar="FILE", help="CIFAR binary batch file(s)")
    src.add_argument("--idx", nargs=2, metavar=("IMAGES", "LABELS"), help="IDX image and label files")
    ap.add_argument("--cifar100", action="store_true", help="--cifar files are CIFAR-100 (2 label bytes)")
    ap.add_argument("--depth", type=int)
    ap.add_argument("--width", type=int)
    ap.add_argument("--norm", choices=["bn", "brn", "gn", "none"])
    ap.add_argument("--norm-eps", type=float)
    ap.add_argument("--gn-groups", type=int)
    ap.add_argument("--eval-stats", choices=["moving", "batch"], help="default: the spec's, else moving")
    ap.add_argument("--mean", help="per-channel mean of [0,1] inputs, comma-separated")
    ap.add_argument("--std", help="per-channel std of [0,1] inputs, comma-separated")
    ap.add_argument("--limit", type=int, default=0, help="evaluate only the first N examples")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-acc", type=float, help="exit 1 when the accuracy is below this")
    ap.add_argument("--save-logits", metavar="FILE", help="write the logits and labels as safetensors")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    try:
        model, info = load_checkpoint(a.checkpoint, a.depth, a.width, a.norm, a.norm_eps, a.gn_groups)
        if a.data:
            t, _ = st.load(a.data)
            if "input" not in t or "labels" not in t:
                raise CheckpointError(f"{a.data}: needs tensors 'input' and 'labels'")
            x, y = t["input"].astype(np.float32), t["labels"].astype(np.int64)
        else:
            if a.cifar:
                raw, y = read_cifar(a.cifar, a.cifar100)
            else:
                raw, y = read_idx(a.idx[0]), read_idx(a.idx[1]).astype(np.int64)
                if raw.ndim != 3 or y.ndim != 1 or raw.shape[0] != y.shape[0]:
                    raise CheckpointError(f"IDX shapes {raw.shape} and {y.shape} do not match")
                raw = raw[:, None]
            if a.limit:
                raw, y = raw[:a.limit], y[:a.limit]
            x = normalize(raw, a.mean, a.std, info["metadata"])
    except (CheckpointError, st.SafetensorsError, OSError) as e:
        print(f"check_checkpoint: {e}", file=sys.stderr)
        return 2
    if a.limit:
        x, y = x[:a.limit], y[:a.limit]
    if x.ndim != 4 or x.shape[1] != info["in_channels"] or x.shape[0] != y.shape[0]:
        print(f"check_checkpoint: data of shape {x.shape} (labels {y.shape}) for a model with "
              f"{info['in_channels']} input channels", file=sys.stderr)
        return 2
    if y.size and (y.min() < 0 or y.max() >= info["classes"]):
        print(f"check_checkpoint: labels outside 0..{info['classes'] - 1}", file=sys.stderr)
        return 2
    eval_stats = a.eval_stats or info["eval_stats"]
    if eval_stats == "batch":
        use_batch_statistics(model)
    acc, loss, logits = evaluate(model, torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y),
                                 a.batch_size)
    if a.save_logits:
        st.save(a.save_logits, {"logits": logits, "labels": y.astype(np.int32)})
    res = {"checkpoint": a.checkpoint, "model": f"WRN-{info['depth']}-{info['width']}", "norm": info["norm"],
           "eval_stats": eval_stats, "examples": int(y.shape[0]), "accuracy": acc,
           "loss": loss if math.isfinite(loss) else None, "spec_in_metadata": info["spec_in_metadata"],
           "ignored_tensors": len(info["ignored"])}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{a.checkpoint}: WRN-{info['depth']}-{info['width']} {info['norm']} (eval statistics: "
              f"{eval_stats}), {res['examples']} examples: accuracy {acc:.4f}, loss {loss:.4f}"
              f"{' (ignored %d optimizer tensors)' % len(info['ignored']) if info['ignored'] else ''}")
    if a.min_acc is not None and acc < a.min_acc:
        print(f"check_checkpoint: accuracy {acc:.4f} below --min-acc {a.min_acc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
