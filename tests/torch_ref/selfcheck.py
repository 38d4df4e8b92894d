#!/usr/bin/python3
"""Self-checks of the PyTorch references (needs torch; not part of CI, which uses the
committed fixtures).

    /usr/bin/python3 tests/torch_ref/selfcheck.py

Prints one line per check with the worst error seen; exit status 1 if any check fails.
"""
import io
import json
import os
import sys
import tempfile
import contextlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io as st  # noqa: E402
import make_golden  # noqa: E402
import check_checkpoint  # noqa: E402
from wrn import (WRN, BatchNorm2dGroups, BatchRenorm2d, brn_train_forward,  # noqa: E402
                 design_state_dict, load_design_state_dict)

FIXTURES = os.path.normpath(os.path.join(HERE, "..", "fixtures"))
FAILED = []


def report(name, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'}  {name}{'  ' + detail if detail else ''}")
    if not ok:
        FAILED.append(name)


def err(a, b):
    """max |a - b| / max(1, max |b|)"""
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return ((a - b).abs().max() / max(1.0, b.abs().max().item())).item()


def close(name, pairs, tol):
    worst = max(err(a, b) for a, b in pairs)
    report(name, worst <= tol, f"worst {worst:.2e} (tol {tol:.0e})")


def rand_input(shape, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    c = shape[1]
    scale = torch.rand(c, generator=g, dtype=dtype).reshape(1, c, 1, 1) * 2 + 0.3
    shift = torch.randn(c, generator=g, dtype=dtype).reshape(1, c, 1, 1)
    return torch.randn(shape, generator=g, dtype=dtype) * scale + shift


def set_affine(mods, seed):
    g = torch.Generator().manual_seed(seed)
    c = mods[0].weight.shape[0]
    w = torch.rand(c, generator=g) + 0.5
    b = torch.randn(c, generator=g) * 0.3
    with torch.no_grad():
        for m in mods:
            m.weight.copy_(w)
            m.bias.copy_(b)


def train_steps(mod, xs, gs):
    """Forward/backward over several inputs; returns (outputs, input grads, param grads)."""
    outs, dxs, dps = [], [], []
    for x, g in zip(xs, gs):
        x = x.clone().requires_grad_(True)
        mod.zero_grad(set_to_none=True)
        y = mod(x)
        (y * g).sum().backward()
        outs.append(y.detach())
        dxs.append(x.grad)
        dps.append(torch.cat([mod.weight.grad, mod.bias.grad]))
    return outs, dxs, dps


# ---- BN ---------------------------------------------------------------------------------

def check_bn_vs_torch():
    for dtype, tol in ((torch.float32, 1e-6), (torch.float64, 1e-12)):
        shape = (6, 5, 4, 3)
        xs = [rand_input(shape, dtype, s) for s in range(3)]
        gs = [rand_input(shape, dtype, 10 + s) for s in range(3)]
        ref = nn.BatchNorm2d(5, eps=1e-3, momentum=0.2).to(dtype)
        own = BatchNorm2dGroups(5, eps=1e-3, momentum=0.2, microbatch=0).to(dtype)
        set_affine([ref, own], 1)
        o1, x1, p1 = train_steps(ref, xs, gs)
        o2, x2, p2 = train_steps(own, xs, gs)
        ref.eval(), own.eval()
        with torch.no_grad():
            e1, e2 = ref(xs[0]), own(xs[0])
        name = str(dtype).replace("torch.", "")
        close(f"own BN (microbatch 0) == nn.BatchNorm2d, {name}: training outputs", zip(o2, o1), tol)
        close(f"own BN (microbatch 0) == nn.BatchNorm2d, {name}: input gradients", zip(x2, x1), tol)
        close(f"own BN (microbatch 0) == nn.BatchNorm2d, {name}: gamma/beta gradients", zip(p2, p1), tol)
        close(f"own BN (microbatch 0) == nn.BatchNorm2d, {name}: running mean/var after 3 steps",
              [(own.running_mean, ref.running_mean), (own.running_var, ref.running_var)], tol)
        close(f"own BN (microbatch 0) == nn.BatchNorm2d, {name}: eval outputs", [(e2, e1)], tol)


def check_bn_microbatch():
    dtype = torch.float64
    shape, k = (8, 3, 3, 2), 2
    x = rand_input(shape, dtype, 5)
    g = rand_input(shape, dtype, 6)
    own = BatchNorm2dGroups(3, eps=1e-2, momentum=0.3, microbatch=k).double()
    set_affine([own], 2)
    with torch.no_grad():
        own.running_mean.fill_(0.5)
        own.running_var.fill_(2.0)
    (y,), (dx,), (dp,) = train_steps(own, [x], [g])
    # reference: each group alone through F.batch_norm; running stats by hand
    xr = x.clone().requires_grad_(True)
    w = own.weight.detach().clone().requires_grad_(True)
    b = own.bias.detach().clone().requires_grad_(True)
    ys = [F.batch_norm(xr[i:i + k], None, None, w, b, True, 0.0, 1e-2) for i in range(0, 8, k)]
    yr = torch.cat(ys)
    (yr * g).sum().backward()
    m = k * shape[2] * shape[3]
    gm = torch.stack([x[i:i + k].mean((0, 2, 3)) for i in range(0, 8, k)]).mean(0)
    gv = torch.stack([x[i:i + k].var((0, 2, 3), unbiased=True) for i in range(0, 8, k)]).mean(0)
    close("BN microbatch 2: forward and gradients == F.batch_norm per group",
          [(y, yr), (dx, xr.grad), (dp, torch.cat([w.grad, b.grad]))], 1e-12)
    close("BN microbatch 2: running stats updated once with mean of group mean / unbiased var",
          [(own.running_mean, 0.5 + 0.3 * (gm - 0.5)), (own.running_var, 2.0 + 0.3 * (gv - 2.0))], 1e-12)
    del m
    try:
        BatchNorm2dGroups(3, microbatch=3).train()(x)
        report("BN microbatch not dividing the batch is rejected", False)
    except ValueError:
        report("BN microbatch not dividing the batch is rejected", True)
    try:
        BatchNorm2dGroups(3, microbatch=1).train()(torch.randn(4, 3, 1, 1))
        report("a normalization group of one value is rejected", False)
    except ValueError as e:
        report("a normalization group of one value is rejected", True, f"({e})")


# ---- BRN --------------------------------------------------------------------------------

def check_brn_equals_bn():
    for mb in (0, 2):
        for dtype, tol in ((torch.float32, 1e-6), (torch.float64, 1e-12)):
            shape = (6, 4, 3, 3)
            xs = [rand_input(shape, dtype, 20 + s) for s in range(2)]
            gs = [rand_input(shape, dtype, 30 + s) for s in range(2)]
            brn = BatchRenorm2d(4, eps=1e-3, momentum=0.1, microbatch=mb, rmax=1.0, dmax=0.0).to(dtype)
            bn = (nn.BatchNorm2d(4, eps=1e-3, momentum=0.1) if mb == 0 else
                  BatchNorm2dGroups(4, eps=1e-3, momentum=0.1, microbatch=mb)).to(dtype)
            set_affine([brn, bn], 3)
            with torch.no_grad():   # running values far from the batch: r, d would be far from 1, 0
                brn.running_mean.fill_(3.0)
                brn.running_std.fill_(0.1)
            o1, x1, p1 = train_steps(bn, xs, gs)
            o2, x2, p2 = train_steps(brn, xs, gs)
            name = str(dtype).replace("torch.", "")
            close(f"BRN rmax=1 dmax=0 == BN, microbatch {mb}, {name}: outputs, input and gamma/beta gradients",
                  list(zip(o2, o1)) + list(zip(x2, x1)) + list(zip(p2, p1)), tol)


def brn_case(dtype=torch.float64, mb=0, seed=40):
    shape = (6, 4, 3, 2)
    x = rand_input(shape, dtype, seed)
    g = torch.Generator().manual_seed(seed + 1)
    w = (torch.rand(4, generator=g, dtype=dtype) + 0.5)
    b = torch.randn(4, generator=g, dtype=dtype) * 0.3
    rm = torch.randn(4, generator=g, dtype=dtype)
    rs = torch.rand(4, generator=g, dtype=dtype) * 2 + 0.2
    return x, w, b, rm, rs


def check_brn_gradcheck():
    eps, rmax, dmax = 1e-3, 1.5, 0.5
    for mb in (0, 2):
        x, w, b, rm, rs = brn_case(mb=mb)
        _, st0 = brn_train_forward(x, w, b, rm, rs, eps, rmax, dmax, mb)
        r, d = st0["r"], st0["d"]
        raw_r = st0["sigma_B"] / rs
        raw_d = (st0["mu_B"] - rm) / rs
        nclip = int(((raw_r > rmax) | (raw_r < 1 / rmax)).sum()), int((raw_d.abs() > dmax).sum())
        xs, ws, bs = (t.clone().requires_grad_(True) for t in (x, w, b))
        ok = torch.autograd.gradcheck(
            lambda x_, w_, b_: brn_train_forward(x_, w_, b_, rm, rs, eps, rmax, dmax, mb, rd=(r, d))[0],
            (xs, ws, bs), eps=1e-6, atol=1e-8, rtol=1e-6, raise_exception=False)
        report(f"BRN gradcheck (float64, r and d held fixed, microbatch {mb}; clipped r {nclip[0]}/{r.numel()},"
               f" d {nclip[1]}/{d.numel()})", ok and nclip[0] > 0 and nclip[1] > 0)

        # the module's autograd gradients == the spec's closed-form backward, and r, d carry no gradient
        mod = BatchRenorm2d(4, eps=eps, momentum=0.1, microbatch=mb, rmax=rmax, dmax=dmax).double()
        with torch.no_grad():
            mod.weight.copy_(w), mod.bias.copy_(b), mod.running_mean.copy_(rm), mod.running_std.copy_(rs)
        gout = rand_input(x.shape, torch.float64, 77)
        xr = x.clone().requires_grad_(True)
        (mod(xr) * gout).sum().backward()
        G = r.shape[0]
        xg = x.reshape(G, -1, *x.shape[1:])
        gg = gout.reshape(xg.shape)
        mu = st0["mu_B"].reshape(G, 1, -1, 1, 1)
        sig = st0["sigma_B"].reshape(G, 1, -1, 1, 1)
        rr, dd = r.reshape(G, 1, -1, 1, 1), d.reshape(G, 1, -1, 1, 1)
        z = (xg - mu) / sig
        xhat = z * rr + dd
        red = (1, 3, 4)
        dbeta = gg.sum(dim=(0,) + red)
        dgamma = (gg * xhat).sum(dim=(0,) + red)
        dx = (w.reshape(1, 1, -1, 1, 1) * rr / sig) * (gg - gg.mean(red, keepdim=True)
                                                       - z * (gg * z).mean(red, keepdim=True))
        close(f"BRN module gradients == spec closed form (dx, dgamma over xhat, dbeta), microbatch {mb}",
              [(xr.grad, dx.reshape(x.shape)), (mod.weight.grad, dgamma), (mod.bias.grad, dbeta)], 1e-12)

        # teeth: gradients through r and d (the known bug) differ from the above
        xb = x.clone().requires_grad_(True)
        xgb = xb.reshape(xg.shape)
        mub = xgb.mean(red, keepdim=True)
        sigb = torch.sqrt(eps + (xgb - mub).square().mean(red, keepdim=True))
        rb = (sigb / rs.reshape(1, 1, -1, 1, 1)).clamp(1 / rmax, rmax)
        db = ((mub - rm.reshape(1, 1, -1, 1, 1)) / rs.reshape(1, 1, -1, 1, 1)).clamp(-dmax, dmax)
        yb = ((xgb - mub) / sigb * rb + db).reshape(x.shape) * w.reshape(1, -1, 1, 1)
        (yb * gout).sum().backward()
        diff = err(xb.grad, xr.grad)
        report(f"BRN without stop-gradient gives other input gradients (microbatch {mb}; the check has teeth)",
               diff > 1e-6, f"difference {diff:.2e}")


def check_brn_running_and_eval():
    eps, rmax, dmax, mom = 1e-3, 1.5, 0.5, 0.2
    for mb in (0, 2, 3):
        x, w, b, rm, rs = brn_case(mb=mb, seed=50)
        mod = BatchRenorm2d(4, eps=eps, momentum=mom, microbatch=mb, rmax=rmax, dmax=dmax).double()
        with torch.no_grad():
            mod.weight.copy_(w), mod.bias.copy_(b), mod.running_mean.copy_(rm), mod.running_std.copy_(rs)
        with torch.no_grad():
            y = mod(x)
        # numpy, from the spec, group by group, each with the pre-step running values
        xn, wn, bn, rmn, rsn = (t.numpy() for t in (x, w, b, rm, rs))
        k = mb or xn.shape[0]
        mus, sigs, ys = [], [], []
        for i in range(0, xn.shape[0], k):
            xgi = xn[i:i + k]
            mu = xgi.mean(axis=(0, 2, 3))
            sig = np.sqrt(eps + ((xgi - mu[None, :, None, None]) ** 2).mean(axis=(0, 2, 3)))
            r = np.clip(sig / rsn, 1 / rmax, rmax)
            d = np.clip((mu - rmn) / rsn, -dmax, dmax)
            z = (xgi - mu[None, :, None, None]) / sig[None, :, None, None]
            ys.append(wn[None, :, None, None] * (z * r[None, :, None, None] + d[None, :, None, None])
                      + bn[None, :, None, None])
            mus.append(mu)
            sigs.append(sig)
        new_rm = rmn + mom * (np.mean(mus, axis=0) - rmn)
        new_rs = rsn + mom * (np.mean(sigs, axis=0) - rsn)
        close(f"BRN microbatch {mb}: training forward, r/d from pre-step running values (numpy from the spec)",
              [(y, torch.from_numpy(np.concatenate(ys)))], 1e-12)
        close(f"BRN microbatch {mb}: running_mean/running_std updated once with mean of group mu_B/sigma_B",
              [(mod.running_mean, torch.from_numpy(new_rm)), (mod.running_std, torch.from_numpy(new_rs))], 1e-12)
        mod.eval()
        with torch.no_grad():
            ye = mod(x)
        ref = wn[None, :, None, None] * (xn - new_rm[None, :, None, None]) / new_rs[None, :, None, None] \
            + bn[None, :, None, None]
        close(f"BRN microbatch {mb}: eval y = gamma (x - mu)/sigma + beta, no second eps",
              [(ye, torch.from_numpy(ref))], 1e-12)
    m = BatchRenorm2d(3)
    report("BRN initial running_mean 0, running_std 1",
           bool((m.running_mean == 0).all() and (m.running_std == 1).all()))


def check_brn_fused():
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 2e-6)):
        x, w, b, rm, rs = brn_case(dtype=dtype, seed=60)
        mods = []
        for impl in ("explicit", "fused"):
            m = BatchRenorm2d(4, eps=1e-3, momentum=0.1, rmax=1.5, dmax=0.5, impl=impl).to(dtype)
            with torch.no_grad():
                m.weight.copy_(w), m.bias.copy_(b), m.running_mean.copy_(rm), m.running_std.copy_(rs)
            mods.append(m)
        gs = [rand_input(x.shape, dtype, 61 + i) for i in range(2)]
        xs = [x, rand_input(x.shape, dtype, 63)]
        o1, x1, p1 = train_steps(mods[0], xs, gs)
        o2, x2, p2 = train_steps(mods[1], xs, gs)
        name = str(dtype).replace("torch.", "")
        close(f"BRN impl fused == explicit, {name}: outputs, gradients, running stats over 2 steps",
              list(zip(o2, o1)) + list(zip(x2, x1)) + list(zip(p2, p1))
              + [(mods[1].running_mean, mods[0].running_mean), (mods[1].running_std, mods[0].running_std)], tol)


# ---- model, optimizer -------------------------------------------------------------------

def expected_names(depth, width, norm):
    n = (depth - 4) // 6
    names = ["conv1.weight"]
    stats = {"bn": ["running_mean", "running_var"], "brn": ["running_mean", "running_std"],
             "gn": [], "none": []}[norm]
    normp = [] if norm == "none" else ["weight", "bias"] + stats
    cin, i = 16, 0
    for cout, s in ((16 * width, 1), (32 * width, 2), (64 * width, 2)):
        for j in range(n):
            stride = s if j == 0 else 1
            names += [f"blocks.{i}.bn1.{p}" for p in normp] + [f"blocks.{i}.conv1.weight"]
            names += [f"blocks.{i}.bn2.{p}" for p in normp] + [f"blocks.{i}.conv2.weight"]
            if cin != cout or stride != 1:
                names.append(f"blocks.{i}.shortcut.weight")
            cin, i = cout, i + 1
    names += [f"bn.{p}" for p in normp] + ["fc.weight", "fc.bias"]
    return names


def check_model_names():
    for depth, width, norm in ((10, 1, "bn"), (16, 4, "brn"), (22, 2, "gn"), (10, 2, "none"), (16, 1, "bn")):
        m = WRN(depth, width, num_classes=7, in_channels=1, norm=norm)
        got = list(design_state_dict(m))
        want = expected_names(depth, width, norm)
        shapes_ok = (tuple(m.conv1.weight.shape) == (16, 1, 3, 3) and tuple(m.fc.weight.shape) == (7, 64 * width))
        out = m(torch.randn(4, 1, 12, 12))
        report(f"WRN-{depth}-{width} {norm}: state_dict names as DESIGN.md, shapes, logits (4, 7)",
               sorted(got) == sorted(want) and shapes_ok and tuple(out.shape) == (4, 7),
               "" if sorted(got) == sorted(want) else f"diff {sorted(set(got) ^ set(want))[:6]}")
    try:
        WRN(12, 1)
        report("WRN depth not 6n+4 rejected", False)
    except ValueError:
        report("WRN depth not 6n+4 rejected", True)


def check_sgd():
    for nesterov, wd in ((False, 0.0), (True, 0.01), (False, 5e-4)):
        torch.manual_seed(3)
        m1 = WRN(10, 1, in_channels=3, norm="brn", rmax=1.5, dmax=0.5).double()
        m2 = WRN(10, 1, in_channels=3, norm="brn", rmax=1.5, dmax=0.5).double()
        m2.load_state_dict(m1.state_dict())
        x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
        y = torch.randint(0, 10, (4,))
        lr, mom = 0.1, 0.9
        opt = torch.optim.SGD(m1.parameters(), lr=lr, momentum=mom, nesterov=nesterov, weight_decay=wd)
        bufs = {n: torch.zeros_like(p) for n, p in m2.named_parameters()}
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(m1(x), y).backward()
            opt.step()
            m2.zero_grad()
            F.cross_entropy(m2(x), y).backward()
            with torch.no_grad():
                for n, p in m2.named_parameters():
                    gr = p.grad + wd * p
                    bufs[n].mul_(mom).add_(gr)
                    p.sub_(lr * (gr + mom * bufs[n]) if nesterov else lr * bufs[n])
        s1, s2 = design_state_dict(m1), design_state_dict(m2)
        close(f"hand-written SGD (g += wd w; v = m v + g; w -= lr v; nesterov {nesterov}, wd {wd}) "
              f"== torch.optim.SGD, 3 steps", [(s2[k], s1[k]) for k in s1], 1e-12)


# ---- safetensors ------------------------------------------------------------------------

def check_safetensors():
    g = torch.Generator().manual_seed(9)
    tensors = {
        "a.f32": torch.randn(3, 4, generator=g),
        "b.f64": torch.randn(5, generator=g, dtype=torch.float64),
        "c.i32": torch.randint(-1000, 1000, (2, 2, 2), generator=g, dtype=torch.int32),
        "d.i64": torch.randint(-2**40, 2**40, (3,), generator=g, dtype=torch.int64),
        "e.scalar": torch.tensor(1.5),
        "f.empty": torch.zeros(0, 3),
        "g.u8": np.arange(7, dtype=np.uint8),
    }
    meta = {"magic": "test", "spec": json.dumps({"depth": 10, "norm": "brn"}), "ünïcode": "välue"}
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "t.safetensors")
        st.save(p, tensors, meta)
        back, m2 = st.load(p)
        ok = m2 == meta and set(back) == set(tensors)
        for k, v in tensors.items():
            v = v.numpy() if hasattr(v, "numpy") else v
            ok = ok and back[k].dtype == v.dtype and back[k].shape == v.shape and np.array_equal(back[k], v)
        raw = open(p, "rb").read()
        hlen = int.from_bytes(raw[:8], "little")
        hdr = json.loads(raw[8:8 + hlen])
        ok = ok and (8 + hlen) % 8 == 0 and hdr["a.f32"]["dtype"] == "F32" and hdr["d.i64"]["dtype"] == "I64"
        st.save(p + "2", back, m2)
        report("safetensors: all dtypes, scalar, empty, metadata round trip; saved-loaded-saved bytes identical",
               ok and open(p + "2", "rb").read() == raw)

        bad = {"truncated": raw[:-3], "short": raw[:5], "header too long": (10**9).to_bytes(8, "little") + raw[8:],
               "not json": raw[:8] + b"{" * hlen + raw[8 + hlen:],
               "trailing bytes": raw + b"\0\0\0\0"}
        rejected = []
        for why, blob in bad.items():
            try:
                st.loads(blob)
            except st.SafetensorsError:
                rejected.append(why)
        report("safetensors: corrupt files rejected (" + ", ".join(bad) + ")", len(rejected) == len(bad),
               f"rejected {len(rejected)}/{len(bad)}")

    # the fixtures: load and re-save to identical bytes; contents complete
    names = sorted(f for f in os.listdir(FIXTURES) if f.startswith("golden_")) if os.path.isdir(FIXTURES) else []
    ok = bool(names)
    for f in names:
        p = os.path.join(FIXTURES, f)
        t, m = st.load(p)
        ok = ok and st.dumps(t, m) == open(p, "rb").read()
    report(f"safetensors: committed fixtures ({len(names)}) re-serialize to identical bytes", ok)


# ---- fixtures, checkpoint loader -------------------------------------------------------

def check_fixtures():
    names = sorted(make_golden.CASES)
    with tempfile.TemporaryDirectory() as d:
        with contextlib.redirect_stdout(io.StringIO()):
            make_golden.main(["--out", d, "--quiet"])
        same = [n for n in names
                if os.path.exists(os.path.join(FIXTURES, f"golden_{n}.safetensors"))
                and open(os.path.join(d, f"golden_{n}.safetensors"), "rb").read()
                == open(os.path.join(FIXTURES, f"golden_{n}.safetensors"), "rb").read()]
        report("make_golden.py regenerates the committed fixtures byte for byte", len(same) == len(names),
               f"{len(same)}/{len(names)} identical")
    for n in names:
        t, m = st.load(os.path.join(FIXTURES, f"golden_{n}.safetensors"))
        t = st.to_torch(t)
        case = make_golden.CASES[n]
        ok = m.get("magic") == "brn-golden" and m.get("version") == "1"
        model = make_golden.build(case, torch.float64)
        init = {k[5:]: v.double() for k, v in t.items() if k.startswith("init.")}
        load_design_state_dict(model, init)
        model.train()
        x = t["input"].double().requires_grad_(False)
        logits = model(x)
        loss = F.cross_entropy(logits, t["labels"].long())
        loss.backward()
        pairs = [(logits, t["step0.logits"]), (loss.reshape(1), t["step0.loss"])]
        pairs += [(p.grad, t[f"step0.grad.{k}"]) for k, p in model.named_parameters()]
        need = ["input", "labels", "step0.logits", "step0.loss", "losses", "eval.logits"]
        ok = ok and all(k in t for k in need) and t["losses"].shape == (3,)
        ok = ok and all(f"final.{k}" in t for k in init) and all(f"step0.grad.{k}" in t for k, _ in model.named_parameters())
        ok = ok and abs(t["losses"][0].item() - t["step0.loss"].item()) == 0.0
        ok = ok and os.path.getsize(os.path.join(FIXTURES, f"golden_{n}.safetensors")) < 1_300_000
        worst = max(err(a, b) for a, b in pairs)
        report(f"fixture {n}: complete; float64 model from init.* reproduces step0 logits/loss/grads",
               ok and worst < 1e-5, f"worst {worst:.2e}")


def check_checkpoint_loader():
    t, m = st.load(os.path.join(FIXTURES, "golden_brn.safetensors"))
    ck = {k[6:]: v for k, v in t.items() if k.startswith("final.")}
    for k in list(ck):
        ck[f"optim.momentum.{k}"] = np.zeros_like(ck[k])
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "last.safetensors")
        st.save(p, ck, {"spec": json.dumps({"depth": 10, "width": 1, "norm": "brn", "norm_eps": 1e-3,
                                            "eval_stats": "moving"}), "step": "3"})
        lg = os.path.join(d, "logits.safetensors")
        with contextlib.redirect_stdout(io.StringIO()) as out:
            rc = check_checkpoint.main([p, "--data", os.path.join(FIXTURES, "golden_brn.safetensors"),
                                        "--save-logits", lg, "--json"])
        res = json.loads(out.getvalue())
        e = err(st.load(lg)[0]["logits"], t["eval.logits"])
        y = t["labels"]
        acc = float((t["eval.logits"].argmax(1) == y).mean())
        report("check_checkpoint: brn checkpoint (with optim.momentum.*, spec metadata) loads; eval logits"
               " == fixture's eval.logits", rc == 0 and e == 0.0 and res["accuracy"] == acc,
               f"accuracy {res['accuracy']:.3f}")

        # no spec: inferred from the tensors; a 1-channel model on an IDX file
        torch.manual_seed(0)
        mdl = WRN(10, 2, num_classes=10, in_channels=1, norm="bn")
        p2 = os.path.join(d, "bn.safetensors")
        st.save(p2, design_state_dict(mdl), {})
        imgs = np.random.RandomState(0).randint(0, 256, (20, 8, 8)).astype(np.uint8)
        labs = np.arange(20, dtype=np.uint8) % 10
        ip, lp = os.path.join(d, "img"), os.path.join(d, "lab")
        with open(ip, "wb") as f:
            f.write(bytes([0, 0, 8, 3]) + (20).to_bytes(4, "big") + (8).to_bytes(4, "big") * 2 + imgs.tobytes())
        with open(lp, "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + (20).to_bytes(4, "big") + labs.tobytes())
        with contextlib.redirect_stdout(io.StringIO()) as out:
            rc = check_checkpoint.main([p2, "--idx", ip, lp, "--mean", "0.5", "--std", "0.25", "--json"])
        res = json.loads(out.getvalue())
        mdl.eval()
        with torch.no_grad():
            ref = mdl(torch.from_numpy((imgs[:, None].astype(np.float32) / 255 - 0.5) / 0.25))
        acc = float((ref.argmax(1).numpy() == labs).mean())
        report("check_checkpoint: no spec (WRN-10-2 bn inferred), IDX input, 1 channel",
               rc == 0 and res["model"] == "WRN-10-2" and res["norm"] == "bn" and abs(res["accuracy"] - acc) < 1e-12)

        # CIFAR-10 binary records, a gn model described by its spec
        torch.manual_seed(1)
        mdl3 = WRN(10, 1, num_classes=10, in_channels=3, norm="gn", gn_groups=4, eps=1e-5)
        p3 = os.path.join(d, "gn.safetensors")
        st.save(p3, design_state_dict(mdl3), {"spec": json.dumps({"depth": 10, "width": 1, "norm": "gn",
                                                                  "gn_groups": 4, "norm_eps": 1e-5})})
        rs = np.random.RandomState(1)
        recs = np.concatenate([rs.randint(0, 10, (6, 1)), rs.randint(0, 256, (6, 3072))], 1).astype(np.uint8)
        cp = os.path.join(d, "data_batch_1.bin")
        recs.tofile(cp)
        with contextlib.redirect_stdout(io.StringIO()) as out:
            rc = check_checkpoint.main([p3, "--cifar", cp, "--mean", "0.4,0.5,0.6", "--std", "0.2", "--json"])
        res = json.loads(out.getvalue())
        mdl3.eval()
        xc = recs[:, 1:].reshape(6, 3, 32, 32).astype(np.float32) / 255
        xc = (xc - np.array([0.4, 0.5, 0.6], np.float32).reshape(1, 3, 1, 1)) / 0.2
        with torch.no_grad():
            ref = mdl3(torch.from_numpy(xc))
        acc = float((ref.argmax(1).numpy() == recs[:, 0]).mean())
        report("check_checkpoint: gn model from its spec, CIFAR-10 binary input",
               rc == 0 and res["norm"] == "gn" and abs(res["accuracy"] - acc) < 1e-12)

        st.save(p2, {k: v for k, v in design_state_dict(mdl).items() if k != "fc.bias"}, {})
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as er:
            rc = check_checkpoint.main([p2, "--idx", ip, lp])
        report("check_checkpoint: a missing tensor is an error naming it", rc == 2 and "fc.bias" in er.getvalue())


def main():
    torch.set_num_threads(1)
    for f in (check_bn_vs_torch, check_bn_microbatch, check_brn_equals_bn, check_brn_gradcheck,
              check_brn_running_and_eval, check_brn_fused, check_model_names, check_sgd,
              check_safetensors, check_fixtures, check_checkpoint_loader):
        try:
            f()
        except Exception as e:  # a crash is a failure of that check, the others still run
            report(f.__name__, False, f"raised {type(e).__name__}: {e}")
    print(f"{'FAILED: ' + ', '.join(FAILED) if FAILED else 'all self-checks passed'}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
