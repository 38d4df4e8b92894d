#!/usr/bin/python3
"""brnd under load: a training job alone, then the same job while 64 clients send mixed
RPCs (GetJob, ListJobs, GetMetrics, GetServerInfo, Health, a validate_only SubmitJob) and
256 WatchJob streams follow it, all over TCP on loopback with a bearer token.

Reports: calls per RPC and every non-OK status (none is expected), brnd's RSS sampled
every 0.5 s (first, peak, last; growth between the first and last quarter of the run),
and the job's training throughput (median images/s over its epochs) loaded vs. alone.
Exits 1 when an unexpected status occurred or RSS kept growing after warm-up (by more than
--rss-growth-pct and 8 MiB), and
also when the loaded throughput is more than --max-slowdown-pct below the unloaded one
(only with --strict: on a shared machine that ratio says little).

    /usr/bin/python3 bench/load_rpc.py                       # the full load (quiet machine)
    /usr/bin/python3 bench/load_rpc.py --clients 4 --watchers 16 --epochs 3   # a smoke run
    /usr/bin/python3 bench/load_rpc.py --brnd-cpus 0 --client-cpus 1 --rate 10   # brnd's own cost

On a machine with few cores the clients compete with the job for the CPUs, and the slowdown
measures the clients. --brnd-cpus and --client-cpus pin brnd (with its job) and the clients to
separate cores, so that what is left is what serving the calls costs brnd itself; --rate paces
each client (calls per second; 0: as fast as it can). brnd's CPU seconds are reported per phase.

The job: synthetic data, WRN --depth/--width, --epochs, --threads (default: all cores
brnd may use). Clients and watchers run in --procs processes.
"""

import argparse
import json
import multiprocessing as mp
import os
import secrets
import shutil
import socket
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
# RSS growth below this is noise (allocator arenas, gRPC buffers), whatever the percentage
RSS_SLACK_MIB = 8


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def job_spec(args, name):
    return dict(name=name, dataset="synthetic", depth=args.depth, width=args.width, epochs=args.epochs,
                train_subset=args.train_subset, test_subset=256, batch_size=args.batch_size,
                threads=args.threads, seed=1, device="cpu")


def cpu_seconds(pid):
    """User + system CPU time of a process so far (all its threads)."""
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def parse_cpus(text):
    """'0', '0,2', '1-3' -> a set of CPU numbers (None for an empty text)."""
    if not text:
        return None
    cpus = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def train_and_measure(c, args, name):
    """Submit the job, wait for it; the median images/s of its epochs."""
    job = c.submit(**job_spec(args, name))
    final = c.wait(job.id, timeout=24 * 3600)
    if brn_client.state_name(final.state) != "SUCCEEDED":
        raise SystemExit("job %d ended %s: %s" % (job.id, brn_client.state_name(final.state), final.reason))
    ips = sorted(e.images_per_sec for e in c.curves([job.id])[0].epochs)
    return job.id, ips[len(ips) // 2]


def watch_worker(target, token, job_id, streams, q, cpus):
    """`streams` WatchJob streams on the job, each read to its end."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    brn_client.load_stubs()
    res, lock = {"events": 0, "ended_ok": 0, "errors": {}}, threading.Lock()

    def one():
        c = brn_client.Client(addr=target, token=token)
        n, err = 0, None
        try:
            for _ in c.watch(job_id):
                n += 1
        except grpc.RpcError as e:
            err = "%s (%s)" % (e.code().name, e.details())
        with lock:
            res["events"] += n
            if err:
                res["errors"][err] = res["errors"].get(err, 0) + 1
            else:
                res["ended_ok"] += 1
        c.close()

    ts = [threading.Thread(target=one) for _ in range(streams)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q.put(("watchers", res))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--watchers", type=int, default=256)
    ap.add_argument("--procs", type=int, default=4, help="processes to spread clients and watchers over")
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--width", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--train-subset", type=int, default=4096)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--rss-growth-pct", type=float, default=20.0)
    ap.add_argument("--max-slowdown-pct", type=float, default=5.0)
    ap.add_argument("--strict", action="store_true", help="also fail when the throughput drops too much")
    ap.add_argument("--brnd-cpus", default="", help="CPUs brnd (and so its job) may use, e.g. 0 or 0-3")
    ap.add_argument("--client-cpus", default="", help="CPUs the clients and watchers may use")
    ap.add_argument("--rate", type=float, default=0, help="calls per second per client (0: as fast as it can)")
    args = ap.parse_args()
    brnd_cpus, client_cpus = parse_cpus(args.brnd_cpus), parse_cpus(args.client_cpus)

    tmp = tempfile.mkdtemp(prefix="brn-load-")
    token = secrets.token_hex(16)
    with open(os.path.join(tmp, "token"), "w") as f:
        f.write(token + "\n")
    os.chmod(os.path.join(tmp, "token"), 0o600)
    target = "127.0.0.1:%d" % free_port()
    log = open(os.path.join(tmp, "brnd.log"), "w")
    p = subprocess.Popen([BRND, "serve", "--state-dir", os.path.join(tmp, "state"), "--listen", target,
                          "--token-file", os.path.join(tmp, "token"), "--log-level", "warn",
                          "--max-watch-streams", str(args.watchers + 64)], stdout=log, stderr=log,
                         preexec_fn=(lambda: os.sched_setaffinity(0, brnd_cpus)) if brnd_cpus else None)
    failed = False
    try:
        c = None
        for _ in range(200):
            try:
                c = brn_client.Client(addr=target, token=token, timeout=30)
                c.health()
                break
            except grpc.RpcError:
                c = None
                time.sleep(0.1)
        if c is None:
            raise SystemExit("brnd did not come up: " + open(os.path.join(tmp, "brnd.log")).read()[-2000:])
        info = c.server_info()
        print("machine: %d cores, load %s; brnd %s, %d cores given" % (
            os.cpu_count(), open("/proc/loadavg").read().split()[:3], info.version, info.limits.cpu_cores))

        rss_start = rss_kib(p.pid)
        cpu0, t0 = cpu_seconds(p.pid), time.time()
        _, alone = train_and_measure(c, args, "alone")
        cpu_alone, wall_alone = cpu_seconds(p.pid) - cpu0, time.time() - t0
        print("alone: %.1f images/s (median over %d epochs); brnd used %.1f CPU s in %.1f s" % (
            alone, args.epochs, cpu_alone, wall_alone))

        cpu0, t0 = cpu_seconds(p.pid), time.time()
        job = c.submit(**job_spec(args, "loaded"))
        q = mp.Queue()
        per = max(1, args.procs)
        procs = []
        shared_stop = mp.Value("d", time.time() + 24 * 3600)  # set to now when the job ends

        # spawned, not forked: a forked child inherits this process's gRPC state and fails
        for i in range(per):
            n = args.clients // per + (1 if i < args.clients % per else 0)
            if n:
                procs.append(mp.Process(target=client_loop, args=(target, token, job.id, shared_stop, n, q, client_cpus, args.rate)))
            n = args.watchers // per + (1 if i < args.watchers % per else 0)
            if n:
                procs.append(mp.Process(target=watch_worker, args=(target, token, job.id, n, q, client_cpus)))
        for pr in procs:
            pr.start()
        samples = []
        while True:
            samples.append(rss_kib(p.pid))
            st = brn_client.state_name(c.get_job(job.id).state)
            if st in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            time.sleep(0.5)
        shared_stop.value = time.time()
        cpu_loaded, wall_loaded = cpu_seconds(p.pid) - cpu0, time.time() - t0
        results = [q.get() for pr in procs]
        for pr in procs:
            pr.join()
        final = c.get_job(job.id)
        if brn_client.state_name(final.state) != "SUCCEEDED":
            raise SystemExit("loaded job ended %s: %s" % (brn_client.state_name(final.state), final.reason))
        ips = sorted(e.images_per_sec for e in c.curves([job.id])[0].epochs)
        loaded = ips[len(ips) // 2]
        samples.append(rss_kib(p.pid))

        calls, watch = {}, {"events": 0, "ended_ok": 0, "errors": {}}
        for kind, r in results:
            if kind == "clients":
                for k, v in r.items():
                    calls[k] = calls.get(k, 0) + v
            else:
                watch["events"] += r["events"]
                watch["ended_ok"] += r["ended_ok"]
                for k, v in r["errors"].items():
                    watch["errors"][k] = watch["errors"].get(k, 0) + v
        bad = {k: v for k, v in calls.items() if not k.endswith(" OK")}
        # the first quarter is warm-up (connections, buffers); then compare the next third
        # of the samples with the last third
        warm = samples[len(samples) // 4:]
        third = max(1, len(warm) // 3)
        first_q = sum(warm[:third]) / third
        last_q = sum(warm[-third:]) / third
        growth = 100.0 * (last_q / first_q - 1) if first_q else 0.0
        growth_mib = (last_q - first_q) / 1024
        print("loaded: %.1f images/s (median); ratio loaded/alone %.3f" % (loaded, loaded / alone))
        print("brnd used %.1f CPU s in %.1f s loaded (%.1f in %.1f s alone); %.0f calls/s" % (
            cpu_loaded, wall_loaded, cpu_alone, wall_alone, sum(calls.values()) / max(wall_loaded, 1e-9)))
        print("calls: %d (%s)" % (sum(calls.values()), ", ".join("%s: %d" % kv for kv in sorted(calls.items()))))
        print("watch: %d streams ended OK, %d events, errors %s" % (watch["ended_ok"], watch["events"], watch["errors"]))
        print("brnd RSS: start %.1f MiB; loaded, after warm-up: first third %.1f, last third %.1f (%+.1f%%), peak %.1f "
              "MiB; %d samples" % (rss_start / 1024, first_q / 1024, last_q / 1024, growth, max(samples) / 1024,
                                   len(samples)))
        summary = dict(alone_ips=alone, loaded_ips=loaded, calls=sum(calls.values()), unexpected=bad,
                       watch_ok=watch["ended_ok"], watch_errors=watch["errors"], rss_growth_pct=growth,
                       rss_peak_kib=max(samples), brnd_cpu_s_alone=cpu_alone, wall_s_alone=wall_alone,
                       brnd_cpu_s_loaded=cpu_loaded, wall_s_loaded=wall_loaded, brnd_cpus=args.brnd_cpus,
                       client_cpus=args.client_cpus, rate=args.rate)
        print(json.dumps(summary))
        if bad or watch["errors"] or watch["ended_ok"] != args.watchers:
            print("FAIL: unexpected statuses", file=sys.stderr)
            failed = True
        if growth > args.rss_growth_pct and growth_mib > RSS_SLACK_MIB:
            print("FAIL: RSS grew %.1f%% during the loaded run" % growth, file=sys.stderr)
            failed = True
        if args.strict and loaded < alone * (1 - args.max_slowdown_pct / 100):
            print("FAIL: loaded throughput %.1f%% below the unloaded one" % (100 * (1 - loaded / alone)), file=sys.stderr)
            failed = True
        c.close()
    finally:
        p.terminate()
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failed else 0)


def client_loop(target, token, job_id, shared_stop, threads, q, cpus, rate):
    """Mixed unary RPCs from `threads` threads until the parent sets shared_stop (when the
    job ends), each at most `rate` calls per second (0: no limit); counts per (rpc, status)."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    brn_client.load_stubs()
    pb = brn_client.pb
    counts, lock = {}, threading.Lock()

    def one(i):
        c = brn_client.Client(addr=target, token=token, timeout=30)
        calls = [
            ("GetJob", lambda: c.get_job(job_id)),
            ("ListJobs", lambda: c.list_jobs(limit=20)),
            ("GetMetrics", lambda: c.curves([job_id])),
            ("GetServerInfo", lambda: c.server_info()),
            ("Health", lambda: c.health()),
            ("SubmitJob(validate_only)", lambda: c._call(c.stub.SubmitJob, pb.SubmitJobRequest(
                spec=brn_client.make_spec(dataset="synthetic", depth=10, width=1, epochs=1), validate_only=True))),
        ]
        k = i
        next_at = time.time()
        while time.time() < shared_stop.value:
            if rate > 0:
                next_at += 1.0 / rate
                time.sleep(max(0.0, next_at - time.time()))
            name, fn = calls[k % len(calls)]
            k += 1
            try:
                fn()
                code = "OK"
            except grpc.RpcError as e:
                code = "%s (%s)" % (e.code().name, e.details())
            with lock:
                counts[(name, code)] = counts.get((name, code), 0) + 1
        c.close()

    ts = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q.put(("clients", {"%s %s" % k: v for k, v in counts.items()}))


if __name__ == "__main__":
    mp.set_start_method("spawn")
    main()
