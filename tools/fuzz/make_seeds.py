#!/usr/bin/env python3
"""Writes the extra seeds of the Swift fuzz targets into tools/fuzz/seeds/ (standard library only).

    python3 tools/fuzz/make_seeds.py [OUT_DIR]   # default tools/fuzz/seeds

The fixtures under Tests/Fixtures already seed the targets with real files (torch's zip64
archives, legacy files, checkpoints); these add what they lack, each a few hundred bytes:
- safetensors/dtypes.safetensors: one tensor of every dtype the reader knows (F32 F16 BF16
  F64 I64 I32 I16 I8 U8 BOOL), a scalar (shape []), an empty tensor, and metadata.
- safetensors/empty.safetensors: the header {} and no data.
- torch/protocol4.pth: a torch-like zip whose data.pkl is a protocol-4 pickle (FRAME,
  STACK_GLOBAL, MEMOIZE, SHORT_BINUNICODE) of nested dicts, lists and tuples with non-tensor
  leaves (int, big int, float, bool, None, str, bytes) and tensors of several dtypes with
  offsets, strides and a Parameter.
- torch/protocol5.pth: the same state at protocol 5, plus a bytearray (BYTEARRAY8).
- torch/legacy_views.pth: a legacy file whose persistent ids carry storage views
  (view_key, offset, size).
- unpickle/*.pkl: the data pickles of the two zips.
The zips are written the way Tests/TorchImportTests/CraftedFiles.swift writes them (STORED,
zip64 records for protocol4.pth). The pickles come from the standard pickler with stand-ins
for torch's globals registered under torch's module names (no torch needed). Deterministic.
"""
import collections
import json
import pickle
import struct
import sys
import types
from pathlib import Path

# ---- safetensors


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, raw bytes)]."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * (-(8 + len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + data


def dtypes_file():
    return safetensors([
        ("f32", "F32", [2, 2], struct.pack("<4f", 1.0, -2.5, 0.0, 3.25)),
        ("f16", "F16", [3], struct.pack("<3e", 1.0, -0.5, 65504.0)),
        ("bf16", "BF16", [2], struct.pack("<2H", 0x3F80, 0xC000)),
        ("f64", "F64", [2], struct.pack("<2d", 1e300, -1.5)),
        ("i64", "I64", [1, 2], struct.pack("<2q", -(2 ** 63), 7)),
        ("i32", "I32", [2], struct.pack("<2i", -5, 2 ** 31 - 1)),
        ("i16", "I16", [2], struct.pack("<2h", -32768, 9)),
        ("i8", "I8", [3], struct.pack("<3b", -128, 0, 127)),
        ("u8", "U8", [2], bytes([0, 255])),
        ("bool", "BOOL", [2], bytes([0, 1])),
        ("scalar", "F32", [], struct.pack("<f", 42.0)),
        ("empty", "F32", [0, 3], b""),
    ], metadata={"format": "pt", "epoch": "3"})


# ---- torch: stand-ins for the globals torch's pickles name


def stand_in(module, name, obj):
    mod = sys.modules.get(module)
    if mod is None:
        mod = sys.modules[module] = types.ModuleType(module)
    obj.__module__, obj.__qualname__, obj.__name__ = module, name, name
    setattr(mod, name, obj)
    return obj


def _rebuild_tensor_v2(*args):
    raise RuntimeError("never called")


def _rebuild_parameter(*args):
    raise RuntimeError("never called")


stand_in("torch._utils", "_rebuild_tensor_v2", _rebuild_tensor_v2)
stand_in("torch._utils", "_rebuild_parameter", _rebuild_parameter)
STORAGE = {name: stand_in("torch", name, type(name, (), {}))
           for name in ["FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage", "LongStorage",
                        "IntStorage", "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage"]}
ITEM = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8, "LongStorage": 8,
        "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1}


class Storage:
    def __init__(self, key, cls, numel, view=None):
        self.key, self.cls, self.numel, self.view = key, cls, numel, view


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (_rebuild_tensor_v2, self.args)


class Parameter:
    def __init__(self, tensor):
        self.tensor = tensor

    def __reduce__(self):
        return (_rebuild_parameter, (self.tensor, True, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            pid = ("storage", STORAGE[obj.cls], obj.key, "cpu", obj.numel)
            return pid + (obj.view,) if obj.view is not None else pid
        return None


def dumps(obj, protocol):
    import io
    f = io.BytesIO()
    TorchPickler(f, protocol=protocol).dump(obj)
    return f.getvalue()


def le(fmt, *v):
    return struct.pack("<" + fmt, *v)


def stored_zip(entries, zip64=False):
    """As storedZip in Tests/TorchImportTests/CraftedFiles.swift."""
    out, central = b"", b""
    sat = 0xFFFFFFFF
    for name, data in entries:
        offset = len(out)
        n = name.encode()
        local_extra = le("HHQQ", 1, 16, len(data), len(data)) if zip64 else b""
        out += le("IHHHII", 0x04034B50, 45, 0, 0, 0, 0)
        out += le("II", sat if zip64 else len(data), sat if zip64 else len(data))
        out += le("HH", len(n), len(local_extra)) + n + local_extra + data
        extra = le("HHQQQ", 1, 24, len(data), len(data), offset) if zip64 else b""
        central += le("IHHHH", 0x02014B50, 45, 45, 0, 0) + le("II", 0, 0)
        central += le("II", sat if zip64 else len(data), sat if zip64 else len(data))
        central += le("HHHHH", len(n), len(extra), 0, 0, 0)
        central += le("II", 0, sat if zip64 else offset) + n + extra
    cd_offset = len(out)
    out += central
    if zip64:
        record = len(out)
        out += le("IQHHII", 0x06064B50, 44, 45, 45, 0, 0)
        out += le("QQQQ", len(entries), len(entries), len(central), cd_offset)
        out += le("IIQI", 0x07064B50, 0, record, 1)
    count = 0xFFFF if zip64 else len(entries)
    out += le("IHHHH", 0x06054B50, 0, 0, count, count)
    out += le("IIH", sat if zip64 else len(central), sat if zip64 else cd_offset, 0)
    return out


def torch_zip(pickle_bytes, storages, zip64=False):
    return stored_zip([("archive/data.pkl", pickle_bytes), ("archive/byteorder", b"little")]
                      + [("archive/data/" + k, v) for k, v in storages] + [("archive/version", b"3\n")], zip64)


def state(protocol):
    """A nested state with tensors of several dtypes, views, shared storage and other leaves."""
    f = Storage("0", "FloatStorage", 12)
    h = Storage("1", "HalfStorage", 4)
    b = Storage("2", "BoolStorage", 3)
    i = Storage("3", "LongStorage", 2)
    sd = collections.OrderedDict()
    sd["conv.weight"] = Tensor(f, 0, [2, 3], [3, 1])
    sd["conv.weight_t"] = Tensor(f, 0, [3, 2], [1, 3])        # transposed view of the same storage
    sd["conv.bias"] = Parameter(Tensor(f, 6, [2], [2]))       # strided, offset
    sd["bn.running_mean"] = Tensor(h, 1, [3], [1])
    sd["bn.num_batches_tracked"] = Tensor(i, 1, [], [])
    sd["mask"] = Tensor(b, 0, [3, 1], [1, 0])
    sd["expanded"] = Tensor(f, 11, [4, 2], [0, 0])             # stride-0 broadcast
    obj = {
        "state_dict": sd,
        "epoch": 7, "big": 2 ** 70, "lr": 2e-4, "flag": True, "none": None, "name": "run-1", "raw": b"\x00\x01",
        "extra": [Tensor(f, 2, [2], [1]), (1, "two", 3.0)], 5: "int key",
    }
    storages = [("0", struct.pack("<12f", *[x / 4 for x in range(12)])),
                ("1", struct.pack("<4e", 0.5, 1.0, 1.5, 2.0)),
                ("2", bytes([1, 0, 1])),
                ("3", struct.pack("<2q", 3, 100))]
    if protocol >= 5:
        obj["buffer"] = bytearray(b"\x02\x03")   # BYTEARRAY8
    return obj, storages


def legacy_file():
    """Magic, protocol version, sys info, the data pickle with storage views, keys, records."""
    out = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    out += pickle.dumps(1001, protocol=2)
    out += pickle.dumps({"protocol_version": 1001, "little_endian": True,
                         "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    base = Storage("140000", "FloatStorage", 10)
    view = Storage("140000", "FloatStorage", 10, view=("140001", 4, 6))
    sd = collections.OrderedDict([("a", Tensor(base, 0, [2, 2], [2, 1])), ("b", Tensor(view, 1, [5], [1])),
                                  ("c", Tensor(Storage("140002", "IntStorage", 1), 0, [1], [1]))])
    out += dumps(sd, 2)
    out += pickle.dumps(["140000", "140002"], protocol=2)
    out += le("Q", 10) + struct.pack("<10f", *range(10))
    out += le("Q", 1) + le("i", -3)
    return out


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "seeds"
    files = {
        "safetensors/dtypes.safetensors": dtypes_file(),
        "safetensors/empty.safetensors": safetensors([]),
        "torch/legacy_views.pth": legacy_file(),
    }
    for protocol, zip64 in [(4, True), (5, False)]:
        obj, storages = state(protocol)
        pkl = dumps(obj, protocol)
        files[f"torch/protocol{protocol}.pth"] = torch_zip(pkl, storages, zip64=zip64)
        files[f"unpickle/protocol{protocol}.pkl"] = pkl
    for name, data in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"{path}: {len(data)} bytes")


if __name__ == "__main__":
    main()
