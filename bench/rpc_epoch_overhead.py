#!/usr/bin/python3
"""The share of a daemon job's epoch spent beyond training and evaluation: writing the
checkpoint (worker thread, between evaluation and the epoch report) and recording the
epoch's metrics and the checkpoint in SQLite (loop thread, in parallel with training).

Runs a real brnd with --log-level debug and reads its per-epoch timing lines:
    wall   = time between two consecutive epoch reports on the worker
    train+eval = the engine's own epoch time (brn_epoch_metrics.seconds)
    wall - train+eval = checkpoint write + hooks (the worker's overhead per epoch)

    /usr/bin/python3 bench/rpc_epoch_overhead.py [--depth 16 --width 4 --epochs 4 ...]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "client", "python"))
import brn_client  # noqa: E402

BRND = os.path.join(REPO, os.environ.get("BUILD", "build"), "brnd")
LINE = re.compile(r"epoch (\d+) timing: wall ([\d.]+) s, train\+eval ([\d.]+) s, metrics store ([\d.]+) ms, "
                  r"checkpoint record ([\d.]+) ms, checkpoint (\d+) bytes")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--width", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--train-subset", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--norm", default="brn")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="brnd-bench-") as tmp:
        p = subprocess.Popen([BRND, "serve", "--state-dir", os.path.join(tmp, "s"), "--log-level", "debug"],
                             stderr=subprocess.PIPE, text=True)
        addr = None
        while addr is None:
            line = p.stderr.readline()
            if not line:
                raise SystemExit("brnd did not start")
            if line.startswith("brnd: ready on "):
                addr = line.split("ready on ", 1)[1].strip().split(", ")[0]

        def read():
            for line in p.stderr:
                m = LINE.search(line)
                if m:
                    rows.append(tuple(float(x) for x in m.groups()))

        threading.Thread(target=read, daemon=True).start()
        try:
            with brn_client.Client(addr) as c:
                job = c.submit(name="overhead", dataset="synthetic", depth=args.depth, width=args.width,
                               epochs=args.epochs, train_subset=args.train_subset, test_subset=256,
                               batch_size=args.batch_size, threads=args.threads, norm=args.norm)
                final = c.wait(job.id, timeout=3600)
                if brn_client.state_name(final.state) != "SUCCEEDED":
                    raise SystemExit("job ended %s: %s" % (brn_client.state_name(final.state), final.reason))
            time.sleep(0.5)
        finally:
            p.terminate()
            p.wait(60)
    if not rows:
        raise SystemExit("no timing lines (is brnd built with the epoch timing log?)")
    print("WRN-%d-%d %s, synthetic, %d train images, batch %d, %d threads; epochs 2..%d" % (
        args.depth, args.width, args.norm, args.train_subset, args.batch_size, args.threads, args.epochs))
    print()
    print("| epoch | wall s | train+eval s | checkpoint+hooks ms (share) | metrics store ms | checkpoint record ms "
          "| checkpoint MB |")
    print("|---|---|---|---|---|---|---|")
    for ep, wall, te, ms_store, ms_ck, nbytes in rows:
        over = wall - te
        print("| %d | %.3f | %.3f | %.1f (%.1f%%) | %.2f | %.2f | %.1f |" % (
            ep, wall, te, over * 1e3, 100 * over / wall, ms_store, ms_ck, nbytes / 1e6))
    wall = sum(r[1] for r in rows)
    over = sum(r[1] - r[2] for r in rows)
    loop = sum(r[3] + r[4] for r in rows) / 1e3
    print()
    print("Total: checkpoint writes and hooks %.1f%% of the epochs' wall time on the worker; "
          "SQLite writes on the loop %.3f%% (in parallel, not on the training path)." % (
              100 * over / wall, 100 * loop / wall))


if __name__ == "__main__":
    main()
