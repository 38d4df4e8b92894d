"""Sweeps and reports in Python, the same as `brnctl sweep` and `brnctl report` (docs/sweeps.md).

    import brn_client, brn_sweep
    c = brn_client.Client()
    jobs = c.sweep("mb", grid={"norm": ["bn", "brn", "gn"], "microbatch": [0, 2, 4]}, seeds=3,
                   dataset="fashion-mnist", depth=10, width=1, train_subset=10000, epochs=3, augment=False)
    c.wait_all(jobs, on_finished=print)
    rep = c.report("mb", baseline="norm=bn,microbatch=0")
    print(brn_sweep.report_table(rep))

A sweep's points, labels and idempotency keys are those brnctl derives, so either client can
re-run a sweep the other started; the report dict has the shape of `brnctl report --json`.
"""

import itertools
import math
import statistics
import time

import grpc

import brn_client

NOT_APPLICABLE = "-"
# the most jobs (points x seeds) one sweep may submit: brnctl's SWEEP_MAX_JOBS (client/sweep.h)
MAX_JOBS = 10000


def value_text(v):
    """A setting as label text: the way it would be written on brnctl's command line."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def fnv1a64(text):
    h = 0xcbf29ce484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def sweep_key(name, applied, seed):
    """"sweep:NAME:" + FNV-1a 64 of the sorted lines "field=value\\n" of the point and its seed."""
    lines = sorted("%s=%s\n" % (k, v) for k, v in list(applied.items()) + [("seed", str(seed))])
    return "sweep:%s:%016x" % (name, fnv1a64("".join(lines)))


def _points(client, name, grid, fields):
    """The grid's points in brnctl's order (first field slowest), each as {field: value} of the
    fields that apply there: the daemon names the inert ones (Job.inert_fields) and points
    that then coincide are merged."""
    axes = [(f.replace("-", "_"), list(vals)) for f, vals in grid.items()]
    for f, vals in axes:
        if f in ("seed", "milestones") or f not in brn_client.pb.JobSpec.DESCRIPTOR.fields_by_name:
            raise ValueError("grid %s: not a job spec field that can be swept" % f)
        if len({value_text(v) for v in vals}) != len(vals) or not vals:
            raise ValueError("grid %s: values must be distinct and at least one" % f)
    points, seen = [], set()
    for combo in itertools.product(*[vals for _, vals in axes]):
        point = {f: v for (f, _), v in zip(axes, combo)}
        probe = client.submit(name=name, validate_only=True, **dict(fields, **point))
        applied = {f: v for f, v in point.items() if f not in set(probe.inert_fields)}
        ident = tuple((f, value_text(v)) for f, v in applied.items())
        if ident not in seen:
            seen.add(ident)
            points.append(applied)
    return points


def sweep(client, name, grid, seeds=1, priority=0, dry_run=False, **fields):
    """Submits grid (a dict field -> values) x seeds as jobs labelled sweep=NAME, field=value
    per applied setting and seed=S, with idempotency keys; fields are the base spec. Every
    job is checked by the daemon first (a grpc.RpcError then means nothing was submitted).
    Returns the Jobs (existing ones for a re-run; with dry_run the would-be jobs, id 0 new)."""
    seed0 = int(fields.pop("seed", 1))
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_JOBS:
        raise ValueError("seeds: %r is not an integer in 1..%d" % (seeds, MAX_JOBS))
    points = _points(client, name, grid, fields)
    if len(points) * seeds > MAX_JOBS:
        raise ValueError("%d points x %d seeds: more than %d jobs" % (len(points), seeds, MAX_JOBS))
    plan = []
    for s in range(seed0, seed0 + seeds):   # seed-major, as brnctl
        for applied in points:
            labels = dict([("sweep", name)] + [(f, value_text(v)) for f, v in applied.items()] + [("seed", str(s))])
            req = dict(name=name, priority=priority, idempotency_key=sweep_key(name, {
                f: value_text(v) for f, v in applied.items()}, s), labels=labels, seed=s, **dict(fields, **applied))
            plan.append(req)
    checked = [client.submit(validate_only=True, **req) for req in plan]
    new = [j for j in checked if j.id == 0]
    if new:
        _check_base_flags(client, name, set(grid), new[0])
    if dry_run:
        return checked
    return [client.submit(**req) for req in plan]


def _check_base_flags(client, name, swept, would_be):
    """A sweep keeps the base flags of its first run (as brnctl's check_base_flags): the
    would-be job must equal an existing job of the sweep in every spec field but the seed,
    the fields either run sweeps and those inert in either job. Raises ValueError."""
    existing = client.list_jobs(labels={"sweep": name}, limit=1)
    if not existing:
        return
    old = existing[0]
    skip = set(swept) | {"seed"}
    for job in (old, would_be):
        skip |= {lb.key for lb in job.labels} | set(job.inert_fields)
    diff = []
    for f in brn_client.pb.JobSpec.DESCRIPTOR.fields:
        if f.name in skip:
            continue
        a, b = getattr(old.spec, f.name), getattr(would_be.spec, f.name)
        if f.label == f.LABEL_REPEATED:
            a, b = list(a), list(b)
        if a != b:
            diff.append("%s %s -> %s" % (f.name, a, b))
    if diff:
        raise ValueError("sweep %s was submitted with other base flags (job %d: %s); use the flags of its first "
                         "run, or a new name" % (name, old.id, ", ".join(diff)))


def wait_all(client, jobs, on_finished=None, poll=1.0):
    """Polls until every job is final; on_finished(job) for each as it ends. Returns the final Jobs."""
    final, pending = {}, [j.id for j in jobs]
    while pending:
        for jid in list(pending):
            try:
                job = client.get_job(jid)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.NOT_FOUND:
                    raise LookupError("job %d is gone (deleted) before it finished" % jid) from e
                raise
            if brn_client.pb.JobState.Name(job.state) in brn_client.TERMINAL:
                final[jid] = job
                pending.remove(jid)
                if on_finished:
                    on_finished(job)
        if pending:
            time.sleep(poll)
    return [final[j.id] for j in jobs]


def _short(v):
    """A float as its shortest %g text that reads back the same (as brnctl prints it)."""
    for p in range(1, 18):
        t = "%.*g" % (p, v)
        if float(t) == v:
            return t
    return repr(v)


def _field_text(job, fd):
    if fd.name in job.inert_fields:
        return NOT_APPLICABLE
    from google.protobuf.descriptor import FieldDescriptor as F
    v = getattr(job.spec, fd.name)
    if fd.label == F.LABEL_REPEATED:
        return ",".join(str(x) for x in v) or "none"
    if not job.HasField("spec") or not job.spec.HasField(fd.name):
        return "?"
    if fd.type == F.TYPE_BOOL:
        return "true" if v else "false"
    if fd.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return _short(v)
    return str(v)


def _stat(values):
    v = [x for x in values if x is not None]
    return {"n": len(v), "mean": statistics.mean(v) if v else None, "std": statistics.stdev(v) if len(v) > 1 else None,
            "min": min(v) if v else None, "max": max(v) if v else None}


def _clips(epoch):
    """BRN: the fractions of r and d clipped in an epoch, mean over layers (None without diagnostics)."""
    if not epoch.renorm:
        return None, None
    n = len(epoch.renorm)
    return sum(d.frac_r_clipped for d in epoch.renorm) / n, sum(d.frac_d_clipped for d in epoch.renorm) / n


def _job_numbers(curve):
    """(final test acc, best test acc, seconds per epoch, r clipped, d clipped in the last epoch)."""
    tested = [e.test_acc for e in curve.epochs if e.evaluated] if curve else []
    secs = [e.seconds for e in curve.epochs] if curve else []
    clips = _clips(curve.epochs[-1]) if curve and curve.epochs else (None, None)
    return (tested[-1] if tested else None, max(tested) if tested else None,
            sum(secs) / len(secs) if secs else None) + clips


def _curve(members, curves):
    done = [curves.get(j.id) for j in members if brn_client.pb.JobState.Name(j.state) == "JOB_STATE_SUCCEEDED"]
    done = [c for c in done if c]
    out = []
    for e in sorted({m.epoch for c in done for m in c.epochs}):
        ms = [m for c in done for m in c.epochs if m.epoch == e]
        acc = _stat([m.test_acc for m in ms if m.evaluated])
        loss = _stat([m.test_loss for m in ms if m.evaluated])
        clips = [_clips(m) for m in ms if m.renorm]
        out.append({"epoch": e, "n": acc["n"], "train_loss": statistics.mean(m.train_loss for m in ms),
                    "train_acc": statistics.mean(m.train_acc for m in ms), "test_loss": loss["mean"],
                    "test_acc": acc["mean"], "test_acc_std": acc["std"], "test_acc_min": acc["min"],
                    "test_acc_max": acc["max"],
                    "r_clipped": sum(c[0] for c in clips) / len(clips) if clips else None,
                    "d_clipped": sum(c[1] for c in clips) / len(clips) if clips else None})
    return out


def _status(g):
    parts = [(g["failed"], "failed"), (g["cancelled"], "cancelled"), (g["running"], "running"),
             (g["queued"], "queued"), (g["missing"], "missing"), (g["duplicate"], "duplicate seed"),
             (g["n_done"] - g["final_test_acc"]["n"], "without test accuracy")]
    return "%d/%d done" % (g["n_done"], g["n_expected"]) + "".join(", %d %s" % (n, w) for n, w in parts if n)


def _set_gaps(rep, b):
    base = rep["groups"][b]
    rep["baseline"] = dict(base["settings"])
    for i, g in enumerate(rep["groups"]):
        f, bf = g["final_test_acc"], base["final_test_acc"]
        g["baseline"] = i == b
        g["gap_final_test_acc"] = f["mean"] - bf["mean"] if None not in (f["mean"], bf["mean"]) else None
        g["gap_best_test_acc"] = (g["best_test_acc"]["mean"] - base["best_test_acc"]["mean"]
                                  if None not in (g["best_test_acc"]["mean"], base["best_test_acc"]["mean"]) else None)
        g["gap_se"] = 0.0 if i == b else (math.sqrt(f["std"] ** 2 / f["n"] + bf["std"] ** 2 / bf["n"])
                                          if None not in (f["std"], bf["std"]) else None)


def build_report(name, jobs, curves, baseline=None):
    """The report dict from the sweep's Jobs and {job_id: JobCurve} (as brnctl report --json)."""
    if not jobs:
        raise ValueError("no jobs are labelled sweep=%s" % name)
    jobs = sorted(jobs, key=lambda j: j.id)
    seeds = sorted({j.spec.seed for j in jobs})
    fds = [fd for fd in brn_client.pb.JobSpec.DESCRIPTOR.fields if fd.name != "seed"]
    fields = [fd for fd in fds if len({_field_text(j, fd) for j in jobs} - {NOT_APPLICABLE}) > 1]
    groups = {}
    for j in jobs:
        groups.setdefault(tuple(_field_text(j, fd) for fd in fields), []).append(j)
    rep = {"sweep": name, "fields": [fd.name for fd in fields], "seeds": seeds, "groups": []}
    for values, members in groups.items():
        state = [brn_client.pb.JobState.Name(j.state)[len("JOB_STATE_"):] for j in members]
        nums = [_job_numbers(curves.get(j.id)) for j in members]
        done = [n for n, s in zip(nums, state) if s == "SUCCEEDED"]
        per_seed = [sum(1 for j in members if j.spec.seed == s) for s in seeds]
        g = {"settings": dict(zip(rep["fields"], values)), "n_done": len(done), "n_expected": len(seeds),
             "failed": state.count("FAILED"), "cancelled": state.count("CANCELLED"), "running": state.count("RUNNING"),
             "queued": state.count("QUEUED"), "missing": per_seed.count(0),
             "duplicate": sum(n - 1 for n in per_seed if n > 1),
             "final_test_acc": _stat([n[0] for n in done]), "best_test_acc": _stat([n[1] for n in done]),
             "seconds_per_epoch": _stat([n[2] for n in done]),
             "r_clipped": _stat([n[3] for n in done]), "d_clipped": _stat([n[4] for n in done]),
             "jobs": [{"id": j.id, "seed": j.spec.seed, "state": s, "final_test_acc": n[0], "best_test_acc": n[1],
                       "seconds_per_epoch": n[2], "r_clipped": n[3], "d_clipped": n[4]}
                      for j, s, n in zip(members, state, nums)],
             "curve": _curve(members, curves)}
        g["complete"] = (g["n_done"] == len(seeds) == len(members) and g["missing"] == 0
                         and g["final_test_acc"]["n"] == g["n_done"])
        g["status"] = _status(g)
        rep["groups"].append(g)
    _set_gaps(rep, 0)
    if baseline:
        set_baseline(rep, baseline)
    return rep


def set_baseline(rep, spec):
    """Chooses the baseline group by "field=value,..." (one group must match); recomputes the gaps."""
    want = {}
    for item in spec.split(","):
        k, eq, v = item.partition("=")
        k = k.replace("-", "_")
        if not eq or not k:
            raise ValueError("baseline: '%s' is not FIELD=VALUE" % item)
        if k not in rep["fields"]:
            raise ValueError("baseline: %s is not a setting that differs in this sweep (%s)"
                             % (k, ", ".join(rep["fields"]) or "none"))
        want[k] = v

    def same(a, b):
        try:
            return a == b or float(a) == float(b)
        except ValueError:
            return False

    hits = [i for i, g in enumerate(rep["groups"]) if all(same(g["settings"][k], v) for k, v in want.items())]
    if len(hits) != 1:
        raise ValueError("baseline: '%s' matches %d groups; name one group" % (spec, len(hits)))
    _set_gaps(rep, hits[0])
    return rep


def report(client, name, baseline=None):
    """Fetches the sweep's jobs and curves (ListJobs and GetMetrics by its label) and builds the report."""
    label = {"sweep": name}
    jobs = client.list_jobs(limit=1 << 31, labels=label)
    curves = {}
    for i in range(0, len(jobs), 100):
        for c in client.curves([j.id for j in jobs[i:i + 100]], labels=label):
            curves[c.job_id] = c
    return build_report(name, jobs, curves, baseline)


def report_table(rep):
    """The report as a text table: accuracies in percent, mean ± std (n seeds finished)."""
    def pct(s):
        if not s["n"]:
            return "-"
        return "%.2f" % (100 * s["mean"]) + ("" if s["std"] is None else " ± %.2f" % (100 * s["std"]))

    def gap(g):
        if g["baseline"]:
            return "baseline"
        if g["gap_final_test_acc"] is None:
            return "-"
        return "%+.2f" % (100 * g["gap_final_test_acc"]) + ("" if g["gap_se"] is None else " ± %.2f" % (100 * g["gap_se"]))

    diag = any(g["r_clipped"]["n"] for g in rep["groups"])

    def clip(s):
        return "-" if not s["n"] else "%.1f" % (100 * s["mean"])

    head = rep["fields"] + ["n", "final test acc %", "best test acc %", "gap (points)"] + (
        ["r clipped %", "d clipped %"] if diag else []) + ["s/epoch", "status"]
    rows = [head] + [[g["settings"][f] for f in rep["fields"]] + [
        str(g["final_test_acc"]["n"]), pct(g["final_test_acc"]), pct(g["best_test_acc"]), gap(g)] + (
        [clip(g["r_clipped"]), clip(g["d_clipped"])] if diag else []) + [
        "-" if g["seconds_per_epoch"]["mean"] is None else "%.1f" % g["seconds_per_epoch"]["mean"],
        g["status"] + ("" if g["complete"] else " *")] for g in rep["groups"]]
    width = [max(len(r[c]) for r in rows) for c in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, width)).rstrip() for r in rows]
    if not all(g["complete"] for g in rep["groups"]):
        lines.append("* incomplete: a seed is missing, unfinished or failed, or ran more than once; the numbers are over the finished jobs only")
    return "sweep %s: %d groups, seeds %s\n" % (rep["sweep"], len(rep["groups"]), " ".join(map(str, rep["seeds"]))) \
        + "\n".join(lines)
