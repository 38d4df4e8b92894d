#!/usr/bin/python3
"""Daemon smoke test: a real brnd on a temporary state directory, driven over gRPC from
Python. Covers health, server info, validation messages, unknown methods, malformed
bytes, a tiny training job watched to the end, late watchers, idempotent submits,
cancellation (queued and running), bearer tokens, 256 concurrent watchers, and a clean
SIGTERM stop with the job resumed at the next start.

Run: /usr/bin/python3 tests/integration/daemon_smoke.py   (after `make`)
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "client", "python"))
import grpc  # noqa: E402
import brn_client  # noqa: E402

BRND = os.path.join(REPO, os.environ.get("BUILD", "build"), "brnd")
pb, pb_grpc = brn_client.load_stubs()
S = pb.JobState

TINY = dict(dataset="synthetic", depth=10, width=1, epochs=2, batch_size=32, train_subset=256,
            test_subset=128, threads=1)
# ~0.2 s per epoch on one core: long enough to cancel or stop mid-run
LONG = dict(TINY, epochs=40, train_subset=1024)

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


class Daemon:
    def __init__(self, state, *args):
        self.state = state
        self.log = open(os.path.join(state + ".log"), "ab")
        self.proc = subprocess.Popen([BRND, "serve", "--state-dir", state, *args], stderr=subprocess.PIPE)
        self.ready = None
        self.lines = []
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.write(line)
            self.lines.append(line.decode(errors="replace"))
            if line.startswith(b"brnd: ready on "):
                self.ready = line.decode().split("ready on ", 1)[1].strip()
                break
        if self.ready:  # keep draining stderr so the daemon never blocks on a full pipe
            threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.write(line)
            self.log.flush()

    def addr(self, i=0):
        return self.ready.split(", ")[i]

    def stop(self, sig=signal.SIGTERM, timeout=60):
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -999


def code_of(fn):
    try:
        fn()
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details() or ""


def wait_state(c, job_id, states, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = c.get_job(job_id)
        if j.state in states:
            return j
        time.sleep(0.05)
    return c.get_job(job_id)


def test_basics(c, channel):
    check(c.health() == "SERVING", "health SERVING")
    check(code_of(lambda: c.health("no.such.Service"))[0] == grpc.StatusCode.NOT_FOUND, "health of an unknown service")
    info = c.server_info()
    check(info.version != "" and len(info.devices) >= 1 and info.devices[0].kind == "cpu" and
          info.devices[0].id == "cpu" and info.devices[0].memory_budget_bytes > 0,
          "server info: version %s, devices %s" % (info.version, [(d.id, d.name) for d in info.devices]))
    gpus = [d for d in info.devices if d.kind == "cuda"]
    check(all(d.id.startswith("cuda:") and d.memory_bytes > 0 for d in gpus), "GPUs listed with ids and memory")
    check((gpus == []) == (info.gpu_unavailable != ""), "gpu_unavailable says why exactly when there is no GPU: %r"
          % info.gpu_unavailable)
    t0 = time.time()
    code, _ = code_of(lambda: channel.unary_unary("/brn.v1.Trainer/NoSuchMethod")(b"", timeout=10))
    check(code == grpc.StatusCode.UNIMPLEMENTED and time.time() - t0 < 2, "unknown method: UNIMPLEMENTED at once")
    raw = channel.unary_unary("/brn.v1.Trainer/GetJob")
    code, details = code_of(lambda: raw(b"\xff\xff\xff\xff", timeout=10))
    check(code == grpc.StatusCode.INVALID_ARGUMENT, "malformed bytes: INVALID_ARGUMENT (%s)" % details)
    # random bytes at every method but SubmitJob (an empty or lucky payload would queue a
    # real default job): never a crash, never an internal error
    import random
    rnd = random.Random(7)
    bad = []
    methods = ["GetJob", "ListJobs", "CancelJob", "GetMetrics", "GetServerInfo"]
    for m in methods:
        call = channel.unary_unary("/brn.v1.Trainer/" + m)
        for _ in range(40):
            payload = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40)))
            code, details = code_of(lambda: call(payload, timeout=10))
            if code not in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                            grpc.StatusCode.FAILED_PRECONDITION):
                bad.append((m, payload, code, details))
    stream = channel.unary_stream("/brn.v1.Trainer/WatchJob")
    for _ in range(40):
        payload = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40)))
        code, details = code_of(lambda: list(stream(payload, timeout=10)))
        if code not in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
            bad.append(("WatchJob", payload, code, details))
    code, _ = code_of(lambda: channel.unary_unary("/brn.v1.Trainer/SubmitJob")(b"\x0a\x05\x08", timeout=10))
    check(code == grpc.StatusCode.INVALID_ARGUMENT, "truncated SubmitJob: INVALID_ARGUMENT")
    check(not bad, "240 random payloads: only expected status codes %s" % bad[:3])
    check(c.health() == "SERVING", "still healthy after malformed bytes")


def test_validation(c):
    cases = [
        (dict(depth=11), "depth"),
        (dict(batch_size=0), "batch_size"),
        (dict(norm="bogus"), "norm"),
        (dict(dataset="imagenet"), "dataset"),
        (dict(dropout=1.5), "dropout"),
    ]
    for fields, name in cases:
        code, details = code_of(lambda: c.submit(**dict(TINY, **fields)))
        check(code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(name + ":"),
              "invalid %s: %s %r" % (fields, code, details))
    # placement: a device the server lacks, and a precision the CPU cannot run, are refused at submit
    gpus = [d.id for d in c.server_info().devices if d.kind == "cuda"]
    code, details = code_of(lambda: c.submit(**dict(TINY, device="cuda:%d" % len(gpus))))
    check(code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("device: cuda:%d is not available" % len(gpus)),
          "missing GPU: %r" % details)
    code, details = code_of(lambda: c.submit(**dict(TINY, device="cpu", precision="bf16")))
    check(code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("precision: bf16 needs a GPU"),
          "bf16 on the CPU: %r" % details)
    if not gpus:
        code, details = code_of(lambda: c.submit(**dict(TINY, precision="tf32")))
        check(code == grpc.StatusCode.INVALID_ARGUMENT and "this server has none" in details,
              "tf32 without a GPU: %r" % details)
    code, details = code_of(lambda: c.submit(priority=5000, **TINY))
    check(code == grpc.StatusCode.INVALID_ARGUMENT and "priority" in details, "priority range: %r" % details)
    code, details = code_of(lambda: c.submit(name="x" * 65, **TINY))
    check(code == grpc.StatusCode.INVALID_ARGUMENT and "name" in details, "name length: %r" % details)
    code, details = code_of(lambda: c.stub.ListJobs(pb.ListJobsRequest(page_size=-1), timeout=10))
    check(code == grpc.StatusCode.INVALID_ARGUMENT and "page_size" in details, "page_size: %r" % details)
    code, details = code_of(lambda: c.stub.ListJobs(pb.ListJobsRequest(page_token="zz"), timeout=10))
    check(code == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in details, "page_token: %r" % details)
    check(code_of(lambda: c.get_job(0))[0] == grpc.StatusCode.INVALID_ARGUMENT, "GetJob id 0")
    check(code_of(lambda: c.get_job(99999))[0] == grpc.StatusCode.NOT_FOUND, "GetJob unknown id")
    check(code_of(lambda: c.curves([99999]))[0] == grpc.StatusCode.NOT_FOUND, "GetMetrics unknown id")


def test_job(c):
    job = c.submit(name="tiny", idempotency_key="smoke-1", **TINY)
    check(job.id > 0 and job.state in (S.JOB_STATE_QUEUED, S.JOB_STATE_RUNNING), "submit -> job %d" % job.id)
    check(job.spec.depth == 10 and job.spec.norm == "bn" and job.spec.HasField("lr"),
          "the job's spec is complete (defaults filled)")
    again = c.submit(name="tiny", idempotency_key="smoke-1", **TINY)
    check(again.id == job.id, "same idempotency key: same job")
    code, _ = code_of(lambda: c.submit(idempotency_key="smoke-1", **dict(TINY, depth=16)))
    check(code == grpc.StatusCode.ALREADY_EXISTS, "same key, other spec: ALREADY_EXISTS")
    kinds = []
    final = c.wait(job.id, on_event=lambda ev: kinds.append(ev.WhichOneof("event")), timeout=120)
    check(final.state == S.JOB_STATE_SUCCEEDED, "job succeeded (%s %s)" % (brn_client.state_name(final.state),
                                                                           final.reason))
    check(kinds.count("epoch") == 2 and kinds[0] == "job", "watch: job first, then 2 epochs (%s)" % kinds)
    late = list(c.watch(job.id, timeout=10))
    check([e.WhichOneof("event") for e in late] == ["job", "epoch", "epoch"] and
          late[0].job.state == S.JOB_STATE_SUCCEEDED, "late watcher: state + stored epochs, then the end")
    curve = c.curves([job.id])[0]
    check([e.epoch for e in curve.epochs] == [1, 2] and curve.epochs[-1].evaluated and curve.name == "tiny",
          "GetMetrics: 2 epochs with test metrics")
    listed = c.list_jobs(states=[S.JOB_STATE_SUCCEEDED])
    check(any(j.id == job.id for j in listed), "ListJobs by state")
    return job.id


def test_failure_and_priority(c):
    nan = c.submit(name="nan", **dict(TINY, lr=999, norm="none", lr_schedule="constant", momentum=0.99,
                                       weight_decay=0.9))
    j = wait_state(c, nan.id, (S.JOB_STATE_FAILED, S.JOB_STATE_SUCCEEDED), 60)
    check(j.state == S.JOB_STATE_FAILED and j.error == "nan_loss" and "NaN" in j.reason,
          "a diverging job FAILED with nan_loss (%s %r)" % (j.error, j.reason))
    check(c.health() == "SERVING", "the daemon survives a failed job")
    blocker = c.submit(name="blocker", **LONG)
    wait_state(c, blocker.id, (S.JOB_STATE_RUNNING,))
    low = c.submit(name="low", priority=-5, **TINY)
    mid = c.submit(name="mid", **TINY)
    high = c.submit(name="high", priority=7, **TINY)
    c.cancel(blocker.id)
    for j in (low, mid, high):
        wait_state(c, j.id, (S.JOB_STATE_SUCCEEDED,), 60)
    started = [c.get_job(j.id).started_ms for j in (high, mid, low)]
    check(started == sorted(started) and 0 not in started, "queue order: priority, then submission %s" % started)


def test_paging(c):
    ids = {j.id for j in c.list_jobs(limit=1000)}
    seen, token, pages = [], "", 0
    while True:
        resp = c.stub.ListJobs(pb.ListJobsRequest(page_size=1, page_token=token), timeout=10)
        seen += [j.id for j in resp.jobs]
        pages += 1
        token = resp.next_page_token
        if not token or pages > 100:
            break
    check(set(seen) == ids and len(seen) == len(ids) and seen == sorted(seen, reverse=True),
          "paging with page_size 1 visits every job once, newest first")


def test_cancel(c):
    running = c.submit(name="long", **LONG)
    wait_state(c, running.id, (S.JOB_STATE_RUNNING,))
    queued = c.submit(name="queued", **TINY)
    got = c.cancel(queued.id)
    check(got.state == S.JOB_STATE_CANCELLED, "cancel a queued job: CANCELLED at once")
    check(code_of(lambda: c.cancel(queued.id))[0] == grpc.StatusCode.FAILED_PRECONDITION, "cancel twice")
    c.cancel(running.id)
    j = wait_state(c, running.id, (S.JOB_STATE_CANCELLED, S.JOB_STATE_SUCCEEDED, S.JOB_STATE_FAILED), 30)
    check(j.state == S.JOB_STATE_CANCELLED, "cancel a running job: CANCELLED at a batch boundary")


def test_many_watchers(c, n=256):
    job = c.submit(name="watched", **dict(TINY, epochs=3, train_subset=512))
    results = [None] * n
    ch = grpc.insecure_channel(c.target)
    stub = pb_grpc.TrainerStub(ch)

    def watch(i):
        try:
            evs = list(stub.WatchJob(pb.WatchJobRequest(id=job.id), timeout=120))
            results[i] = evs[-1].job.state if evs and evs[-1].WhichOneof("event") == "job" else None
        except grpc.RpcError as e:
            results[i] = e.code()

    threads = [threading.Thread(target=watch, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    ok = sum(r == S.JOB_STATE_SUCCEEDED for r in results)
    others = {}
    for r in results:
        if r != S.JOB_STATE_SUCCEEDED:
            key = brn_client.state_name(r) if isinstance(r, int) else str(r)
            others[key] = others.get(key, 0) + 1
    check(ok == n, "%d concurrent WatchJob streams all saw SUCCEEDED (%d did; the others ended with %s)" % (
        n, ok, others))
    ch.close()


def test_shutdown_resume(state):
    d = Daemon(state)
    c = brn_client.Client(d.addr())
    job = c.submit(name="resume", **dict(LONG, epochs=8))
    deadline = time.time() + 60
    while time.time() < deadline and c.get_job(job.id).epoch < 2:
        time.sleep(0.05)
    watch_end = []

    def watch():
        try:
            for _ in c.watch(job.id, timeout=60):
                pass
            watch_end.append((grpc.StatusCode.OK, ""))
        except grpc.RpcError as e:
            watch_end.append((e.code(), e.details() or ""))

    t = threading.Thread(target=watch)
    t.start()
    time.sleep(0.3)
    rc = d.stop()
    t.join(30)
    c.close()
    check(rc == 0, "SIGTERM with a running job: exit 0 (%s)" % rc)
    check(watch_end and watch_end[0][0] == grpc.StatusCode.UNAVAILABLE and "stopping" in watch_end[0][1],
          "an open WatchJob ends with UNAVAILABLE saying why (%s)" % watch_end)
    check(os.path.exists(os.path.join(state, "jobs", str(job.id), "last.safetensors")), "a checkpoint was written")
    d = Daemon(state)
    c = brn_client.Client(d.addr())
    final = c.wait(job.id, timeout=120)
    epochs = [e.epoch for e in c.curves([job.id])[0].epochs]
    check(final.state == S.JOB_STATE_SUCCEEDED and epochs == list(range(1, 9)),
          "resumed after restart and finished with epochs 1..8 (%s)" % epochs)
    c.close()
    check(d.stop() == 0, "clean stop when idle")


def test_token(tmp):
    token_file = os.path.join(tmp, "token")
    with open(token_file, "w") as f:
        f.write("s3cret\n")
    os.chmod(token_file, 0o600)
    d = Daemon(os.path.join(tmp, "tok"), "--listen", "127.0.0.1:0", "--token-file", token_file)
    check(d.ready is not None, "TCP listener with a token: ready on %s" % d.ready)
    if d.ready:
        anon = brn_client.Client(d.addr(), token="")
        code, _ = code_of(lambda: anon.server_info())
        check(code == grpc.StatusCode.UNAUTHENTICATED, "no token: UNAUTHENTICATED")
        wrong = brn_client.Client(d.addr(), token="nope")
        check(code_of(lambda: wrong.server_info())[0] == grpc.StatusCode.UNAUTHENTICATED, "wrong token")
        right = brn_client.Client(d.addr(), token="s3cret")
        check(code_of(lambda: right.server_info())[0] == grpc.StatusCode.OK, "right token: OK")
        for x in (anon, wrong, right):
            x.close()
        check(d.stop() == 0, "token daemon stops cleanly")
    p = subprocess.run([BRND, "--state-dir", os.path.join(tmp, "open"), "--listen", "0.0.0.0:0"],
                       stderr=subprocess.PIPE, timeout=20)
    check(p.returncode == 64 and b"token" in p.stderr, "non-loopback TCP without a token is refused (exit 64)")
    p = subprocess.run([BRND, "--state-dir", os.path.join(tmp, "x"), "--bogus", "1"], stderr=subprocess.PIPE,
                       timeout=20)
    check(p.returncode == 64, "unknown flag: exit 64")


def test_config_tls_files(tmp):
    # a config file with TLS on loopback TCP (the token makes the test realistic)
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                           "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    token = os.path.join(tmp, "tls-token")
    with open(token, "w") as f:
        f.write("t0k\n")
    os.chmod(token, 0o600)
    cfg = os.path.join(tmp, "brnd.json")
    with open(cfg, "w") as f:
        json.dump({"listen": ["localhost:0"], "token_file": token, "log_level": "warn",
                   **({"tls_cert": cert, "tls_key": key} if made else {})}, f)
    d = Daemon(os.path.join(tmp, "cfg"), "--config", cfg)
    check(d.ready is not None, "config file: ready on %s" % d.ready)
    if d.ready and made:
        port = d.addr().rsplit(":", 1)[1]
        ch = grpc.secure_channel("localhost:" + port, grpc.ssl_channel_credentials(open(cert, "rb").read()))
        stub = pb_grpc.TrainerStub(ch)
        info = stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=(("authorization", "Bearer t0k"),), timeout=10)
        check(info.version != "", "TLS + token: GetServerInfo")
        ch.close()
        plain = grpc.insecure_channel("localhost:" + port)
        code, _ = code_of(lambda: pb_grpc.TrainerStub(plain).GetServerInfo(pb.GetServerInfoRequest(), timeout=5))
        check(code == grpc.StatusCode.UNAVAILABLE, "plaintext client on the TLS port fails")
        plain.close()
    if d.ready:
        check(d.stop() == 0, "config daemon stops cleanly")
    with open(cfg, "w") as f:
        json.dump({"state_dir": os.path.join(tmp, "cfg2"), "colour": "blue"}, f)
    p = subprocess.run([BRND, "--config", cfg], stderr=subprocess.PIPE, timeout=20)
    check(p.returncode == 78 and b"unknown key 'colour'" in p.stderr, "unknown config key: exit 78")
    # a second daemon on the same state directory, a file where the socket goes
    d = Daemon(os.path.join(tmp, "busy"))
    p = subprocess.run([BRND, "--state-dir", os.path.join(tmp, "busy"), "--listen", "127.0.0.1:0"],
                       stderr=subprocess.PIPE, timeout=20)
    check(p.returncode == 73 and b"in use" in p.stderr, "one daemon per state directory (exit 73)")
    d.stop()
    blocked = os.path.join(tmp, "blocked")
    os.makedirs(blocked, mode=0o700)
    open(os.path.join(blocked, "brnd.sock"), "w").close()
    p = subprocess.run([BRND, "--state-dir", blocked], stderr=subprocess.PIPE, timeout=20)
    check(p.returncode == 69 and b"not a socket" in p.stderr, "a regular file at the socket path is left alone")
    # a database from a newer brnd is refused, not touched
    newer = os.path.join(tmp, "newer")
    os.makedirs(newer, mode=0o700)
    db = sqlite3.connect(os.path.join(newer, "brnd.db"))
    db.execute("PRAGMA user_version = 9999")
    db.close()
    p = subprocess.run([BRND, "--state-dir", newer], stderr=subprocess.PIPE, timeout=20)
    check(p.returncode == 65, "database newer than the binary: exit 65 (%s)" % p.stderr.decode().strip())


def main():
    with tempfile.TemporaryDirectory(prefix="brnd-smoke-") as tmp:
        state = os.path.join(tmp, "state")
        d = Daemon(state)
        check(d.ready is not None, "daemon ready on %s" % d.ready)
        if not d.ready:
            print("".join(d.lines))
            return 1
        check(oct(os.stat(state).st_mode & 0o777) == "0o700", "state directory is 0700")
        c = brn_client.Client(d.addr())
        channel = grpc.insecure_channel(c.target)
        try:
            test_basics(c, channel)
            test_validation(c)
            test_job(c)
            test_cancel(c)
            test_failure_and_priority(c)
            test_paging(c)
            test_many_watchers(c)
        finally:
            channel.close()
            c.close()
            rc = d.stop()
        check(rc == 0, "SIGTERM: exit 0")
        test_shutdown_resume(os.path.join(tmp, "state2"))
        test_token(tmp)
        test_config_tls_files(tmp)
        if failures:
            with open(state + ".log", "rb") as f:
                sys.stdout.write(f.read().decode(errors="replace")[-4000:])
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
