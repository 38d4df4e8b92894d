"""A real build/brnd on a temporary state directory for the Python integration tests:
start (waits for its readiness line), stop (SIGTERM), kill (SIGKILL), restart; and the
Python client (client/python/brn_client.py) pointed at it."""

import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))
import brn_client  # noqa: E402

BUILD = os.environ.get("BUILD", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
BRND = os.path.join(BUILD, "brnd")
BRNCTL = os.path.join(BUILD, "brnctl")
# A tiny job: synthetic data, WRN-10-1, 1 thread.
TINY = dict(dataset="synthetic", depth=10, width=1, train_subset=256, test_subset=128, batch_size=32, threads=1)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


class Brnd:
    def __init__(self, tmp, *flags, env=None):
        self.tmp = tmp
        self.state = os.path.join(tmp, "state")
        self.db = os.path.join(self.state, "brnd.db")
        self.log = os.path.join(tmp, "brnd.log")
        self.sock = os.path.join(self.state, "brnd.sock")
        self.flags = list(flags)
        self.env = env
        self.proc = None
        self.starts = 0
        os.makedirs(os.path.join(tmp, "data"), exist_ok=True)

    def start(self, *extra):
        env = dict(os.environ, **(self.env or {}))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([BRND, "serve", "--state-dir", self.state, "--data-dir",
                                          os.path.join(self.tmp, "data")] + self.flags + list(extra),
                                         stdout=log, stderr=log, env=env)
        self.starts += 1
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("brnd exited: " + self.tail())
            if open(self.log, errors="replace").read().count("ready on") >= self.starts:
                return self
            time.sleep(0.05)
        raise RuntimeError("brnd not ready in 20s")

    def client(self, timeout=30.0):
        return brn_client.Client(addr="unix:" + self.sock, timeout=timeout)

    def tail(self, n=3000):
        try:
            return open(self.log, errors="replace").read()[-n:]
        except OSError:
            return ""

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("brnd did not stop on SIGTERM")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
