"""PyTorch reference of brn's model: WRN-d-k with selectable normalization.

Written from the project's design (DESIGN.md, "The engine") and spec/batch-renorm.md,
independently of the C engine, so that the C engine can be checked against it.

    conv1 (3x3, 16 ch, no bias)
    blocks.{i}, i = 0 .. 3n-1 over three groups (widths 16k, 32k, 64k; first stride 1, 2, 2):
        o   = relu(bn1(x))
        y   = conv1(o)                  3x3, stride s
        y   = relu(bn2(y)); dropout
        y   = conv2(y)                  3x3
        out = y + (shortcut(o) if the block projects else x)
        shortcut: 1x1 conv with stride s, no bias, when in_channels != out_channels or s != 1
    bn -> relu -> global average pool -> fc (with bias)

Norms ("bn1", "bn2", "bn" whatever the kind):
    bn    torch.nn.BatchNorm2d (microbatch 0), or BatchNorm2dGroups (microbatch k > 0)
    brn   BatchRenorm2d below, written from the spec
    gn    torch.nn.GroupNorm(gn_groups, C)
    none  identity (no tensors)

Microbatch k: the N examples of a batch are split into N/k consecutive groups of k; each group
is normalized with its own statistics; the running averages are updated ONCE per forward with
the mean over groups of the group statistics (BN: group means and unbiased group variances;
BRN: group mu_B and group sigma_B). In BRN every group's r and d use the running values from
before this forward.

state_dict names follow DESIGN.md; use design_state_dict() to drop PyTorch's
num_batches_tracked, which brn's checkpoints do not have.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

NORMS = ("bn", "brn", "gn", "none")
DEFAULT_MOMENTUM = {"bn": 0.1, "brn": 0.01}


def split_groups(x, microbatch):
    """(N,C,H,W) -> (G,k,C,H,W) with k = microbatch (0: k = N). Returns (xg, m) where
    m = k*H*W is the number of values per channel in one normalization group."""
    n, c, h, w = x.shape
    k = microbatch if microbatch and microbatch > 0 else n
    if n % k != 0:
        raise ValueError(f"microbatch {k} does not divide the batch of {n}")
    m = k * h * w
    if m < 2:
        raise ValueError(f"a normalization group of {m} value(s) per channel: need at least 2")
    return x.reshape(n // k, k, c, h, w), m


def _ch(t):
    """(C,) -> broadcastable over (G,k,C,H,W)."""
    return t.reshape(1, 1, -1, 1, 1)


def _ch4(t):
    """(C,) -> broadcastable over (N,C,H,W)."""
    return t.reshape(1, -1, 1, 1)


class BatchNorm2dGroups(nn.Module):
    """Batch normalization with normalization groups of `microbatch` examples (0 = whole batch).

    Training:  y = gamma * (x - mu_g) / sqrt(var_g + eps) + beta, per group g (biased var_g);
               running_mean += momentum * (mean_g mu_g - running_mean)
               running_var  += momentum * (mean_g var_g * m/(m-1) - running_var)
    Eval:      y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta
    With microbatch 0 this is torch.nn.BatchNorm2d (checked in selfcheck.py).
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, microbatch=0):
        super().__init__()
        self.num_features, self.eps, self.momentum, self.microbatch = num_features, eps, momentum, microbatch
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        if not self.training:
            inv = torch.rsqrt(self.running_var + self.eps)
            return (x - _ch4(self.running_mean)) * _ch4(inv * self.weight) + _ch4(self.bias)
        xg, m = split_groups(x, self.microbatch)
        mu = xg.mean(dim=(1, 3, 4), keepdim=True)                    # (G,1,C,1,1)
        var = (xg - mu).square().mean(dim=(1, 3, 4), keepdim=True)   # biased
        z = (xg - mu) / torch.sqrt(var + self.eps)
        y = z.reshape(x.shape) * _ch4(self.weight) + _ch4(self.bias)
        with torch.no_grad():
            g = mu.shape[0]
            mean_mu = mu.reshape(g, -1).mean(0)
            mean_var = (var.reshape(g, -1) * (m / (m - 1))).mean(0)
            self.running_mean += self.momentum * (mean_mu - self.running_mean)
            self.running_var += self.momentum * (mean_var - self.running_var)
        return y

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, microbatch={self.microbatch}"


def brn_train_forward(x, weight, bias, running_mean, running_std, eps, rmax, dmax, microbatch=0, rd=None):
    """Batch Renormalization, training forward (spec/batch-renorm.md), as a pure function.

    x (N,C,H,W); weight, bias, running_mean, running_std (C,).
    Returns y (N,C,H,W) and a dict with mu_B, sigma_B, r, d, each (G,C).
    r and d are computed without gradient from the given (pre-update) running values;
    `rd=(r, d)` supplies them instead (for gradient checks with r, d held fixed).
    """
    xg, _ = split_groups(x, microbatch)
    mu = xg.mean(dim=(1, 3, 4), keepdim=True)                                    # (G,1,C,1,1)
    sigma = torch.sqrt(eps + (xg - mu).square().mean(dim=(1, 3, 4), keepdim=True))  # biased, eps inside
    if rd is None:
        with torch.no_grad():
            r = (sigma / _ch(running_std)).clamp(1.0 / rmax, rmax)
            d = ((mu - _ch(running_mean)) / _ch(running_std)).clamp(-dmax, dmax)
    else:
        g, c = mu.shape[0], mu.shape[2]
        r, d = rd[0].reshape(g, 1, c, 1, 1), rd[1].reshape(g, 1, c, 1, 1)
    z = (xg - mu) / sigma
    xhat = z * r + d
    y = xhat.reshape(x.shape) * _ch4(weight) + _ch4(bias)
    g = mu.shape[0]
    stats = {"mu_B": mu.reshape(g, -1), "sigma_B": sigma.reshape(g, -1),
             "r": r.reshape(g, -1), "d": d.reshape(g, -1)}
    return y, stats


class BatchRenorm2d(nn.Module):
    """Batch Renormalization (Ioffe 2017), per spec/batch-renorm.md.

    Buffers running_mean (init 0) and running_std (init 1, the moving sigma with eps inside).
    rmax and dmax are plain attributes: set them before each training step.
    Training: see brn_train_forward; afterwards, once per forward,
        running_mean += momentum * (mean_g mu_B - running_mean)
        running_std  += momentum * (mean_g sigma_B - running_std)
    Eval: y = gamma * (x - running_mean) / running_std + beta (no second eps).
    After a training forward, self.last holds mu_B, sigma_B, r, d of every group, (G,C) each.

    impl "explicit" (default; the golden fixtures use it) writes the formulas out and lets
    autograd differentiate them. impl "fused" (microbatch 0 only; used by the benchmark)
    computes r, d from torch.var_mean without gradient and then calls the fused
    F.batch_norm with weight gamma*r and bias gamma*d + beta: the same function and the same
    gradients (dgamma = sum g*(r z + d), dx scaled by gamma*r), checked in selfcheck.py.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.01, microbatch=0, rmax=1.0, dmax=0.0,
                 impl="explicit"):
        super().__init__()
        if impl not in ("explicit", "fused"):
            raise ValueError(f"impl {impl!r} is not explicit or fused")
        self.num_features, self.eps, self.momentum, self.microbatch = num_features, eps, momentum, microbatch
        self.rmax, self.dmax, self.impl = rmax, dmax, impl
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_std", torch.ones(num_features))
        self.last = None

    def forward(self, x):
        if not self.training:
            return (x - _ch4(self.running_mean)) / _ch4(self.running_std) * _ch4(self.weight) + _ch4(self.bias)
        if self.impl == "fused" and not (self.microbatch and self.microbatch != x.shape[0]):
            y, stats = self._fused(x)
        else:
            y, stats = brn_train_forward(x, self.weight, self.bias, self.running_mean, self.running_std,
                                         self.eps, self.rmax, self.dmax, self.microbatch)
        with torch.no_grad():
            self.running_mean += self.momentum * (stats["mu_B"].mean(0) - self.running_mean)
            self.running_std += self.momentum * (stats["sigma_B"].mean(0) - self.running_std)
        self.last = {k: v.detach() for k, v in stats.items()}
        return y

    def _fused(self, x):
        split_groups(x, 0)   # the m >= 2 check
        with torch.no_grad():
            var, mu = torch.var_mean(x, dim=(0, 2, 3), unbiased=False)
            sigma = torch.sqrt(var + self.eps)
            r = (sigma / self.running_std).clamp(1.0 / self.rmax, self.rmax)
            d = ((mu - self.running_mean) / self.running_std).clamp(-self.dmax, self.dmax)
        y = F.batch_norm(x, None, None, self.weight * r, self.weight * d + self.bias, True, 0.0, self.eps)
        stats = {"mu_B": mu[None], "sigma_B": sigma[None], "r": r[None], "d": d[None]}
        return y, stats

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"microbatch={self.microbatch}, rmax={self.rmax}, dmax={self.dmax}, impl={self.impl}")


def make_norm(kind, channels, eps=1e-5, momentum=None, microbatch=0, rmax=1.0, dmax=0.0,
              gn_groups=8, own_bn=False, brn_impl="explicit"):
    if momentum is None:
        momentum = DEFAULT_MOMENTUM.get(kind, 0.1)
    if kind == "bn":
        if microbatch or own_bn:
            return BatchNorm2dGroups(channels, eps=eps, momentum=momentum, microbatch=microbatch)
        return nn.BatchNorm2d(channels, eps=eps, momentum=momentum)
    if kind == "brn":
        return BatchRenorm2d(channels, eps=eps, momentum=momentum, microbatch=microbatch, rmax=rmax, dmax=dmax,
                             impl=brn_impl)
    if kind == "gn":
        if channels % gn_groups != 0:
            raise ValueError(f"gn_groups {gn_groups} does not divide {channels} channels")
        return nn.GroupNorm(gn_groups, channels, eps=eps)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r} (one of {', '.join(NORMS)})")


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class Block(nn.Module):
    """Pre-activation wide residual block."""

    def __init__(self, cin, cout, stride, norm, dropout=0.0):
        super().__init__()
        self.bn1 = norm(cin)
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn2 = norm(cout)
        self.conv2 = conv3x3(cout, cout, 1)
        self.dropout = dropout
        if cin != cout or stride != 1:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
        else:
            self.shortcut = None

    def forward(self, x):
        o = F.relu(self.bn1(x))
        y = F.relu(self.bn2(self.conv1(o)))
        if self.dropout > 0:
            y = F.dropout(y, self.dropout, self.training)
        y = self.conv2(y)
        return y + (self.shortcut(o) if self.shortcut is not None else x)


class WRN(nn.Module):
    def __init__(self, depth=16, width=4, num_classes=10, in_channels=3, norm="bn", eps=1e-5,
                 momentum=None, microbatch=0, rmax=1.0, dmax=0.0, gn_groups=8, dropout=0.0, own_bn=False,
                 brn_impl="explicit"):
        super().__init__()
        if depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError(f"depth {depth} is not 6n+4 with n >= 1")
        if width < 1:
            raise ValueError(f"width {width} < 1")
        n = (depth - 4) // 6
        self.depth, self.width, self.norm_kind = depth, width, norm

        def nf(c):
            return make_norm(norm, c, eps, momentum, microbatch, rmax, dmax, gn_groups, own_bn, brn_impl)

        self.conv1 = conv3x3(in_channels, 16)
        blocks, cin = [], 16
        for cout, stride in ((16 * width, 1), (32 * width, 2), (64 * width, 2)):
            for j in range(n):
                blocks.append(Block(cin, cout, stride if j == 0 else 1, nf, dropout))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.bn = nf(cin)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x, acts=None):
        """acts: optional dict, filled with 'conv1', 'blocks.{i}', 'final_relu', 'pool'."""
        x = self.conv1(x)
        if acts is not None:
            acts["conv1"] = x
        for i, b in enumerate(self.blocks):
            x = b(x)
            if acts is not None:
                acts[f"blocks.{i}"] = x
        x = F.relu(self.bn(x))
        if acts is not None:
            acts["final_relu"] = x
        x = x.mean(dim=(2, 3))
        if acts is not None:
            acts["pool"] = x
        return self.fc(x)

    def renorm_modules(self):
        return [(n, m) for n, m in self.named_modules() if isinstance(m, BatchRenorm2d)]

    def set_renorm(self, rmax, dmax):
        for _, m in self.renorm_modules():
            m.rmax, m.dmax = rmax, dmax


def design_state_dict(model):
    """state_dict with DESIGN.md's names only (drops BatchNorm2d's num_batches_tracked)."""
    return {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def load_design_state_dict(model, tensors):
    """Load {name: tensor} holding exactly the model's design_state_dict names (others are an
    error, as are missing names and shape mismatches)."""
    want = design_state_dict(model)
    missing = sorted(set(want) - set(tensors))
    extra = sorted(set(tensors) - set(want))
    if missing or extra:
        raise ValueError(f"tensor names differ from the model: missing {missing[:8]}"
                         f"{'...' if len(missing) > 8 else ''}, unexpected {extra[:8]}"
                         f"{'...' if len(extra) > 8 else ''}")
    for k, v in want.items():
        t = torch.as_tensor(tensors[k])
        if tuple(t.shape) != tuple(v.shape):
            raise ValueError(f"{k}: shape {tuple(t.shape)} in the file, {tuple(v.shape)} in the model")
        with torch.no_grad():
            v.copy_(t.to(v.dtype))


def he_init(model, generator=None):
    """He-normal (fan_in, ReLU gain) convolutions; fc uniform(+-1/sqrt(fan_in)); norms 1/0."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
                m.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=generator)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / m.weight.shape[1] ** 0.5
                m.weight.uniform_(-bound, bound, generator=generator)
                m.bias.uniform_(-bound, bound, generator=generator)
