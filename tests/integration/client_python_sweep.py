#!/usr/bin/python3
"""Sweeps and reports from Python (client/python/brn_sweep.py) against a real brnd, beside
brnctl: a sweep brnctl ran is found again by Python (same points, labels and keys: no new
job) and the other way round; a bad point raises before anything is submitted; labels
filter ListJobs and GetMetrics; and Python's report equals `brnctl report --json`."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
import brn_client  # noqa: E402
import brn_sweep  # noqa: E402
from client_python import BUILD, Daemon, check  # noqa: E402

BRNCTL = os.path.join(BUILD, "brnctl")
TINY = dict(dataset="synthetic", depth=10, width=1, train_subset=256, test_subset=128, batch_size=32, threads=1,
            epochs=2, augment=False)
TINY_FLAGS = ["--dataset", "synthetic", "--depth", "10", "--width", "1", "--train-subset", "256", "--test-subset",
              "128", "--batch-size", "32", "--threads", "1", "--epochs", "2", "--no-augment"]


def brnctl(sock, *args, rc=0):
    out = subprocess.run([BRNCTL, "--addr", "unix:" + sock] + list(args), capture_output=True, text=True, timeout=300)
    check(out.returncode == rc, "brnctl %s exited %d, expected %d: %s %s" % (args, out.returncode, rc, out.stdout,
                                                                          out.stderr))
    return out.stdout


def same_numbers(a, b, where):
    """Equal JSON values, floats to 1e-12 (C prints %.17g; Python computes the same sums)."""
    if isinstance(a, dict):
        check(isinstance(b, dict) and set(a) == set(b), "%s: keys %s vs %s" % (where, sorted(a), sorted(b)))
        for k in a:
            same_numbers(a[k], b[k], where + "." + k)
    elif isinstance(a, list):
        check(isinstance(b, list) and len(a) == len(b), "%s: %s vs %s" % (where, a, b))
        for i, (x, y) in enumerate(zip(a, b)):
            same_numbers(x, y, "%s[%d]" % (where, i))
    elif isinstance(a, float) or isinstance(b, float):
        check(a is not None and b is not None and abs(a - b) <= 1e-12, "%s: %r vs %r" % (where, a, b))
    else:
        check(a == b, "%s: %r vs %r" % (where, a, b))


def test_brnctl_then_python(c, sock):
    out = brnctl(sock, "sweep", "--name", "c1", *TINY_FLAGS, "--grid", "norm=bn,gn", "--grid", "microbatch=0,8",
                 "--seeds", "2", "--wait")
    check("6 new" in out and "all SUCCEEDED" in out, out)
    ids = sorted(j.id for j in c.list_jobs(labels={"sweep": "c1"}))
    check(len(ids) == 6, "brnctl's sweep: %s" % ids)
    jobs = c.sweep("c1", grid={"norm": ["bn", "gn"], "microbatch": [0, 8]}, seeds=2, **TINY)
    check(sorted(j.id for j in jobs) == ids, "Python found other jobs: %s vs %s" % ([j.id for j in jobs], ids))
    check(len(c.list_jobs(limit=1000)) == 6, "Python created jobs")
    check(len(c.list_jobs(labels={"sweep": "c1", "norm": "gn"})) == 2, "gn: one point x 2 seeds")
    check(len(c.curves(labels={"sweep": "c1", "microbatch": "8"})) == 2, "GetMetrics by labels")
    check(len(c.curves(ids, labels={"norm": "bn"})) == 4, "GetMetrics: ids filtered by labels")
    return ids


def test_python_then_brnctl(c, sock):
    # rmax has no effect under bn: bn once, brn twice
    jobs = c.sweep("c2", grid={"norm": ["bn", "brn"], "rmax": [2, 3]}, seeds=2, dry_run=True, **TINY)
    check(len(jobs) == 6 and all(j.id == 0 for j in jobs), "dry run: %s" % [j.id for j in jobs])
    check(not c.list_jobs(labels={"sweep": "c2"}), "a dry run submitted jobs")
    jobs = c.sweep("c2", grid={"norm": ["bn", "brn"], "rmax": [2, 3]}, seeds=2, **TINY)
    check(len(jobs) == 6 and len({j.id for j in jobs}) == 6, "submitted: %s" % jobs)
    labels = [{lb.key: lb.value for lb in j.labels} for j in jobs]
    check(labels[0] == {"sweep": "c2", "norm": "bn", "seed": "1"}, "labels %s" % labels[0])
    check(labels[1] == {"sweep": "c2", "norm": "brn", "rmax": "2", "seed": "1"}, "labels %s" % labels[1])
    finished = []
    ended = c.wait_all(jobs, on_finished=finished.append)
    check(len(finished) == 6 and all(brn_client.state_name(j.state) == "SUCCEEDED" for j in ended), "wait_all")
    out = brnctl(sock, "sweep", "--name", "c2", *TINY_FLAGS, "--grid", "norm=bn,brn", "--grid", "rmax=2,3",
                 "--seeds", "2")
    check("0 new, 6 already submitted" in out, "brnctl re-ran Python's sweep: " + out)
    # new seeds with other base flags: refused before anything is submitted
    before = len(c.list_jobs(limit=1000))
    try:
        c.sweep("c2", grid={"norm": ["bn", "brn"], "rmax": [2, 3]}, seeds=1, **dict(TINY, seed=5, lr=0.05))
        check(False, "a sweep with other base flags was accepted")
    except ValueError as e:
        check("other base flags" in str(e) and "lr 0.1 -> 0.05" in str(e), str(e))
    check(len(c.list_jobs(limit=1000)) == before, "a refused sweep submitted jobs")
    for bad in (0, -3, 10 ** 9, 2.5, True):
        try:
            c.sweep("c2", grid={"norm": ["bn"]}, seeds=bad, dry_run=True, **TINY)
            check(False, "seeds=%r was accepted" % (bad,))
        except ValueError as e:
            check("seeds" in str(e), str(e))


def test_bad_point(c):
    before = len(c.list_jobs(limit=1000))
    try:
        c.sweep("c3", grid={"microbatch": [8, 5]}, **TINY)
        check(False, "microbatch 5 with batch 32 was accepted")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "microbatch" in e.details(), e.details())
    try:
        c.sweep("c3", grid={"colour": ["red"]}, **TINY)
        check(False, "an unknown field was accepted")
    except ValueError as e:
        check("colour" in str(e), str(e))
    check(len(c.list_jobs(limit=1000)) == before, "a failed sweep submitted jobs")


def test_reports(c, sock):
    for name, baseline in (("c1", None), ("c1", "norm=bn,microbatch=8"), ("c2", "norm=brn,rmax=3")):
        args = ["report", name, "--json"] + (["--baseline", baseline] if baseline else [])
        theirs = json.loads(brnctl(sock, *args))
        ours = c.report(name, baseline=baseline)
        same_numbers(theirs, json.loads(json.dumps(ours)), "%s report" % name)
    rep = c.report("c2")
    check(rep["fields"] == ["norm", "rmax"], rep["fields"])
    check([g["settings"] for g in rep["groups"]] == [{"norm": "bn", "rmax": "-"}, {"norm": "brn", "rmax": "2"},
                                                     {"norm": "brn", "rmax": "3"}], rep["groups"])
    table = brn_sweep.report_table(rep)
    check("baseline" in table and "2/2 done" in table and "norm  rmax" in table and "r clipped %" in table, table)
    check(rep["groups"][0]["r_clipped"]["n"] == 0 and rep["groups"][1]["r_clipped"]["n"] == 2, "BRN diagnostics")
    try:
        c.report("c1", baseline="norm=bn")
        check(False, "an ambiguous baseline was accepted")
    except ValueError as e:
        check("matches 2 groups" in str(e), str(e))


def main():
    tmp = tempfile.mkdtemp(prefix="brn-pysweep-")
    os.environ["BRN_PY_GEN"] = os.path.join(BUILD, "python")
    d = None
    try:
        brn_client.load_stubs()
        d = Daemon(tmp)
        with brn_client.Client("unix:" + d.sock) as c:
            for name, fn in (("brnctl's sweep from Python", lambda: test_brnctl_then_python(c, d.sock)),
                             ("Python's sweep from brnctl", lambda: test_python_then_brnctl(c, d.sock)),
                             ("a bad point submits nothing", lambda: test_bad_point(c)),
                             ("reports equal brnctl's", lambda: test_reports(c, d.sock))):
                print("--", name, flush=True)
                fn()
        d.stop()
        print("ok")
        return 0
    except Exception:
        if os.path.exists(os.path.join(tmp, "brnd.log")):
            sys.stderr.write(open(os.path.join(tmp, "brnd.log")).read()[-3000:])
        raise
    finally:
        if d:
            d.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
