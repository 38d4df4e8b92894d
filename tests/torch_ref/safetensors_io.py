"""Read and write safetensors files by hand (no safetensors package).

Layout: 8-byte little-endian header length N, N bytes of JSON header, then the raw
little-endian tensor data. The header maps each tensor name to
{"dtype": "F32"|"F64"|"I32"|"I64"|..., "shape": [...], "data_offsets": [begin, end]}
(offsets relative to the start of the data) and may hold "__metadata__", a flat
string -> string map.

Writing: tensors are laid out by decreasing element size, then by name, with no gaps;
the header is padded with spaces to a multiple of 8 bytes so every tensor starts
aligned. The output is a pure function of (tensors, metadata): the same inputs give
the same bytes.

Tensors may be numpy arrays or torch tensors (converted through numpy); reading
returns numpy arrays (copies, writable) in the stored dtype.
"""
import json
import struct

import numpy as np

# safetensors dtype name <-> numpy little-endian dtype
DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAME_OF = {v.str if v.itemsize > 1 else v.char: k for k, v in DTYPES.items()}

MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    pass


def _to_numpy(t):
    if isinstance(t, np.ndarray):
        return t
    # torch.Tensor without importing torch here
    if hasattr(t, "detach") and hasattr(t, "cpu"):
        return t.detach().cpu().contiguous().numpy()
    return np.asarray(t)


def _dtype_name(a):
    dt = a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype
    key = dt.str if dt.itemsize > 1 else dt.char
    if key not in _NAME_OF:
        raise SafetensorsError(f"unsupported dtype {a.dtype}")
    return _NAME_OF[key], DTYPES[_NAME_OF[key]]


def dumps(tensors, metadata=None):
    """Serialize {name: array} and an optional {str: str} metadata map to bytes."""
    arrays = {}
    for name, t in tensors.items():
        if not isinstance(name, str) or name == "__metadata__" or not name:
            raise SafetensorsError(f"bad tensor name {name!r}")
        a = _to_numpy(t)
        dname, dt = _dtype_name(a)
        arrays[name] = (dname, np.asarray(a, dtype=dt, order="C"))   # keeps 0-d shapes
    order = sorted(arrays, key=lambda n: (-arrays[n][1].dtype.itemsize, n))
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise SafetensorsError(f"metadata must map str to str: {k!r}: {v!r}")
        header["__metadata__"] = dict(sorted(metadata.items()))
    offset = 0
    for name in order:
        dname, a = arrays[name]
        header[name] = {"dtype": dname, "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    parts = [struct.pack("<Q", len(hjson)), hjson]
    parts += [arrays[n][1].tobytes(order="C") for n in order]
    return b"".join(parts)


def save(path, tensors, metadata=None):
    data = dumps(tensors, metadata)
    with open(path, "wb") as f:
        f.write(data)


def loads(buf):
    """Parse bytes -> (tensors {name: numpy array}, metadata {str: str})."""
    if len(buf) < 8:
        raise SafetensorsError("file shorter than the 8-byte header length")
    (hlen,) = struct.unpack("<Q", buf[:8])
    if hlen > MAX_HEADER or 8 + hlen > len(buf):
        raise SafetensorsError(f"header length {hlen} exceeds the file ({len(buf)} bytes)")
    try:
        header = json.loads(buf[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError("header is not a JSON object")
    data = memoryview(buf)[8 + hlen:]
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise SafetensorsError("__metadata__ must map strings to strings")
    tensors = {}
    spans = []
    for name, info in header.items():
        try:
            dname, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"{name}: entry needs dtype, shape and data_offsets") from None
        if dname not in DTYPES:
            raise SafetensorsError(f"{name}: unsupported dtype {dname!r}")
        if not all(isinstance(s, int) and s >= 0 for s in shape):
            raise SafetensorsError(f"{name}: bad shape {shape}")
        dt = DTYPES[dname]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= len(data)):
            raise SafetensorsError(f"{name}: data_offsets [{begin}, {end}] outside the data ({len(data)} bytes)")
        if end - begin != count * dt.itemsize:
            raise SafetensorsError(f"{name}: {end - begin} bytes for shape {shape} of {dname}")
        spans.append((begin, end, name))
        tensors[name] = np.frombuffer(data[begin:end], dtype=dt).reshape(tuple(shape)).copy()
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            raise SafetensorsError(f"{name}: data does not follow the previous tensor (gap or overlap at {pos})")
        pos = end
    if pos != len(data):
        raise SafetensorsError(f"{len(data) - pos} trailing bytes after the last tensor")
    return tensors, metadata


def load(path):
    with open(path, "rb") as f:
        return loads(f.read())


def to_torch(tensors):
    """{name: numpy array} -> {name: torch.Tensor}."""
    import torch
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()}
