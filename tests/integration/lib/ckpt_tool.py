#!/usr/bin/env python3
"""Edit a brn checkpoint the way a bug or an attacker could: change the run state in its
metadata and write the file back with a checksum that matches (an independent
implementation of the one in daemon/engine/safetensors.h), so only brnd's own range checks
stand between the file and the trainer.

    ckpt_tool.py set-state FILE key=value...   (values are JSON: batch=-1000000)
    ckpt_tool.py verify FILE                   (exit 0 iff the stored checksum matches)
"""
import json
import struct
import sys
import zlib


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (hl,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + hl])
    data = blob[8 + hl:]
    meta = header.pop("__metadata__", {})
    tensors = {name: (e["dtype"], e["shape"], data[e["data_offsets"][0]:e["data_offsets"][1]])
               for name, e in header.items()}
    return tensors, meta


def checksum(tensors, meta):
    crc = 0
    for name in sorted(tensors, key=lambda s: s.encode()):
        dtype, shape, raw = tensors[name]
        crc = zlib.crc32(name.encode() + b"\0" + dtype.encode() + b"\0", crc)
        crc = zlib.crc32(struct.pack("<Q", len(shape)), crc)
        for d in shape:
            crc = zlib.crc32(struct.pack("<Q", d & (2**64 - 1)), crc)
        crc = zlib.crc32(struct.pack("<Q", len(raw)) + raw, crc)
    for key in sorted((k for k in meta if k != "checksum"), key=lambda s: s.encode()):
        crc = zlib.crc32(key.encode() + b"\0" + meta[key].encode() + b"\0", crc)
    return "crc32:%08x" % crc


def write(path, tensors, meta):
    header, off, chunks = {}, 0, []
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        chunks.append(raw)
    meta = dict(meta)
    meta["checksum"] = checksum(tensors, meta)
    header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def main(argv):
    if len(argv) >= 2 and argv[0] == "verify":
        tensors, meta = read(argv[1])
        ok = meta.get("checksum") == checksum(tensors, meta)
        print("checksum %s" % ("ok" if ok else "MISMATCH"))
        return 0 if ok else 1
    if len(argv) >= 3 and argv[0] == "set-state":
        tensors, meta = read(argv[1])
        state = json.loads(meta["state"])
        for kv in argv[2:]:
            k, v = kv.split("=", 1)
            state[k] = json.loads(v)
        meta["state"] = json.dumps(state, separators=(",", ":"))
        write(argv[1], tensors, meta)
        return 0
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
