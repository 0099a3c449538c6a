#!/usr/bin/env python3
"""Generate the golden-test fixtures for `translate` (Swift pix2pix/CycleGAN numerics).

What it makes (all under Tests/Fixtures/, relative to the repository root):

  ops/<case>.safetensors       single differentiable ops (conv, conv-transpose, norms,
                               activations, padding, cat/narrow, elementwise, reductions,
                               resampling, pooling, losses): inputs, out, upstream
                               gradient r and the gradient of every input.
  modules/<case>.safetensors   small nn.Sequential stacks described layer by layer in the
                               `args` metadata (parameters, buffers, grads, buffers after).
  adam/<case>.safetensors      three torch.optim.Adam steps with given gradients.
  schedules.json               learning rates per epoch for the linear (pix2pix
                               "lambda"), step and cosine schedules.
  network/unet8_patchgan.safetensors
                               pix2pix reference U-Net generator (num_downs 8, ngf 8,
                               BatchNorm, no dropout) + 70x70 PatchGAN (ndf 8, n_layers 3)
                               in train mode on one 3x256x256 input: weights, outputs,
                               all parameter grads and BatchNorm running stats after.

Gradient convention: for every case `out = f(inputs)`, `r = randn_like(out)`,
`loss = (out * r).sum()`, `loss.backward()`; `grad.<name>` is d loss / d <name>.

File format: safetensors written by the small writer below (no `safetensors` package):
8-byte little-endian u64 header length N, N bytes of UTF-8 JSON header padded with
trailing spaces so that 8 + N is a multiple of 8, then the data buffer. Every tensor is
little-endian float32, C-contiguous, stored back-to-back in the order written
(`data_offsets` are relative to the start of the data buffer). `__metadata__` holds
string values: `op`, `args` (a JSON-encoded string), `torch_version`, `case`, `seed`
(plus `g_params`/`d_params`/`note` in the network file). schedules.json is plain JSON
with a top-level `torch_version` key next to `linear`, `step` and `cosine`.

How to run (from anywhere; paths are resolved relative to this file):

    /path/to/venv/bin/python tools/make_fixtures.py

Needs only torch and numpy. Every case re-seeds with torch.manual_seed(<seed>, 0 unless
stated) right before drawing its data, and torch runs single-threaded with deterministic
algorithms, so regenerating with the same torch version gives byte-identical files
(the torch version used is recorded in each file's metadata as `torch_version`).
At the end the script reads every file back with an independent reader and checks it
against what was written.
"""

import json
import math
import os
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "Fixtures"
TORCH_VERSION = torch.__version__

# Everything that was written, for the self-check: path -> (metadata, [(name, ndarray)]).
WRITTEN = {}


# --------------------------------------------------------------------------------------
# safetensors writer / reader
# --------------------------------------------------------------------------------------

def _as_f32(t):
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().to(torch.float32).contiguous().numpy()
    # np.array (not np.ascontiguousarray, which turns 0-d arrays into shape [1]).
    a = np.array(t, dtype="<f4", order="C", copy=True)
    assert a.flags.c_contiguous
    return a


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, tensor/ndarray); metadata: dict str -> str."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    blobs, arrays, offset = [], [], 0
    for name, t in tensors:
        if name in header:
            raise ValueError(f"duplicate tensor name {name!r} in {path}")
        a = _as_f32(t)
        if isinstance(t, torch.Tensor):
            assert list(a.shape) == list(t.shape), (name, a.shape, t.shape)
        b = a.tobytes(order="C")
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
        arrays.append((name, a.copy()))
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-(8 + len(hj))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    WRITTEN[path] = (header["__metadata__"], arrays)
    return path


def read_safetensors(path):
    """Independent reader: returns (metadata dict, ordered list of (name, ndarray))."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    assert (8 + n) % 8 == 0, f"{path}: header not 8-byte aligned"
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__")
    assert all(isinstance(v, str) for v in meta.values())
    buf = data[8 + n:]
    out, expected = [], 0
    for name, info in header.items():
        assert info["dtype"] == "F32", (path, name)
        begin, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64)) if info["shape"] else 1
        assert begin == expected and end - begin == 4 * count, (path, name)
        out.append((name, np.frombuffer(buf[begin:end], dtype="<f4").reshape(info["shape"])))
        expected = end
    assert expected == len(buf), f"{path}: trailing bytes in data buffer"
    return meta, out


def meta(op, args, case, seed, **extra):
    m = {"op": op, "args": json.dumps(args), "torch_version": TORCH_VERSION,
         "case": case, "seed": str(seed)}
    m.update({k: str(v) for k, v in extra.items()})
    return m


# --------------------------------------------------------------------------------------
# Op cases
# --------------------------------------------------------------------------------------

def away(x, margin=0.05):
    """Move values away from the kink at 0: sign(x) * (|x| + margin)."""
    return torch.sign(x) * (x.abs() + margin)


def divisor(b):
    """|b| + 0.5 with the (random) sign of b."""
    return torch.sign(b) * (b.abs() + 0.5)


def op_case(case, op, args, make_inputs, fn, seed=0):
    """make_inputs() -> ordered dict role -> float32 tensor (drawn after seeding).
    fn(**inputs) -> out. Every input gets requires_grad=True."""
    torch.manual_seed(seed)
    inputs = make_inputs()
    for t in inputs.values():
        assert t.dtype == torch.float32
        t.requires_grad_(True)
    out = fn(**inputs)
    r = torch.randn_like(out)
    (out * r).sum().backward()
    tensors = list(inputs.items()) + [("out", out), ("r", r)]
    tensors += [(f"grad.{k}", v.grad) for k, v in inputs.items() if v.grad is not None]
    write_safetensors(FIXTURES / "ops" / f"{case}.safetensors", tensors,
                      meta(op, args, case, seed))


def conv_case(case, xs, ws, bias, stride, padding, dilation):
    args = {"stride": stride, "padding": padding, "dilation": dilation}

    def mk():
        d = {"x": torch.randn(*xs), "weight": torch.randn(*ws)}
        if bias:
            d["bias"] = torch.randn(ws[0])
        return d

    op_case(case, "conv2d", args, mk,
            lambda x, weight, bias=None: F.conv2d(x, weight, bias, stride, padding, dilation))


def convt_case(case, xs, ws, bias, stride, padding, output_padding, dilation=(1, 1)):
    args = {"stride": stride, "padding": padding, "output_padding": output_padding,
            "dilation": list(dilation)}

    def mk():
        d = {"x": torch.randn(*xs), "weight": torch.randn(*ws)}
        if bias:
            d["bias"] = torch.randn(ws[1])
        return d

    op_case(case, "conv_transpose2d", args, mk,
            lambda x, weight, bias=None: F.conv_transpose2d(
                x, weight, bias, stride, padding, output_padding, 1, list(dilation)))


def batch_norm_case(case, training, seed=0):
    momentum, eps = 0.1, 1e-5
    torch.manual_seed(seed)
    x = torch.randn(3, 4, 5, 6)
    weight = torch.randn(4) * 0.5 + 1
    bias = torch.randn(4)
    running_mean = torch.randn(4) * 0.1
    running_var = torch.rand(4) + 0.5
    rm0, rv0 = running_mean.clone(), running_var.clone()
    for t in (x, weight, bias):
        t.requires_grad_(True)
    out = F.batch_norm(x, running_mean, running_var, weight, bias,
                       training=training, momentum=momentum, eps=eps)
    r = torch.randn_like(out)
    (out * r).sum().backward()
    tensors = [("x", x), ("weight", weight), ("bias", bias),
               ("running_mean", rm0), ("running_var", rv0),
               ("out", out), ("r", r),
               ("grad.x", x.grad), ("grad.weight", weight.grad), ("grad.bias", bias.grad),
               ("running_mean.after", running_mean), ("running_var.after", running_var)]
    args = {"training": training, "momentum": momentum, "eps": eps}
    write_safetensors(FIXTURES / "ops" / f"{case}.safetensors", tensors,
                      meta("batch_norm", args, case, seed))


def make_ops():
    R = torch.randn
    # convolutions
    conv_case("conv2d_basic", (2, 3, 7, 6), (4, 3, 3, 3), True, [1, 1], [1, 1], [1, 1])
    conv_case("conv2d_stride2", (1, 3, 8, 9), (5, 3, 4, 4), True, [2, 2], [1, 1], [1, 1])
    conv_case("conv2d_dilation_nobias", (2, 2, 9, 8), (3, 2, 3, 3), False, [1, 1], [2, 2], [2, 2])
    conv_case("conv2d_rect", (1, 2, 6, 7), (3, 2, 3, 2), True, [2, 1], [0, 1], [1, 1])
    convt_case("conv_transpose2d_basic", (2, 4, 5, 4), (4, 3, 4, 4), True, [2, 2], [1, 1], [0, 0])
    convt_case("conv_transpose2d_outpad", (1, 3, 4, 5), (3, 2, 3, 3), True, [2, 2], [1, 1], [1, 1])
    convt_case("conv_transpose2d_s1_nobias", (1, 2, 5, 5), (2, 3, 3, 3), False, [1, 1], [0, 0], [0, 0])

    # normalisation
    batch_norm_case("batch_norm_train", True)
    batch_norm_case("batch_norm_eval", False)
    op_case("instance_norm", "instance_norm", {"eps": 1e-5, "affine": False},
            lambda: {"x": R(2, 3, 5, 4)},
            lambda x: F.instance_norm(x, eps=1e-5))
    op_case("instance_norm_affine", "instance_norm", {"eps": 1e-5, "affine": True},
            lambda: {"x": R(2, 3, 5, 4), "weight": R(3), "bias": R(3)},
            lambda x, weight, bias: F.instance_norm(x, weight=weight, bias=bias, eps=1e-5))

    # activations
    op_case("relu", "relu", {}, lambda: {"x": away(R(2, 3, 4, 5))}, lambda x: F.relu(x))
    op_case("leaky_relu", "leaky_relu", {"negative_slope": 0.2},
            lambda: {"x": away(R(2, 3, 4, 5))}, lambda x: F.leaky_relu(x, 0.2))
    op_case("tanh", "tanh", {}, lambda: {"x": R(2, 3, 4, 5)}, lambda x: torch.tanh(x))
    op_case("sigmoid", "sigmoid", {}, lambda: {"x": R(2, 3, 4, 5)}, lambda x: torch.sigmoid(x))

    # padding
    op_case("reflection_pad", "reflection_pad", {"pad": [2, 1, 3, 1]},
            lambda: {"x": R(2, 3, 5, 6)}, lambda x: F.pad(x, [2, 1, 3, 1], mode="reflect"))
    op_case("zero_pad", "zero_pad", {"pad": [1, 2, 0, 3]},
            lambda: {"x": R(1, 2, 4, 5)},
            lambda x: F.pad(x, [1, 2, 0, 3], mode="constant", value=0.0))

    # shape ops
    op_case("cat", "cat", {"dim": 1}, lambda: {"a": R(2, 3, 4, 5), "b": R(2, 2, 4, 5)},
            lambda a, b: torch.cat([a, b], 1))
    op_case("narrow_dim1", "narrow", {"dim": 1, "start": 1, "length": 3},
            lambda: {"x": R(2, 5, 4, 3)}, lambda x: x.narrow(1, 1, 3))
    op_case("narrow_dim3", "narrow", {"dim": 3, "start": 2, "length": 3},
            lambda: {"x": R(2, 3, 4, 6)}, lambda x: x.narrow(3, 2, 3))

    # elementwise binary
    op_case("add", "add", {}, lambda: {"a": R(2, 3, 4), "b": R(2, 3, 4)}, lambda a, b: a + b)
    op_case("sub", "sub", {}, lambda: {"a": R(2, 3, 4), "b": R(2, 3, 4)}, lambda a, b: a - b)
    op_case("mul", "mul", {}, lambda: {"a": R(2, 3, 4), "b": R(2, 3, 4)}, lambda a, b: a * b)
    op_case("div", "div", {}, lambda: {"a": R(2, 3, 4), "b": divisor(R(2, 3, 4))},
            lambda a, b: a / b)

    # elementwise with scalar
    op_case("add_scalar", "add_scalar", {"scalar": 1.5}, lambda: {"x": R(2, 3, 4)}, lambda x: x + 1.5)
    op_case("mul_scalar", "mul_scalar", {"scalar": -2.5}, lambda: {"x": R(2, 3, 4)}, lambda x: x * -2.5)
    op_case("sub_scalar", "sub_scalar", {"scalar": 0.7}, lambda: {"x": R(2, 3, 4)}, lambda x: x - 0.7)
    op_case("rsub_scalar", "rsub_scalar", {"scalar": 0.7}, lambda: {"x": R(2, 3, 4)}, lambda x: 0.7 - x)
    op_case("div_scalar", "div_scalar", {"scalar": 3.0}, lambda: {"x": R(2, 3, 4)}, lambda x: x / 3.0)

    # reductions (0-d out and r)
    op_case("mean", "mean", {}, lambda: {"x": R(2, 3, 4, 5)}, lambda x: x.mean())
    op_case("sum", "sum", {}, lambda: {"x": R(2, 3, 4, 5)}, lambda x: x.sum())

    # resampling / pooling
    op_case("upsample_nearest", "upsample_nearest", {"scale_factor": 2},
            lambda: {"x": R(1, 2, 3, 4)},
            lambda x: F.interpolate(x, scale_factor=2, mode="nearest"))
    op_case("upsample_bilinear", "upsample_bilinear", {"scale_factor": 2, "align_corners": False},
            lambda: {"x": R(2, 2, 3, 5)},
            lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
    op_case("avg_pool2d_k2", "avg_pool2d",
            {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0], "count_include_pad": True},
            lambda: {"x": R(1, 2, 6, 7)},
            lambda x: F.avg_pool2d(x, [2, 2], [2, 2], [0, 0], count_include_pad=True))
    op_case("avg_pool2d_k3p1", "avg_pool2d",
            {"kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1], "count_include_pad": True},
            lambda: {"x": R(1, 2, 7, 7)},
            lambda x: F.avg_pool2d(x, [3, 3], [2, 2], [1, 1], count_include_pad=True))

    # losses (reduction mean, 0-d out); l1: keep x - target away from 0 (the kink)
    def l1_inputs():
        target = R(2, 3, 4, 5)
        return {"x": target + away(R(2, 3, 4, 5)), "target": target}

    op_case("l1_loss", "l1_loss", {"reduction": "mean"}, l1_inputs,
            lambda x, target: F.l1_loss(x, target, reduction="mean"))
    op_case("mse_loss", "mse_loss", {"reduction": "mean"},
            lambda: {"x": R(2, 3, 4, 5), "target": R(2, 3, 4, 5)},
            lambda x, target: F.mse_loss(x, target, reduction="mean"))
    op_case("bce_with_logits", "bce_with_logits", {"reduction": "mean"},
            lambda: {"x": R(2, 3, 4, 5), "target": torch.rand(2, 3, 4, 5)},
            lambda x, target: F.binary_cross_entropy_with_logits(x, target, reduction="mean"))


# --------------------------------------------------------------------------------------
# Module cases
# --------------------------------------------------------------------------------------

def build_layer(d):
    t = d["type"]
    if t == "ReflectionPad2d":
        return nn.ReflectionPad2d(tuple(d["padding"]))
    if t == "Conv2d":
        return nn.Conv2d(d["in_channels"], d["out_channels"], d["kernel_size"], d["stride"],
                         d["padding"], bias=d["bias"])
    if t == "ConvTranspose2d":
        return nn.ConvTranspose2d(d["in_channels"], d["out_channels"], d["kernel_size"],
                                  d["stride"], d["padding"], d["output_padding"], bias=d["bias"])
    if t == "BatchNorm2d":
        return nn.BatchNorm2d(d["num_features"], eps=d["eps"], momentum=d["momentum"])
    if t == "InstanceNorm2d":
        return nn.InstanceNorm2d(d["num_features"], eps=d["eps"], affine=d["affine"],
                                 track_running_stats=d["track_running_stats"])
    if t == "ReLU":
        return nn.ReLU()
    if t == "LeakyReLU":
        return nn.LeakyReLU(d["negative_slope"])
    if t == "Tanh":
        return nn.Tanh()
    if t == "Sigmoid":
        return nn.Sigmoid()
    raise ValueError(t)


def L_conv(i, o, k, s=1, p=0, bias=True):
    return {"type": "Conv2d", "in_channels": i, "out_channels": o, "kernel_size": k,
            "stride": s, "padding": p, "bias": bias}


def L_convt(i, o, k, s=1, p=0, op=0, bias=True):
    return {"type": "ConvTranspose2d", "in_channels": i, "out_channels": o, "kernel_size": k,
            "stride": s, "padding": p, "output_padding": op, "bias": bias}


def L_bn(n):
    return {"type": "BatchNorm2d", "num_features": n, "eps": 1e-5, "momentum": 0.1}


def L_in(n, affine=False):
    return {"type": "InstanceNorm2d", "num_features": n, "eps": 1e-5, "affine": affine,
            "track_running_stats": False}


def init_module_for_test(net):
    """pix2pix-style init, but with non-zero biases so their gradients are exercised."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.normal_(0.0, 0.02)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape) * 0.1)
            elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)):
                if m.affine:
                    m.weight.normal_(1.0, 0.02)
                    m.bias.copy_(torch.randn(m.bias.shape) * 0.1)
                if m.track_running_stats:
                    m.running_mean.copy_(torch.randn(m.running_mean.shape) * 0.1)
                    m.running_var.copy_(torch.rand(m.running_var.shape) + 0.5)


def module_case(case, layers, x_shape, training, seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(*[build_layer(d) for d in layers])
    init_module_for_test(net)
    net.train(training)
    before = [(k, v.detach().clone()) for k, v in net.state_dict().items()
              if not k.endswith("num_batches_tracked")]
    buffer_keys = [k for k, _ in net.named_buffers() if not k.endswith("num_batches_tracked")]
    x = torch.randn(*x_shape, requires_grad=True)
    out = net(x)
    r = torch.randn_like(out)
    (out * r).sum().backward()
    tensors = [(f"param.{k}", v) for k, v in before]
    tensors += [("x", x), ("out", out), ("r", r), ("grad.x", x.grad)]
    tensors += [(f"grad.param.{k}", p.grad) for k, p in net.named_parameters()]
    bufs = dict(net.named_buffers())
    tensors += [(f"buffer_after.{k}", bufs[k]) for k in buffer_keys]
    args = {"layers": layers, "training": training}
    write_safetensors(FIXTURES / "modules" / f"{case}.safetensors", tensors,
                      meta("module", args, case, seed))


def make_modules():
    mixed = [
        {"type": "ReflectionPad2d", "padding": [1, 1, 1, 1]},
        L_conv(3, 4, 3),
        L_in(4),
        {"type": "ReLU"},
        L_conv(4, 6, 4, 2, 1, bias=False),
        L_bn(6),
        {"type": "LeakyReLU", "negative_slope": 0.2},
        L_convt(6, 3, 4, 2, 1),
        {"type": "Tanh"},
    ]
    module_case("sequential_mixed", mixed, (2, 3, 8, 10), training=True, seed=0)
    module_case("sequential_eval", mixed, (1, 3, 6, 6), training=False, seed=1)
    module_case("instance_affine_module",
                [L_conv(2, 3, 3, 1, 1), L_in(3, affine=True), {"type": "Sigmoid"}],
                (2, 2, 5, 5), training=True, seed=0)


# --------------------------------------------------------------------------------------
# Adam
# --------------------------------------------------------------------------------------

def adam_case(case, lr, betas, eps, weight_decay, seed=0):
    torch.manual_seed(seed)
    p0 = torch.randn(3, 4)
    gs = [torch.randn(3, 4) for _ in range(3)]
    p = nn.Parameter(p0.clone())
    opt = torch.optim.Adam([p], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    tensors = [("p0", p0)] + [(f"g{i + 1}", g) for i, g in enumerate(gs)]
    for i, g in enumerate(gs):
        p.grad = g.clone()
        opt.step()
        tensors.append((f"p{i + 1}", p.detach().clone()))
    st = opt.state[p]
    tensors += [("exp_avg", st["exp_avg"]), ("exp_avg_sq", st["exp_avg_sq"])]
    args = {"lr": lr, "betas": list(betas), "eps": eps, "weight_decay": weight_decay}
    write_safetensors(FIXTURES / "adam" / f"{case}.safetensors", tensors,
                      meta("adam", args, case, seed))


def make_adam():
    adam_case("adam_gan", 2e-4, (0.5, 0.999), 1e-8, 0.0)
    adam_case("adam_wd", 1e-3, (0.9, 0.999), 1e-8, 0.01)


# --------------------------------------------------------------------------------------
# LR schedules
# --------------------------------------------------------------------------------------

def record_lrs(make_sched, base_lr, n):
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = make_sched(opt)
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def make_schedules():
    base_lr = 2e-4
    n_epochs, n_epochs_decay = 10, 10

    def lambda_rule(epoch):  # pix2pix reference rule with epoch_count = 1
        return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)

    sched = {
        "torch_version": TORCH_VERSION,
        "linear": {"base_lr": base_lr, "n_epochs": n_epochs, "n_epochs_decay": n_epochs_decay,
                   "lrs": record_lrs(lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda_rule),
                                     base_lr, n_epochs + n_epochs_decay)},
        "step": {"base_lr": base_lr, "step_size": 5, "gamma": 0.1,
                 "lrs": record_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 5, 0.1),
                                   base_lr, 20)},
        "cosine": {"base_lr": base_lr, "t_max": n_epochs,
                   "lrs": record_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
                       o, T_max=n_epochs, eta_min=0), base_lr, n_epochs)},
    }
    path = FIXTURES / "schedules.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sched, indent=2) + "\n")
    return path, sched


# --------------------------------------------------------------------------------------
# pix2pix reference networks (re-written to match junyanz/pytorch-CycleGAN-and-pix2pix
# models/networks.py; BatchNorm => conv biases off except the outermost/first/last convs)
# --------------------------------------------------------------------------------------

class UnetSkipConnectionBlock(nn.Module):
    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None,
                 outermost=False, innermost=False, norm_layer=nn.BatchNorm2d, use_dropout=False):
        super().__init__()
        self.outermost = outermost
        use_bias = norm_layer == nn.InstanceNorm2d
        if input_nc is None:
            input_nc = outer_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        # In-place, as in the reference: the block input x is overwritten before
        # torch.cat([x, model(x)]) reads it, so the skip really carries leaky_relu(x, 0.2).
        # The parent block applies ReLU right after the cat and relu(leaky_relu(x)) == relu(x)
        # (also in the backward), so this is bit-identical to a plain cat([x, model(x)]).
        downrelu = nn.LeakyReLU(0.2, True)
        downnorm = norm_layer(inner_nc)
        uprelu = nn.ReLU(True)
        upnorm = norm_layer(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1,
                                        bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1,
                                        bias=use_bias)
            model = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
            if use_dropout:
                model += [nn.Dropout(0.5)]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf=64, norm_layer=nn.BatchNorm2d,
                 use_dropout=False):
        super().__init__()
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=None, norm_layer=norm_layer,
                                        innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block,
                                            norm_layer=norm_layer, use_dropout=use_dropout)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm_layer=norm_layer)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm_layer=norm_layer)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm_layer=norm_layer)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block,
                                             outermost=True, norm_layer=norm_layer)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf=64, n_layers=3, norm_layer=nn.BatchNorm2d):
        super().__init__()
        use_bias = norm_layer == nn.InstanceNorm2d
        kw, padw = 4, 1
        seq = [nn.Conv2d(input_nc, ndf, kernel_size=kw, stride=2, padding=padw),
               nn.LeakyReLU(0.2, True)]
        nf_mult = 1
        for n in range(1, n_layers):
            nf_prev, nf_mult = nf_mult, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * nf_prev, ndf * nf_mult, kernel_size=kw, stride=2,
                              padding=padw, bias=use_bias),
                    norm_layer(ndf * nf_mult), nn.LeakyReLU(0.2, True)]
        nf_prev, nf_mult = nf_mult, min(2 ** n_layers, 8)
        seq += [nn.Conv2d(ndf * nf_prev, ndf * nf_mult, kernel_size=kw, stride=1, padding=padw,
                          bias=use_bias),
                norm_layer(ndf * nf_mult), nn.LeakyReLU(0.2, True)]
        seq += [nn.Conv2d(ndf * nf_mult, 1, kernel_size=kw, stride=1, padding=padw)]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


def init_weights(net, gain=0.02):
    """Reference init_weights(init_type='normal', gain=0.02)."""
    def init_func(m):
        classname = m.__class__.__name__
        if hasattr(m, "weight") and (classname.find("Conv") != -1 or classname.find("Linear") != -1):
            nn.init.normal_(m.weight.data, 0.0, gain)
            if hasattr(m, "bias") and m.bias is not None:
                nn.init.constant_(m.bias.data, 0.0)
        elif classname.find("BatchNorm2d") != -1:
            nn.init.normal_(m.weight.data, 1.0, gain)
            nn.init.constant_(m.bias.data, 0.0)
    net.apply(init_func)


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def check_reference_param_counts():
    g = UnetGenerator(3, 3, 8, 64, use_dropout=True)
    d = NLayerDiscriminator(6, 64, 3)
    ng, nd = n_params(g), n_params(d)
    print(f"unet_256 ngf64 BatchNorm params: {ng:,}; PatchGAN 6ch ndf64 params: {nd:,}")
    assert ng == 54_413_955, ng
    assert nd == 2_768_705, nd


def make_network(seed=0):
    torch.manual_seed(seed)
    G = UnetGenerator(3, 3, 8, ngf=8, use_dropout=False)
    D = NLayerDiscriminator(6, ndf=8, n_layers=3)
    init_weights(G)
    init_weights(D)
    G.train()
    D.train()
    g_params, d_params = n_params(G), n_params(D)
    print(f"network fixture: G (unet, ngf 8) params {g_params:,}; D (ndf 8) params {d_params:,}")

    def snapshot(net):
        return [(k, v.detach().clone()) for k, v in net.state_dict().items()
                if not k.endswith("num_batches_tracked")]

    G0, D0 = snapshot(G), snapshot(D)
    A = torch.randn(1, 3, 256, 256)
    fake = G(A)
    pred = D(torch.cat([A, fake], 1))
    r_fake = torch.randn_like(fake)
    r_pred = torch.randn_like(pred)
    loss = (fake * r_fake).sum() + (pred * r_pred).sum()
    loss.backward()

    tensors = [("A", A), ("fake", fake), ("pred", pred), ("r_fake", r_fake), ("r_pred", r_pred)]
    tensors += [(f"G.{k}", v) for k, v in G0]
    tensors += [(f"D.{k}", v) for k, v in D0]
    tensors += [(f"grad.G.{k}", p.grad) for k, p in G.named_parameters()]
    tensors += [(f"grad.D.{k}", p.grad) for k, p in D.named_parameters()]
    for prefix, net in (("G", G), ("D", D)):
        tensors += [(f"{prefix}.{k}.after", v) for k, v in net.named_buffers()
                    if k.endswith("running_mean") or k.endswith("running_var")]
    args = {"num_downs": 8, "ngf": 8, "ndf": 8, "n_layers": 3, "norm": "batch",
            "input_nc": 3, "output_nc": 3}
    note = ("Non-outermost UnetSkipConnectionBlocks return cat([x, model(x)], 1). (The reference's "
            "in-place LeakyReLU makes the skip carry leaky_relu(x, 0.2), but the parent applies ReLU "
            "next, so results are identical to a plain skip.) No Dropout layers. Generator and "
            "discriminator in train mode (BatchNorm batch statistics, momentum 0.1, eps 1e-5).")
    path = write_safetensors(FIXTURES / "network" / "unet8_patchgan.safetensors", tensors,
                             meta("network", args, "unet8_patchgan", seed,
                                  g_params=g_params, d_params=d_params, note=note))
    size = path.stat().st_size
    print(f"network fixture size: {size / 1e6:.2f} MB")
    assert size < 10 * 1000 * 1000, size


# --------------------------------------------------------------------------------------
# Self-check
# --------------------------------------------------------------------------------------

def self_check(sched_path, sched):
    for path, (m, arrays) in WRITTEN.items():
        rm, rarrays = read_safetensors(path)
        assert rm == m, path
        assert [n for n, _ in rarrays] == [n for n, _ in arrays], path
        for (n, a), (_, b) in zip(arrays, rarrays):
            assert a.shape == b.shape and np.array_equal(a, b), (path, n)
            assert np.all(np.isfinite(b)), (path, n)
        assert rm["torch_version"] == TORCH_VERSION
        json.loads(rm["args"])
    assert json.loads(Path(sched_path).read_text()) == sched
    # pipelines/ is written by make_pipeline_fixtures.py, images/ by make_image_fixtures.py,
    # cyclegan/ by make_cyclegan_fixtures.py, eval/ and ops/max_pool2d* by make_eval_fixtures.py.
    on_disk = sorted(p for p in FIXTURES.rglob("*.safetensors")
                     if p.parent.name not in ("pipelines", "images", "cyclegan", "torch_import", "eval")
                     and not p.name.startswith("max_pool2d"))
    assert on_disk == sorted(WRITTEN), "stale fixture files on disk"
    total = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    print(f"self-check OK: {len(WRITTEN)} safetensors files + schedules.json, "
          f"total {total / 1e6:.2f} MB under {FIXTURES.relative_to(ROOT)}")


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    print(f"torch {TORCH_VERSION}")
    check_reference_param_counts()
    make_ops()
    make_modules()
    make_adam()
    sched_path, sched = make_schedules()
    make_network()
    self_check(sched_path, sched)


if __name__ == "__main__":
    main()
