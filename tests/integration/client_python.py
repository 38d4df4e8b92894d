#!/usr/bin/python3
"""The Python client (client/python/brn_client.py, Debian's python3-grpcio) against a real
brnd: submit a tiny job, follow it, read its curve; the example script; and the
protocol's edges: invalid specs, unknown methods (UNIMPLEMENTED at once), malformed bytes
(raw payloads through a generic call) and a health check afterwards."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))
import grpc  # noqa: E402
import brn_client  # noqa: E402

BUILD = os.environ.get("BUILD", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
BRND = os.path.join(BUILD, "brnd")
TINY = dict(dataset="synthetic", depth=10, width=1, train_subset=256, test_subset=128, batch_size=32, threads=1)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


class Daemon:
    def __init__(self, tmp):
        self.tmp = tmp
        self.log = os.path.join(tmp, "brnd.log")
        self.sock = os.path.join(tmp, "state", "brnd.sock")
        os.makedirs(os.path.join(tmp, "data"), exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([BRND, "serve", "--state-dir", os.path.join(tmp, "state"),
                                          "--data-dir", os.path.join(tmp, "data")], stdout=log, stderr=log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("brnd exited: " + open(self.log).read()[-2000:])
            if "ready on" in open(self.log).read():
                return
            time.sleep(0.1)
        raise RuntimeError("brnd not ready in 20s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("brnd did not stop on SIGTERM")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def code_of(fn):
    """Runs fn, returns (grpc status code, details, seconds taken)."""
    t0 = time.time()
    try:
        fn()
    except grpc.RpcError as e:
        return e.code(), e.details(), time.time() - t0
    return grpc.StatusCode.OK, "", time.time() - t0


def test_jobs(c):
    check(c.health() == "SERVING", "health")
    info = c.server_info()
    check("synthetic" in info.datasets, "datasets: %s" % list(info.datasets))
    job = c.submit(name="py-tiny", epochs=2, norm="brn", microbatch=8, **TINY)
    check(job.id > 0 and job.name == "py-tiny", "submit: %s" % job)
    seen = []
    final = c.wait(job.id, on_event=lambda ev: seen.append(ev.WhichOneof("event")))
    check(brn_client.state_name(final.state) == "SUCCEEDED", "final state %s" % final.state)
    check(seen.count("epoch") == 2, "events: %s" % seen)
    check(final.spec.norm == "brn" and final.spec.depth == 10 and final.spec.lr_schedule == "cosine",
          "resolved spec: %s" % final.spec)
    curve = c.curves([job.id])[0]
    check([e.epoch for e in curve.epochs] == [1, 2], "curve epochs %s" % curve.epochs)
    check(all(e.evaluated and 0 <= e.test_acc <= 1 for e in curve.epochs), "curve values")
    check(any(j.id == job.id for j in c.list_jobs()), "list")
    return job.id


def test_example(sock):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "client", "python", "example_submit.py"),
                          "--addr", "unix:" + sock, "--dataset", "synthetic", "--depth", "10", "--width", "1",
                          "--train-subset", "256", "--test-subset", "128", "--batch-size=32", "--threads", "1",
                          "--epochs", "2", "--shuffle", "false"],
                         capture_output=True, text=True, timeout=120)
    check(out.returncode == 0, "example exited %d: %s %s" % (out.returncode, out.stdout, out.stderr))
    check("SUCCEEDED" in out.stdout and "train_loss" in out.stdout, "example output: " + out.stdout)
    check(len([l for l in out.stdout.splitlines() if l.strip().startswith(("1 ", "2 "))]) == 2, out.stdout)


def test_invalid_specs(c):
    cases = [(dict(depth=11), "depth"), (dict(norm="batchy"), "norm"), (dict(batch_size=0), "batch"),
             (dict(norm="brn", rmax=0.5), "rmax"), (dict(microbatch=5, batch_size=32), "microbatch"),
             (dict(dataset="/etc/passwd"), "dataset")]
    for fields, name in cases:
        code, details, _ = code_of(lambda: c.submit(**fields))
        check(code == grpc.StatusCode.INVALID_ARGUMENT, "%s: %s %s" % (fields, code, details))
        check(name in details, "%s: the message does not name %s: %s" % (fields, name, details))
    code, details, _ = code_of(lambda: c.submit(name="x" * 500, **TINY))
    check(code == grpc.StatusCode.INVALID_ARGUMENT and "name" in details, "long name: %s %s" % (code, details))
    code, details, _ = code_of(lambda: c.submit(priority=5000, **TINY))
    check(code == grpc.StatusCode.INVALID_ARGUMENT and "priority" in details, "priority: %s %s" % (code, details))
    code, _, _ = code_of(lambda: c.get_job(424242))
    check(code == grpc.StatusCode.NOT_FOUND, "unknown job: %s" % code)


def test_unknown_methods(c):
    ident = dict(request_serializer=None, response_deserializer=None)
    for method in ("/brn.v1.Trainer/NoSuchMethod", "/no.such.Service/Call", "/grpc.health.v1.Health/Watch"):
        call = c.channel.unary_unary(method, **ident)
        code, details, took = code_of(lambda: call(b"", timeout=10, metadata=c.metadata))
        check(code == grpc.StatusCode.UNIMPLEMENTED, "%s: %s %s" % (method, code, details))
        check(took < 3.0, "%s took %.1fs: UNIMPLEMENTED must come at once" % (method, took))


def test_malformed(c):
    ident = dict(request_serializer=None, response_deserializer=None)
    payloads = [b"\xff\xff\xff\xff", b"\x0a\xff\x01", b"\x08", b"\x0a\x05\x08\x01", os.urandom(4096),
                b"\x12" + b"\xff" * 11]
    for method in ("SubmitJob", "GetJob", "ListJobs", "CancelJob", "GetMetrics"):
        call = c.channel.unary_unary("/brn.v1.Trainer/" + method, **ident)
        for p in payloads:
            code, details, took = code_of(lambda: call(p, timeout=10, metadata=c.metadata))
            check(code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.OK),
                  "%s with %r: %s %s" % (method, p[:8], code, details))
            check(took < 3.0, "%s with malformed bytes took %.1fs" % (method, took))
    stream = c.channel.unary_stream("/brn.v1.Trainer/WatchJob", **ident)
    code, details, took = code_of(lambda: list(stream(b"\xff\xff", timeout=10, metadata=c.metadata)))
    check(code == grpc.StatusCode.INVALID_ARGUMENT, "WatchJob malformed: %s %s" % (code, details))
    check(c.health() == "SERVING", "unhealthy after malformed requests")


def main():
    tmp = tempfile.mkdtemp(prefix="brn-py-")
    os.environ["BRN_PY_GEN"] = os.path.join(BUILD, "python")
    d = None
    try:
        brn_client.load_stubs()
        d = Daemon(tmp)
        with brn_client.Client("unix:" + d.sock) as c:
            for name, fn in (("jobs", lambda: test_jobs(c)), ("example", lambda: test_example(d.sock)),
                             ("invalid specs", lambda: test_invalid_specs(c)),
                             ("unknown methods", lambda: test_unknown_methods(c)),
                             ("malformed bytes", lambda: test_malformed(c))):
                print("--", name, flush=True)
                fn()
            check(c.health() == "SERVING", "health at the end")
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
