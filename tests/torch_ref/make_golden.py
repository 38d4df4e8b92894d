#!/usr/bin/python3
"""Write the golden fixtures tests/fixtures/golden_<case>.safetensors (see docs/golden.md).

    /usr/bin/python3 tests/torch_ref/make_golden.py [--out DIR] [--quiet]

Each case: WRN-10-1 on a batch of 8 random 3x16x16 inputs with random labels (10 classes),
float32, one CPU thread, dropout 0. Stored: the inputs and labels, the initial state
(init.<name>), the first training forward/backward (step0.*), K = 3 SGD steps on the same
batch (losses, final.<name>) and the final model's eval-mode logits (eval.logits).

The same case is also run in float64 from the same initial state; the relative differences
float32 vs float64 are printed and stored in the metadata (err_f32_f64.*) as a guide for the
tolerances of a float32 implementation.
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io as st  # noqa: E402
from wrn import WRN, BatchRenorm2d, design_state_dict  # noqa: E402

DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures"))

SEED = 20170210
K = 3
SHAPE = dict(depth=10, width=1, in_c=3, in_h=16, in_w=16, classes=10, batch=8)

# Hyperparameters are chosen so that mistakes show above float32 rounding: eps 1e-3 in most
# cases (a misplaced eps changes results by ~1e-3), norm momentum 0.1 for every norm, weight
# decay 0.01 where it is on.
CASES = {
    "bn": dict(norm="bn", eps=1e-5, norm_momentum=0.1, rmax=1.0, dmax=0.0, microbatch=0,
               lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0),
    "brn": dict(norm="brn", eps=1e-3, norm_momentum=0.1, rmax=1.5, dmax=0.5, microbatch=0,
                lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0),
    "brn_mb4": dict(norm="brn", eps=1e-3, norm_momentum=0.1, rmax=2.0, dmax=1.0, microbatch=4,
                    lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0),
    "bn_nesterov_wd": dict(norm="bn", eps=1e-3, norm_momentum=0.1, rmax=1.0, dmax=0.0, microbatch=0,
                           lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
}


def build(case, dtype):
    m = WRN(depth=SHAPE["depth"], width=SHAPE["width"], num_classes=SHAPE["classes"],
            in_channels=SHAPE["in_c"], norm=case["norm"], eps=case["eps"], momentum=case["norm_momentum"],
            microbatch=case["microbatch"], rmax=case["rmax"], dmax=case["dmax"])
    return m.to(dtype)


def initial_state(case):
    """Deterministic inputs, labels and initial state (He-normal convs, default-like fc, and
    norm parameters and running statistics moved away from 1/0 so that their use is tested)."""
    g = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)
    model = build(case, torch.float32)
    sd = design_state_dict(model)
    init = {}
    for name, t in sd.items():
        shape = tuple(t.shape)
        if name.endswith(".weight") and len(shape) == 4:           # conv OIHW
            fan_in = shape[1] * shape[2] * shape[3]
            v = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        elif name == "fc.weight" or name == "fc.bias":
            bound = 1.0 / sd["fc.weight"].shape[1] ** 0.5
            v = (torch.rand(shape, generator=g) * 2 - 1) * bound
        elif name.endswith(".weight"):                             # norm gamma
            v = 0.8 + 0.4 * torch.rand(shape, generator=g)
        elif name.endswith(".bias"):                               # norm beta
            v = 0.2 * torch.rand(shape, generator=g) - 0.1
        elif name.endswith(".running_mean"):
            v = 0.6 * torch.rand(shape, generator=g) - 0.3
        elif name.endswith(".running_std"):
            v = torch.exp((torch.rand(shape, generator=g) * 2 - 1) * 0.7)    # 0.5 .. 2
        elif name.endswith(".running_var"):
            v = torch.exp((torch.rand(shape, generator=g) * 2 - 1) * 1.4)    # std 0.5 .. 2
        else:
            raise RuntimeError(f"no initializer for {name}")
        init[name] = v.to(torch.float32).contiguous()
    x = torch.randn((SHAPE["batch"], SHAPE["in_c"], SHAPE["in_h"], SHAPE["in_w"]), generator=g)
    y = torch.randint(0, SHAPE["classes"], (SHAPE["batch"],), generator=g)
    return init, x, y


def run(case, init, x, y, dtype):
    """Train K steps; return the tensors to store and the renorm clipping statistics."""
    model = build(case, dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in init.items()}, strict=False)
    check = design_state_dict(model)
    assert set(check) == set(init), (sorted(set(check) ^ set(init)))
    for k in init:
        assert torch.equal(check[k], init[k].to(dtype)), k
    model.train()
    x = x.to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=case["lr"], momentum=case["momentum"],
                          nesterov=case["nesterov"], weight_decay=case["weight_decay"])
    out, losses, clip = {}, [], []
    for step in range(K):
        pre = {n: (m.running_mean.clone(), m.running_std.clone()) for n, m in model.renorm_modules()}
        opt.zero_grad(set_to_none=False)
        acts = {} if step == 0 else None
        logits = model(x, acts)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        for n, m in model.renorm_modules():
            rm, rs = pre[n]
            raw_r = m.last["sigma_B"] / rs
            raw_d = (m.last["mu_B"] - rm) / rs
            assert torch.equal(m.last["r"], raw_r.clamp(1 / m.rmax, m.rmax)), n
            assert torch.equal(m.last["d"], raw_d.clamp(-m.dmax, m.dmax)), n
            margin = min((raw_r - m.rmax).abs().min().item(), (raw_r - 1 / m.rmax).abs().min().item(),
                         (raw_d.abs() - m.dmax).abs().min().item())
            clip.append(dict(step=step, layer=n, n=raw_r.numel(), margin=margin,
                             mask=torch.cat([(raw_r > m.rmax) | (raw_r < 1 / m.rmax), raw_d.abs() > m.dmax]),
                             r_hi=int((raw_r > m.rmax).sum()), r_lo=int((raw_r < 1 / m.rmax).sum()),
                             d_hi=int((raw_d > m.dmax).sum()), d_lo=int((raw_d < -m.dmax).sum())))
            if step == 0:
                out[f"step0.r.{n}"] = m.last["r"]
                out[f"step0.d.{n}"] = m.last["d"]
        if step == 0:
            out["step0.logits"] = logits.detach()
            out["step0.loss"] = loss.detach().reshape(1)
            for n, p in model.named_parameters():
                out[f"step0.grad.{n}"] = p.grad.detach().clone()
            for n in ("blocks.0", "blocks.1", "blocks.2", "final_relu"):
                out[f"step0.act.{n}"] = acts[n].detach()
        losses.append(loss.detach())
        opt.step()
    out["losses"] = torch.stack(losses)
    for n, t in design_state_dict(model).items():
        out[f"final.{n}"] = t.detach().clone()
    model.eval()
    with torch.no_grad():
        out["eval.logits"] = model(x)
    return {k: v.clone() for k, v in out.items()}, clip


def rel_err(a, b):
    """max |a - b| / max |b| (b the float64 result)."""
    scale = b.abs().max().item()
    return (a.double() - b).abs().max().item() / (scale if scale > 0 else 1.0)


def groups_of(name):
    for prefix in ("step0.grad.", "step0.act.", "step0.r.", "step0.d.", "final."):
        if name.startswith(prefix):
            return prefix.rstrip(".")
    return name


def make_case(name, case, out_dir, quiet=False):
    def say(*a):
        if not quiet:
            print(*a)

    init, x, y = initial_state(case)
    res32, clip = run(case, init, x, y, torch.float32)
    res64, clip64 = run(case, init, x, y, torch.float64)
    for c32, c64 in zip(clip, clip64):
        # float32 must clip exactly the entries float64 clips, else the fixture sits on a knife edge
        if not torch.equal(c32["mask"], c64["mask"]):
            raise SystemExit(f"case {name}: float32 and float64 clip different r/d in {c32['layer']} "
                             f"at step {c32['step']}")
    err = {}
    for k, v in res32.items():
        g = groups_of(k)
        err[g] = max(err.get(g, 0.0), rel_err(v, res64[k]))

    meta = {"magic": "brn-golden", "version": "1", "case": name,
            "depth": str(SHAPE["depth"]), "width": str(SHAPE["width"]), "norm": case["norm"],
            "eps": repr(case["eps"]), "norm_momentum": repr(case["norm_momentum"]),
            "rmax": repr(case["rmax"]), "dmax": repr(case["dmax"]), "microbatch": str(case["microbatch"]),
            "lr": repr(case["lr"]), "momentum": repr(case["momentum"]),
            "nesterov": "true" if case["nesterov"] else "false", "weight_decay": repr(case["weight_decay"]),
            "steps": str(K), "in_c": str(SHAPE["in_c"]), "in_h": str(SHAPE["in_h"]), "in_w": str(SHAPE["in_w"]),
            "classes": str(SHAPE["classes"]), "batch": str(SHAPE["batch"]), "dropout": "0",
            "loss": "mean softmax cross-entropy", "seed": str(SEED),
            "generator": "tests/torch_ref/make_golden.py, torch " + torch.__version__.split("+")[0]}
    for g, e in sorted(err.items()):
        meta[f"err_f32_f64.{g}"] = f"{e:.2e}"

    tensors = {"input": x.to(torch.float32), "labels": y.to(torch.int32)}
    for k, v in init.items():
        tensors[f"init.{k}"] = v
    for k, v in res32.items():
        tensors[k] = v.to(torch.float32)
    path = os.path.join(out_dir, f"golden_{name}.safetensors")
    st.save(path, tensors, meta)

    say(f"{path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")
    say(f"  losses {[round(v, 6) for v in res32['losses'].tolist()]}")
    say("  float32 vs float64, max|diff|/max|f64|: " +
        ", ".join(f"{g} {e:.1e}" for g, e in sorted(err.items())))
    if clip:
        tot = {k: sum(c[k] for c in clip if c["step"] == 0) for k in ("n", "r_hi", "r_lo", "d_hi", "d_lo")}
        say(f"  step 0 renorm clipping (rmax {case['rmax']}, dmax {case['dmax']}), over {tot['n']} "
            f"(group, channel) pairs in {len([c for c in clip if c['step'] == 0])} layers: "
            f"r > rmax {tot['r_hi']}, r < 1/rmax {tot['r_lo']}, d > dmax {tot['d_hi']}, d < -dmax {tot['d_lo']}")
        all_steps = {k: sum(c[k] for c in clip) for k in ("n", "r_hi", "r_lo", "d_hi", "d_lo")}
        r_clip = all_steps["r_hi"] + all_steps["r_lo"]
        d_clip = all_steps["d_hi"] + all_steps["d_lo"]
        say(f"  all {K} steps: r clipped {r_clip}/{all_steps['n']}, d clipped {d_clip}/{all_steps['n']}; "
            f"float32 and float64 clip the same entries; closest raw r or d to a bound: "
            f"{min(c['margin'] for c in clip):.1e}")
        if name == "brn":
            # the case exists to exercise clipping: both must happen, and not everywhere
            if not (tot["r_hi"] + tot["r_lo"] > 0 and tot["d_hi"] + tot["d_lo"] > 0):
                raise SystemExit(f"case {name}: r or d is never clipped at step 0")
            if tot["r_hi"] + tot["r_lo"] == tot["n"] or tot["d_hi"] + tot["d_lo"] == tot["n"]:
                raise SystemExit(f"case {name}: r or d is clipped everywhere at step 0")
            say("  verified: some r and some d are clipped at step 0 (and some are not)")
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default tests/fixtures)")
    ap.add_argument("--case", action="append", choices=sorted(CASES), help="only this case (repeatable)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    for name in a.case or CASES:
        make_case(name, CASES[name], a.out, a.quiet)


if __name__ == "__main__":
    main()
