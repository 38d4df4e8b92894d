#!/usr/bin/python3
"""kill -9 trial loop: two small jobs train while brnd is killed with SIGKILL again and
again at random moments and restarted (--max-crashes 0: never give up). After every kill
the database passes PRAGMA integrity_check and every epoch stored so far is still there
with the same values; at the end both jobs SUCCEEDED and their curves equal those of the
same two jobs trained without interruption."""

import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import grpc  # noqa: E402
from brnd_proc import Brnd, check  # noqa: E402
import brn_client  # noqa: E402  (on the path brnd_proc set up)

JOB = dict(dataset="synthetic", depth=10, width=1, train_subset=256, test_subset=64, batch_size=32, threads=1,
           epochs=10, seed=11, device="cpu")
# each trial job trains about this long uninterrupted (epochs are sized to the machine's speed,
# so that the kills land while it runs on a fast machine as on a loaded one)
JOB_SECONDS = 5.0
# what must repeat exactly (seconds and images_per_sec are timings)
KEYS = ("step", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "rmax", "dmax")
MAX_KILLS = 40
DEADLINE_S = 30


def stored(db):
    """{(job, epoch): values} read straight from the file (brnd is dead at this point)."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
        rows = con.execute("SELECT job_id, epoch, %s FROM epochs" % ", ".join(KEYS)).fetchall()
        running = con.execute("SELECT count(*) FROM jobs WHERE state = 'RUNNING'").fetchone()[0]
    finally:
        con.close()
    return ok, {(r[0], r[1]): r[2:] for r in rows}, running


def curve(c, job_id):
    return [tuple(getattr(e, k) for k in KEYS) for e in c.curves([job_id])[0].epochs]


def main():
    tmp = tempfile.mkdtemp(prefix="brn-kill9-")
    d = Brnd(tmp, "--max-crashes", "0")
    rng = random.Random(20261130)
    try:
        d.start()
        c = d.client()
        probe = c.submit(name="probe", **dict(JOB, epochs=2)).id
        c.wait(probe, timeout=120)
        per_epoch = max(e.seconds for e in c.curves([probe])[0].epochs)
        c.delete(probe)
        JOB["epochs"] = int(min(200, max(10, JOB_SECONDS / max(per_epoch, 1e-3))))
        print("%.3f s per epoch: %d epochs per job" % (per_epoch, JOB["epochs"]))
        ref = [c.submit(name="ref-%d" % i, **dict(JOB, seed=JOB["seed"] + i)).id for i in range(2)]
        for j in ref:
            final = c.wait(j, timeout=120)
            check(brn_client.state_name(final.state) == "SUCCEEDED", "reference job %d: %s" % (j, final.reason))
        ref_curves = [curve(c, j) for j in ref]
        jobs = [c.submit(name="trial-%d" % i, **dict(JOB, seed=JOB["seed"] + i)).id for i in range(2)]
        c.close()

        seen, kills, kills_running = {}, 0, 0
        t0 = time.time()
        while kills < MAX_KILLS and time.time() - t0 < DEADLINE_S:
            time.sleep(rng.uniform(0.2, 1.0))
            d.kill()
            kills += 1
            ok, now, running = stored(d.db)
            check(ok == "ok", "integrity_check after kill %d: %s" % (kills, ok))
            for k, v in seen.items():
                check(k in now, "kill %d: stored epoch %s is gone" % (kills, k))
                check(now[k] == v, "kill %d: stored epoch %s changed: %s -> %s" % (kills, k, v, now[k]))
            seen.update(now)
            kills_running += running > 0
            done = all(seen.get((j, JOB["epochs"])) for j in jobs)
            d.start()
            if done:
                with d.client() as c:
                    if all(brn_client.state_name(c.get_job(j).state) == "SUCCEEDED" for j in jobs):
                        break
        print("%d kills in %.1f s, %d of them while a job was running; %d epochs seen" % (
            kills, time.time() - t0, kills_running, len(seen)))
        check(kills_running >= 5, "too few kills hit a running job (%d): the trial proves little" % kills_running)
        crashes = 0
        with d.client() as c:
            for j, want in zip(jobs, ref_curves):
                final = c.wait(j, timeout=120)
                check(brn_client.state_name(final.state) == "SUCCEEDED", "job %d: %s" % (j, final.reason))
                crashes += final.crashes
                got = curve(c, j)
                check(got == want, "job %d's curve differs from the uninterrupted run's:\n%s\n%s" % (j, got, want))
        check(crashes >= 2, "the trial jobs counted %d crashes: the kills missed them" % crashes)
        with d.client() as c:  # the Python client's delete: the reference jobs go for good
            for j in ref:
                check(c.delete(j).id == j, "delete %d" % j)
                try:
                    c.get_job(j)
                    check(False, "job %d still there after delete" % j)
                except grpc.RpcError as e:
                    check(e.code() == grpc.StatusCode.NOT_FOUND, "after delete: %s" % e.code())
            seen = {k: v for k, v in seen.items() if k[0] not in ref}
        ok, now, _ = stored_after_stop(d)
        check(ok == "ok", "integrity_check at the end: %s" % ok)
        for k, v in seen.items():
            check(now.get(k) == v, "stored epoch %s changed by the end" % (k,))
        print("ok")
    except BaseException:
        print(d.tail(), file=sys.stderr)
        raise
    finally:
        d.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def stored_after_stop(d):
    d.stop()
    return stored(d.db)


if __name__ == "__main__":
    main()
