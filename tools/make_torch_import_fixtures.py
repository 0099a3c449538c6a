#!/usr/bin/env python3
"""Fixtures for the TorchImport module (reading `torch.save` files without executing them).

What it makes, under Tests/Fixtures/torch_import/ (relative to the repository root):

  unet_small.pth            state_dict() of the reference pix2pix UnetGenerator (num_downs 5,
                            ngf 4, 3 -> 3, BatchNorm, no dropout), zip format (torch >= 1.6).
  unet_small_legacy.pth     the same state dict, `_use_new_zipfile_serialization=False`.
  unet_small_io.safetensors `x` [1, 3, 32, 32] and `out` = G.eval()(x).
  resnet_small.pth          state_dict() of the reference ResnetGenerator (3 -> 3, ngf 4,
                            InstanceNorm2d(affine=False), no dropout, n_blocks 2), zip format.
  resnet_small_io.safetensors `x` [1, 3, 20, 20] and `out` = G.eval()(x).
  views.pth / views_legacy.pth
                            tensors with non-trivial layouts and dtypes (see VIEWS below),
                            zip and legacy format; several share one storage.
  views_expected.safetensors the same tensors as contiguous float32 (what a reader must give).
  nested.pth                {"state_dict": {...}, "epoch": 7, "name": "run-1", "opt": {...},
                            "extra": [tensor, Parameter]}: nested containers, non-tensor leaves
                            and a Parameter (pickled through torch._utils._rebuild_parameter).
  Tampered files (a correct reader must refuse every one, naming the problem):
  evil_os_system.pth        zip like torch's whose data.pkl is a hand-written protocol-2 pickle
                            calling GLOBAL 'os system' with ("echo hi",) through REDUCE.
  evil_reduce.pth           raw bytes of pickle.dumps(obj, protocol=2) for an object whose
                            __reduce__ returns (os.system, ("echo hi",)) (CPython writes the
                            global as 'posix system' on Linux).
  evil_eval_stack_global.pth zip whose data.pkl is a protocol-4 pickle (STACK_GLOBAL)
                            of an object reducing to (builtins.eval, ("1+1",)).
  storage_too_large.pth     zip whose data.pkl claims 1000 float32 elements for a storage
                            entry holding 6 (24 bytes).
  view_out_of_bounds.pth    zip whose tensor has size [100] on a 6-element storage.
  compressed.pth            views.pth re-packed with DEFLATE-compressed entries.

The crafted zips mimic torch's layout (`archive/data.pkl`, `archive/data/<key>`,
`archive/version`, `archive/byteorder`) but are written with Python's zipfile (STORED, no
zip64), so they also exercise the plain (non-zip64) end-of-central-directory path; torch's
own files always carry zip64 records. Their data.pkl pickles are made with the standard
pickler (no torch code runs at load time of course: these are data for the Swift reader).

How to run (needs torch and numpy; paths are resolved relative to this file):

    /path/to/venv/bin/python tools/make_torch_import_fixtures.py

Reuses make_fixtures.py by import (reference UnetGenerator, init_weights, safetensors
writer/reader). Values are deterministic (torch.manual_seed per case, one thread), but the
.pth bytes are not: torch writes a random `.data/serialization_id` into zip files, and the
legacy format keys storages by memory address. The script loads every .pth back with
torch.load(weights_only=True) and checks it against what was saved.
"""

import collections
import io
import os
import pickle
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402

OUT = mf.FIXTURES / "torch_import"
TORCH_VERSION = torch.__version__


# --------------------------------------------------------------------------------------
# Reference ResnetGenerator (junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py,
# padding_type 'reflect')
# --------------------------------------------------------------------------------------

class ResnetBlock(nn.Module):
    def __init__(self, dim, norm_layer, use_dropout, use_bias):
        super().__init__()
        conv_block = [nn.ReflectionPad2d(1),
                      nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
                      norm_layer(dim), nn.ReLU(True)]
        if use_dropout:
            conv_block += [nn.Dropout(0.5)]
        conv_block += [nn.ReflectionPad2d(1),
                       nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
                       norm_layer(dim)]
        self.conv_block = nn.Sequential(*conv_block)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, ngf=64, norm_layer=nn.BatchNorm2d, use_dropout=False,
                 n_blocks=6):
        super().__init__()
        use_bias = norm_layer is not nn.BatchNorm2d
        model = [nn.ReflectionPad2d(3),
                 nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=use_bias),
                 norm_layer(ngf), nn.ReLU(True)]
        n_down = 2
        for i in range(n_down):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1,
                                bias=use_bias),
                      norm_layer(ngf * mult * 2), nn.ReLU(True)]
        mult = 2 ** n_down
        for _ in range(n_blocks):
            model += [ResnetBlock(ngf * mult, norm_layer, use_dropout, use_bias)]
        for i in range(n_down):
            mult = 2 ** (n_down - i)
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, kernel_size=3, stride=2,
                                         padding=1, output_padding=1, bias=use_bias),
                      norm_layer(ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0),
                  nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


def instance_norm(c):
    return nn.InstanceNorm2d(c, affine=False)


# --------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------

def randomise_biases_and_stats(net, seed):
    """After the reference init: every bias ~ N(0, 0.02) (the reference sets them to 0, which
    would not test loading them); BatchNorm running_mean = randn * 0.1, running_var = rand + 0.5,
    num_batches_tracked = 5, so that eval mode differs from train mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if getattr(m, "bias", None) is not None and isinstance(m.bias, torch.Tensor):
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.02)
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(5)


def make_unet(seed=0):
    torch.manual_seed(seed)
    G = mf.UnetGenerator(3, 3, 5, ngf=4, norm_layer=nn.BatchNorm2d, use_dropout=False)
    mf.init_weights(G)
    randomise_biases_and_stats(G, seed + 1)
    G.eval()
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(seed + 2)) * 2 - 1
    with torch.no_grad():
        out = G(x)
    sd = G.state_dict()
    torch.save(sd, OUT / "unet_small.pth")
    torch.save(sd, OUT / "unet_small_legacy.pth", _use_new_zipfile_serialization=False)
    args = {"num_downs": 5, "ngf": 4, "input_nc": 3, "output_nc": 3, "norm": "batch",
            "use_dropout": False, "mode": "eval"}
    mf.write_safetensors(OUT / "unet_small_io.safetensors", [("x", x), ("out", out)],
                         mf.meta("torch_import_unet", args, "unet_small", seed,
                                 params=mf.n_params(G), keys=len(sd)))
    return sd


def make_resnet(seed=0):
    torch.manual_seed(seed)
    G = ResnetGenerator(3, 3, ngf=4, norm_layer=instance_norm, use_dropout=False, n_blocks=2)
    mf.init_weights(G)
    randomise_biases_and_stats(G, seed + 1)
    G.eval()
    x = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(seed + 2)) * 2 - 1
    with torch.no_grad():
        out = G(x)
    sd = G.state_dict()
    torch.save(sd, OUT / "resnet_small.pth")
    args = {"ngf": 4, "input_nc": 3, "output_nc": 3, "norm": "instance", "n_blocks": 2,
            "use_dropout": False, "padding_type": "reflect", "mode": "eval"}
    mf.write_safetensors(OUT / "resnet_small_io.safetensors", [("x", x), ("out", out)],
                         mf.meta("torch_import_resnet", args, "resnet_small", seed,
                                 params=mf.n_params(G), keys=len(sd)))
    return sd


# --------------------------------------------------------------------------------------
# Layouts and dtypes
# --------------------------------------------------------------------------------------

def make_views(seed=0):
    torch.manual_seed(seed)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5 - 3
    other = torch.randn(3, 5)
    half_base = torch.randn(4, 6).half()
    d = collections.OrderedDict()
    d["view"] = base[1:, ::2]                 # offset 6, size [3, 3], stride [6, 2]
    d["transposed"] = other.t()               # size [5, 3], stride [1, 5]
    d["base"] = base                          # shares the storage of "view"
    d["row"] = base[2]                        # offset 12, shares it too
    d["expanded"] = torch.randn(3, 1).expand(3, 4)   # stride [1, 0]
    d["half"] = torch.randn(2, 3).half()
    d["half_view"] = half_base[::2, 1::2]     # float16 with offset and strides
    d["bfloat16"] = torch.randn(5).bfloat16()
    d["float64"] = torch.randn(2, 2, dtype=torch.float64)
    d["int64"] = torch.tensor([[-3, 0, 7], [123456, -(2 ** 40) - 1, 2 ** 40]], dtype=torch.int64)
    d["int32"] = torch.tensor([-7, 1 << 20, 5], dtype=torch.int32)
    d["uint8"] = torch.tensor([0, 1, 255, 128], dtype=torch.uint8)
    d["bool"] = torch.tensor([True, False, True])
    d["scalar"] = torch.tensor(2.5)           # 0-d
    d["empty"] = torch.zeros(0, 3)
    d["num_batches_tracked"] = torch.tensor(5, dtype=torch.int64)
    torch.save(d, OUT / "views.pth")
    torch.save(d, OUT / "views_legacy.pth", _use_new_zipfile_serialization=False)
    mf.write_safetensors(OUT / "views_expected.safetensors",
                         [(k, v.to(torch.float32).contiguous()) for k, v in d.items()],
                         mf.meta("torch_import_views", {"keys": list(d)}, "views", seed))
    return d


def make_nested(seed=0):
    torch.manual_seed(seed)
    obj = {
        "state_dict": collections.OrderedDict([("a.weight", torch.randn(2, 2)),
                                               ("a.bias", torch.randn(2))]),
        "epoch": 7,
        "name": "run-1",
        "opt": {"lr": 0.0002, "betas": (0.5, 0.999)},
        # A Parameter pickles through torch._utils._rebuild_parameter.
        "extra": [torch.arange(3.0), nn.Parameter(torch.ones(1))],
    }
    torch.save(obj, OUT / "nested.pth")
    return obj


# --------------------------------------------------------------------------------------
# Tampered files
# --------------------------------------------------------------------------------------

def torch_like_zip(path, data_pkl, storages, compress=zipfile.ZIP_STORED):
    """storages: dict key -> bytes. Written as torch lays them out (archive/...)."""
    with zipfile.ZipFile(path, "w", compression=compress) as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", b"little")
        for k, b in storages.items():
            z.writestr(f"archive/data/{k}", b)
        z.writestr("archive/version", b"3\n")


class _Storage:
    """Stands for a storage in a crafted pickle: pickled as a persistent id."""
    def __init__(self, pid):
        self.pid = pid


class _Tensor:
    """Pickled as torch does: REDUCE of torch._utils._rebuild_tensor_v2 with given args."""
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class _PidPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _Storage) else None


def crafted_pickle(obj):
    buf = io.BytesIO()
    _PidPickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


class _EvilSystem:
    def __reduce__(self):
        return (os.system, ("echo hi",))


class _EvilEval:
    def __reduce__(self):
        return (eval, ("1+1",))


def make_tampered():
    # GLOBAL 'os system', written by hand: PROTO 2, GLOBAL, BINUNICODE "echo hi", TUPLE1, REDUCE, STOP.
    arg = b"echo hi"
    evil = (b"\x80\x02" + b"cos\nsystem\n" + b"q\x00" + b"X" + struct.pack("<I", len(arg)) + arg
            + b"q\x01" + b"\x85" + b"q\x02" + b"R" + b"q\x03" + b".")
    torch_like_zip(OUT / "evil_os_system.pth", evil, {})
    (OUT / "evil_reduce.pth").write_bytes(pickle.dumps(_EvilSystem(), protocol=2))
    torch_like_zip(OUT / "evil_eval_stack_global.pth", pickle.dumps(_EvilEval(), protocol=4), {})

    six = struct.pack("<6f", *[float(i) for i in range(6)])
    # Claims 1000 elements; the entry holds 24 bytes.
    s = _Storage(("storage", torch.FloatStorage, "0", "cpu", 1000))
    torch_like_zip(OUT / "storage_too_large.pth",
                   crafted_pickle(collections.OrderedDict([("t", _Tensor(s, 0, [1000], [1]))])),
                   {"0": six})
    # Honest storage of 6 elements, tensor view of 100.
    s = _Storage(("storage", torch.FloatStorage, "0", "cpu", 6))
    torch_like_zip(OUT / "view_out_of_bounds.pth",
                   crafted_pickle(collections.OrderedDict([("t", _Tensor(s, 0, [100], [1]))])),
                   {"0": six})
    # views.pth re-packed with compressed entries.
    with zipfile.ZipFile(OUT / "views.pth") as src, \
            zipfile.ZipFile(OUT / "compressed.pth", "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))


# --------------------------------------------------------------------------------------
# Self-check
# --------------------------------------------------------------------------------------

def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)


def self_check(unet_sd, resnet_sd, views, nested):
    for name, sd in (("unet_small.pth", unet_sd), ("unet_small_legacy.pth", unet_sd),
                     ("resnet_small.pth", resnet_sd), ("views.pth", views),
                     ("views_legacy.pth", views)):
        back = torch.load(OUT / name, weights_only=True)
        assert list(back) == list(sd), name
        assert all(same(back[k], sd[k]) for k in sd), name
    back = torch.load(OUT / "views.pth", weights_only=True)
    # Storage sharing survives the round trip (the reader sees one storage for these).
    assert back["view"].untyped_storage().data_ptr() == back["base"].untyped_storage().data_ptr()
    assert back["view"].storage_offset() == 6 and back["view"].stride() == (6, 2)
    back = torch.load(OUT / "nested.pth", weights_only=True)
    assert same(back["state_dict"]["a.bias"], nested["state_dict"]["a.bias"])
    assert back["epoch"] == 7 and back["opt"]["betas"] == (0.5, 0.999)
    assert isinstance(back["extra"][1], nn.Parameter)
    with zipfile.ZipFile(OUT / "nested.pth") as z:
        assert b"_rebuild_parameter" in z.read("nested/data.pkl")
    for name in ("evil_os_system.pth", "evil_reduce.pth", "evil_eval_stack_global.pth"):
        try:
            torch.load(OUT / name, weights_only=True)
        except Exception:  # torch's own restricted unpickler refuses them too
            pass
        else:
            raise AssertionError(f"torch.load(weights_only=True) accepted {name}")
    meta, arrays = mf.read_safetensors(OUT / "views_expected.safetensors")
    assert [n for n, _ in arrays] == list(views)
    for n, a in arrays:
        assert np.array_equal(a, views[n].to(torch.float32).numpy()), n
    for name in ("unet_small_io", "resnet_small_io"):
        mf.read_safetensors(OUT / f"{name}.safetensors")
    files = sorted(p for p in OUT.iterdir() if p.is_file())
    total = sum(p.stat().st_size for p in files)
    for p in files:
        print(f"  {p.name:32s} {p.stat().st_size:8,d} bytes")
    print(f"self-check OK: {len(files)} files, total {total:,} bytes under "
          f"{OUT.relative_to(mf.ROOT)}")
    assert total < 1_000_000, total


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    print(f"torch {TORCH_VERSION}")
    OUT.mkdir(parents=True, exist_ok=True)
    for p in OUT.iterdir():
        if p.is_file():
            p.unlink()
    unet_sd = make_unet()
    resnet_sd = make_resnet()
    views = make_views()
    nested = make_nested()
    make_tampered()
    self_check(unet_sd, resnet_sd, views, nested)


if __name__ == "__main__":
    main()
