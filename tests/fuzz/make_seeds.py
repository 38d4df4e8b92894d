#!/usr/bin/env python3
"""Writes the small seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

The seeds are kept in git; this script documents how they were made and can remake them:
    /usr/bin/python3 tests/fuzz/make_seeds.py
It needs the Python stubs (client/python/brn_client.py generates them with protoc)."""
import gzip
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "lib"))
import brn_client  # noqa: E402
import ckpt_tool  # noqa: E402


def out(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def checkpoint_seeds():
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)  # noqa: E731
    tensors = {"conv1.weight": ("F32", [2, 1, 1, 1], f32(0.5, -1.0)), "fc.bias": ("F32", [2], f32(0.1, 0.2)),
               "optim.momentum.fc.bias": ("F32", [2], f32(0.0, 0.0))}
    spec = {"batch_size": 32, "dataset": "synthetic", "depth": 10, "width": 1, "epochs": 3}
    state = {"step": 11, "epoch": 1, "batch": 3, "loss_sum": 6.5, "correct": 40, "seen": 96, "train_seconds": 1.5,
             "renorm_diag": [[0.1, 0.2, 1, 2, 10]] * 8}
    meta = {"format": "brn-checkpoint", "version": "2", "spec": json.dumps(spec), "state": json.dumps(state),
            "step": "11", "epoch": "1"}
    for name, m in (("v2", meta), ("v1", dict(meta, version="1")), ("foreign", {})):
        path = os.path.join(HERE, "corpus", "checkpoint", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        ckpt_tool.write(path, tensors, m)
        if name == "v1":  # no checksum: as written before version 2
            t, mm = ckpt_tool.read(path)
            mm.pop("checksum")
            hdr = {k: {"dtype": d, "shape": s, "data_offsets": [0, 0]} for k, (d, s, _) in t.items()}
            off = 0
            for k, (d, s, raw) in t.items():
                hdr[k]["data_offsets"] = [off, off + len(raw)]
                off += len(raw)
            hdr["__metadata__"] = mm
            text = json.dumps(hdr, separators=(",", ":")).encode()
            with open(path, "wb") as f:
                f.write(struct.pack("<Q", len(text)) + text + b"".join(raw for _, _, raw in t.values()))


def request_seeds():
    pb, _ = brn_client.load_stubs()
    spec = brn_client.make_spec(dataset="synthetic", depth=10, width=1, epochs=2, lr=0.05, norm="brn",
                                milestones=[1, 2], seed=7, nesterov=True, lr_schedule="step", steps=0)
    out("request", "submit", b"\x00" + pb.SubmitJobRequest(spec=spec, name="fuzz", priority=3,
                                                            idempotency_key="k").SerializeToString())
    out("request", "submit_bad", b"\x00" + pb.SubmitJobRequest(spec=brn_client.make_spec(lr=float("nan"),
                                                                                          steps=10**12)).SerializeToString())
    out("request", "list", b"\x01" + pb.ListJobsRequest(states=[1, 2], page_size=5, page_token="x").SerializeToString())
    out("request", "metrics", b"\x02" + pb.GetMetricsRequest(job_ids=[1, 2, -3]).SerializeToString())
    out("request", "spec", b"\x03" + spec.SerializeToString())


def dataset_seeds():
    n, side = 2, 4
    images = struct.pack(">IIII", 0x803, n, side, side) + bytes(range(n * side * side))
    labels = struct.pack(">II", 0x801, n) + bytes([1, 9])
    split = lambda mode, a, b: bytes([mode]) + struct.pack(">H", len(a)) + a + b  # noqa: E731
    out("dataset", "idx", split(0, images, labels))
    out("dataset", "idx_gz", split(1, gzip.compress(images, mtime=0), gzip.compress(labels, mtime=0)))
    rec10 = bytes([3]) + bytes(3072)
    out("dataset", "cifar10", split(2, rec10 * 2, rec10))
    rec100 = bytes([1, 42]) + bytes(3072)
    out("dataset", "cifar100", split(3, rec100 * 2, rec100))


def config_seeds():
    seeds = {
        "full": {"state_dir": "/tmp/x", "data_dir": "/usr/share/datasets", "listen": ["127.0.0.1:0", "unix:/tmp/s"],
                 "token_file": "/nonexistent", "tls_cert": "/a", "tls_key": "/b", "log_level": "debug",
                 "insecure_loopback": True},
        "listen_string": {"listen": "127.0.0.1:7000", "log_level": "warn"},
        "unknown": {"colour": "blue"},
        "empty": {},
    }
    for name, obj in seeds.items():
        out("config", name, json.dumps(obj).encode())
    out("config", "not_object", b"[1, 2, 3]")


if __name__ == "__main__":
    checkpoint_seeds()
    request_seeds()
    dataset_seeds()
    config_seeds()
