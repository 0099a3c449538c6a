#!/usr/bin/env python3
"""LPIPS v0.0 and v0.1 expected values from the official `lpips` package (0.1.4).

    /path/to/venv/bin/python tools/make_lpips_version_fixture.py

Writes Tests/Fixtures/eval/lpips_versions.safetensors: `v0.0.lpips`, `v0.0.lpips_b`,
`v0.0.taps.{0..4}`, `v0.0.grad.x0` and the same for `v0.1`, on the image pairs of
Tests/Fixtures/eval/lpips.safetensors (its `x0`, `x1`, `x0b`, `x1b`, `r`, read back from
that file so both fixtures share their inputs).

The reference is the official code itself: `lpips.LPIPS(net='alex', version=V,
pretrained=True, pnet_rand=True)` (the package's own linear heads for version V; the
AlexNet backbone left random so that nothing is downloaded) with the backbone's five
convolutions then overwritten by models/lpips_alexnet/model.safetensors (torchvision's
ImageNet AlexNet, see its model card). Run in float64. The package applies its scaling
layer only for version 0.1; v0.0 feeds [-1, 1] images straight to AlexNet.

Cross-check: the v0.1 values must equal lpips.safetensors' independent re-implementation
within 1e-6 (printed), so the two fixtures agree on what LPIPS v0.1 is.
Needs torch, torchvision and lpips==0.1.4 (pip install lpips==0.1.4).
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402

import lpips  # noqa: E402

WEIGHTS = ROOT / "models" / "lpips_alexnet" / "model.safetensors"
INPUTS = ROOT / "Tests" / "Fixtures" / "eval" / "lpips.safetensors"
OUT = ROOT / "Tests" / "Fixtures" / "eval" / "lpips_versions.safetensors"
# torchvision feature index -> lpips.pretrained_networks.alexnet slice holding it
SLICE = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}


def official(version):
    net = lpips.LPIPS(net="alex", version=version, pretrained=True, pnet_rand=True, verbose=False).double().eval()
    _, w = mf.read_safetensors(WEIGHTS)
    w = dict(w)
    state = net.state_dict()
    for idx, s in SLICE.items():
        for p in ("weight", "bias"):
            key = f"net.slice{s}.{idx}.{p}"
            assert state[key].shape == tuple(w[f"features.{idx}.{p}"].shape), key
            state[key] = torch.from_numpy(np.array(w[f"features.{idx}.{p}"])).double()
    net.load_state_dict(state)
    return net


def run(version, x):
    net = official(version)
    x0 = x["x0"].double().requires_grad_(True)
    d, taps = net(x0, x["x1"].double(), retPerLayer=True)
    d = d.reshape(-1)
    (d * x["r"].double()).sum().backward()
    with torch.no_grad():
        db = net(x["x0b"].double(), x["x1b"].double()).reshape(-1)
    out = {"lpips": d, "lpips_b": db, "grad.x0": x0.grad}
    out.update({f"taps.{k}": t.reshape(-1) for k, t in enumerate(taps)})
    return {k: v.detach().numpy() for k, v in out.items()}


def main():
    _, arrays = mf.read_safetensors(INPUTS)
    arrays = dict(arrays)
    x = {k: torch.from_numpy(np.array(arrays[k])) for k in ("x0", "x1", "x0b", "x1b", "r")}
    res = {v: run(v, x) for v in ("0.0", "0.1")}
    diffs = {k: float(np.abs(res["0.1"][k] - np.array(arrays[k], dtype=np.float64)).max())
             for k in ("lpips", "lpips_b", "grad.x0")}
    print("v0.1 official vs lpips.safetensors max abs diff:", diffs)
    assert max(diffs.values()) < 1e-6, diffs
    print("v0.0 lpips:", res["0.0"]["lpips"], "lpips_b:", res["0.0"]["lpips_b"])
    print("v0.1 lpips:", res["0.1"]["lpips"], "lpips_b:", res["0.1"]["lpips_b"])
    tensors = [(f"v{v}.{k}", torch.from_numpy(a)) for v in ("0.0", "0.1") for k, a in res[v].items()]
    m = mf.meta("lpips_versions", {"net": "alexnet", "versions": ["0.0", "0.1"],
                                   "inputs": "x0, x1, x0b, x1b, r of Tests/Fixtures/eval/lpips.safetensors",
                                   "grad": "grad.x0 = d (lpips * r).sum() / d x0"},
                "lpips_versions", 0,
                lpips_version=lpips.__version__ if hasattr(lpips, "__version__") else "0.1.4",
                v01_vs_lpips_fixture_max_abs_diff=json.dumps(diffs),
                note="official lpips.LPIPS(net='alex', version=V, pnet_rand=True) with the backbone "
                     "overwritten by models/lpips_alexnet/model.safetensors, float64, stored as F32")
    mf.write_safetensors(OUT, tensors, m)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
