#!/usr/bin/python3
"""Another process holds brnd.db's write lock for ~10 s (a python sqlite3 connection in
BEGIN EXCLUSIVE, like a careless backup or the sqlite3 shell) while a job trains: Health
and GetJob keep answering fast, a SubmitJob answers UNAVAILABLE (nothing written) rather
than hang, the job pauses at its next epoch instead of dropping it, and once the lock is
released the job finishes with every epoch stored."""

import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import grpc  # noqa: E402
from brnd_proc import TINY, Brnd, check  # noqa: E402
import brn_client  # noqa: E402  (on the path brnd_proc set up)

HOLD_S = 10.0
EPOCHS = 30


def main():
    tmp = tempfile.mkdtemp(prefix="brn-lock-")
    d = Brnd(tmp)
    try:
        d.start()
        c = d.client(timeout=10)
        job = c.submit(name="locked-out", epochs=EPOCHS, **TINY)
        deadline = time.time() + 30
        while len(c.curves([job.id])[0].epochs) < 1:
            check(time.time() < deadline, "no epoch stored in 30 s")
            time.sleep(0.05)

        # the README's backups, taken while the job trains: consistent copies
        for how in ("backup", "vacuum"):
            copy = os.path.join(tmp, "copy-%s.db" % how)
            src = sqlite3.connect(d.db, timeout=10)
            if how == "backup":
                dst = sqlite3.connect(copy)
                src.backup(dst)
                dst.close()
            else:
                src.execute("VACUUM INTO ?", (copy,))
            src.close()
            con = sqlite3.connect(copy)
            check(con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "%s copy is damaged" % how)
            check(con.execute("SELECT count(*) FROM jobs WHERE id = ?", (job.id,)).fetchone()[0] == 1,
                  "%s copy lacks the job" % how)
            con.close()

        held = threading.Event()
        release = threading.Event()

        def hold_lock():
            con = sqlite3.connect(d.db, timeout=30, isolation_level=None)
            con.execute("BEGIN EXCLUSIVE")
            held.set()
            release.wait(HOLD_S + 30)
            con.execute("COMMIT")
            con.close()

        holder = threading.Thread(target=hold_lock)
        holder.start()
        check(held.wait(30), "could not take the lock")
        t_lock = time.time()
        submit_result = {}

        def submit_while_locked():
            t0 = time.time()
            try:
                c.submit(name="during-lock", epochs=1, **TINY)
                submit_result["code"] = grpc.StatusCode.OK
            except grpc.RpcError as e:
                submit_result["code"], submit_result["details"] = e.code(), e.details()
            submit_result["seconds"] = time.time() - t0

        submitter = threading.Thread(target=submit_while_locked)
        submitter.start()

        worst = 0.0
        calls = 0
        while time.time() - t_lock < HOLD_S:
            for fn in (lambda: c.health(), lambda: c.get_job(job.id)):
                t0 = time.time()
                fn()  # raises on any error
                worst = max(worst, time.time() - t0)
                calls += 1
            time.sleep(0.2)
        epochs_during = len(c.curves([job.id])[0].epochs)
        release.set()
        holder.join()
        submitter.join()
        print("lock held %.1f s: %d calls, slowest %.3f s; submit: %s after %.1f s (%s)" % (
            time.time() - t_lock, calls, worst, submit_result.get("code"), submit_result.get("seconds", -1),
            submit_result.get("details", "")))
        check(worst < 1.0, "a call took %.2f s while the lock was held" % worst)
        check(submit_result.get("code") == grpc.StatusCode.UNAVAILABLE and
              submit_result["details"].startswith("store busy"), "submit during the lock: %s" % submit_result)
        check(submit_result["seconds"] < 9, "submit waited %.1f s" % submit_result["seconds"])
        check(not any(j.name == "during-lock" for j in c.list_jobs()), "the refused submit left a job")

        final = c.wait(job.id, timeout=120)
        check(brn_client.state_name(final.state) == "SUCCEEDED", "job ended %s: %s" % (final.state, final.reason))
        eps = [e.epoch for e in c.curves([job.id])[0].epochs]
        print("epochs stored during the lock: %d; at the end: %d" % (epochs_during, len(eps)))
        check(eps == list(range(1, EPOCHS + 1)), "stored epochs: %s" % eps)
        c.close()
        d.stop()
        print("ok")
    except BaseException:
        print(d.tail(), file=sys.stderr)
        raise
    finally:
        d.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
