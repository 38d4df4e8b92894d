#!/usr/bin/python3
"""RPC latency of brnd: GetJob / ListJobs p50/p99 from 8 concurrent clients (separate
processes, one channel each), idle and while a job trains; then 256 concurrent WatchJob
streams on one training job (time to the first event, events delivered, all streams
ending with the job), with GetJob latency measured meanwhile.

    /usr/bin/python3 bench/rpc_latency.py [--seconds 10] [--clients 8] [--watchers 256]

Prints a Markdown table (paste into bench/RESULTS.md). Uses a temporary state directory
and a synthetic dataset; the training job uses one thread (--train-threads).
"""

import argparse
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "client", "python"))
import grpc  # noqa: E402
import brn_client  # noqa: E402

BRND = os.path.join(REPO, os.environ.get("BUILD", "build"), "brnd")
pb, pb_grpc = brn_client.load_stubs()


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def start_daemon(state):
    p = subprocess.Popen([BRND, "serve", "--state-dir", state, "--log-level", "warn"], stderr=subprocess.PIPE)
    while True:
        line = p.stderr.readline()
        if not line:
            raise SystemExit("brnd did not start")
        if line.startswith(b"brnd: ready on "):
            addr = line.decode().split("ready on ", 1)[1].strip().split(", ")[0]
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, addr


def client_proc(target, seconds, job_id, start_at, out):
    """One client: alternate GetJob and ListJobs(page_size 20) for `seconds` from start_at
    (all clients start together, after every process has started and connected)."""
    ch = grpc.insecure_channel(target)
    stub = pb_grpc.TrainerStub(ch)
    stub.GetJob(pb.GetJobRequest(id=job_id), timeout=10)  # connect outside the timing
    get, lst = [], []
    time.sleep(max(0.0, start_at - time.time()))
    end = start_at + seconds
    while time.time() < end:
        t = time.perf_counter()
        stub.GetJob(pb.GetJobRequest(id=job_id), timeout=10)
        get.append(time.perf_counter() - t)
        t = time.perf_counter()
        stub.ListJobs(pb.ListJobsRequest(page_size=20), timeout=10)
        lst.append(time.perf_counter() - t)
    ch.close()
    out.put((get, lst))


def run_clients(target, n, seconds, job_id):
    ctx = mp.get_context("spawn")  # gRPC does not survive fork() with live channels
    q = ctx.Queue()
    start_at = time.time() + 3.0 + 0.3 * n
    procs = [ctx.Process(target=client_proc, args=(target, seconds, job_id, start_at, q)) for _ in range(n)]
    for p in procs:
        p.start()
    get, lst = [], []
    for _ in procs:
        g, l = q.get()
        get += g
        lst += l
    for p in procs:
        p.join()
    return get, lst


def row(name, xs, seconds):
    return "| %s | %d | %.0f | %.2f | %.2f | %.2f |" % (
        name, len(xs), len(xs) / seconds, pct(xs, 50) * 1e3, pct(xs, 99) * 1e3, max(xs) * 1e3)


def watchers(target, job_id, n):
    """n concurrent WatchJob streams on one channel each thread shares: first-event times."""
    ch = grpc.insecure_channel(target)
    stub = pb_grpc.TrainerStub(ch)
    stub.GetJob(pb.GetJobRequest(id=job_id), timeout=10)
    first, counts, final = [None] * n, [0] * n, [None] * n
    start = threading.Barrier(n + 1)

    def one(i):
        start.wait()
        t = time.perf_counter()
        try:
            for ev in stub.WatchJob(pb.WatchJobRequest(id=job_id), timeout=600):
                if first[i] is None:
                    first[i] = time.perf_counter() - t
                counts[i] += 1
                if ev.WhichOneof("event") == "job":
                    final[i] = ev.job.state
        except grpc.RpcError as e:
            final[i] = e.code()

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    start.wait()
    return ch, ts, first, counts, final


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--watchers", type=int, default=256)
    ap.add_argument("--train-threads", type=int, default=1)
    args = ap.parse_args()
    spec = dict(dataset="synthetic", depth=10, width=1, batch_size=32, train_subset=2048, test_subset=256,
                threads=args.train_threads)
    lines = []
    with tempfile.TemporaryDirectory(prefix="brnd-bench-") as tmp:
        d, addr = start_daemon(os.path.join(tmp, "state"))
        try:
            c = brn_client.Client(addr)
            target = c.target
            # some history so ListJobs returns full pages
            done = [c.submit(name="hist%d" % i, **dict(spec, epochs=1, train_subset=64)) for i in range(20)]
            c.wait(done[-1].id, timeout=600)

            get_idle, list_idle = run_clients(target, args.clients, args.seconds, done[0].id)

            job = c.submit(name="bench", **dict(spec, epochs=1000))
            while c.get_job(job.id).state != pb.JOB_STATE_RUNNING:
                time.sleep(0.05)
            time.sleep(1)
            get_busy, list_busy = run_clients(target, args.clients, args.seconds, job.id)
            step_before = c.get_job(job.id).step

            ch, ts, first, counts, final = watchers(target, job.id, args.watchers)
            time.sleep(2)
            get_w, _ = run_clients(target, 1, args.seconds / 2, job.id)
            time.sleep(1)
            c.cancel(job.id)
            t0 = time.time()
            for t in ts:
                t.join(120)
            end_s = time.time() - t0
            ch.close()
            step_after = c.get_job(job.id).step
            c.close()
        finally:
            d.terminate()
            d.wait(60)

    ended = sum(1 for f in final if f == pb.JOB_STATE_CANCELLED)
    got_first = [f for f in first if f is not None]
    lines.append("Machine: %s, %d CPUs (shared), Python client %s, grpcio %s" % (
        platform.machine(), os.cpu_count(), platform.python_version(), grpc.__version__))
    lines.append("")
    lines.append("| call (%d clients, %gs) | calls | calls/s | p50 ms | p99 ms | max ms |" % (args.clients, args.seconds))
    lines.append("|---|---|---|---|---|---|")
    lines.append(row("GetJob, idle", get_idle, args.seconds))
    lines.append(row("ListJobs(20), idle", list_idle, args.seconds))
    lines.append(row("GetJob, job training", get_busy, args.seconds))
    lines.append(row("ListJobs(20), job training", list_busy, args.seconds))
    lines.append(row("GetJob (1 client), %d WatchJob streams open" % args.watchers, get_w, args.seconds / 2))
    lines.append("")
    lines.append("WatchJob x %d on a training job: first event p50 %.1f ms, p99 %.1f ms, max %.1f ms; "
                 "%d/%d streams got their first event; events per stream median %d (min %d); "
                 "after CancelJob %d/%d streams ended with CANCELLED within %.2f s. "
                 "Training progressed %d steps during the watch phase." % (
                     args.watchers, pct(got_first, 50) * 1e3, pct(got_first, 99) * 1e3,
                     max(got_first or [0]) * 1e3, len(got_first), args.watchers,
                     pct(counts, 50), min(counts), ended, args.watchers, end_s, step_after - step_before))
    print("\n".join(lines))
    return 0 if ended == args.watchers else 1


if __name__ == "__main__":
    sys.exit(main())
