#!/usr/bin/env python3
"""Golden fixtures of the CycleGAN networks and training step for `translate`.

What it makes (relative to the repository root):

  Tests/Fixtures/cyclegan/resnet_small.safetensors    ResnetGenerator forward + backward
  Tests/Fixtures/cyclegan/cyclegan_steps.safetensors  the first 3 CycleGAN training steps

1. resnet_small: the reference `ResnetGenerator(3, 3, ngf=4, norm=InstanceNorm2d,
   use_dropout=False, n_blocks=2)` (reflect padding), torch.manual_seed(0), then
   init_weights normal(0, 0.02) as the reference, then every bias replaced by
   randn * 0.1 (so that bias gradients are not trivially tied to zero-initialised values).
   On x = randn(1, 3, 20, 20): out = G(x); r = randn_like(out); loss = (out * r).sum();
   backward.
   Tensors: `G.<key>` (state dict), `x`, `out`, `r`, `grad.x`, `grad.G.<key>`; plus an odd
   size case `x_odd` (1, 3, 19, 23) and `out_odd` = G on x_odd reflect-padded to 20 x 24
   (pad after: F.pad(x, (0, 1, 0, 1), mode="reflect"), i.e. left/top = pad // 2 = 0) and
   cropped back to 19 x 23: what the Swift ResnetGenerator does for sides that are not
   multiples of 4 (the reference itself fails on them).

2. cyclegan_steps: the reference CycleGANModel on a tiny problem. G_A, G_B =
   ResnetGenerator(3, 3, ngf 4, InstanceNorm, no dropout, n_blocks 2); D_A, D_B =
   NLayerDiscriminator(3, ndf 4, n_layers 3, InstanceNorm); built in that order after
   torch.manual_seed(0), each followed by init_weights normal(0, 0.02) (biases 0).
   optG = Adam(chain(G_A, G_B) params, lr 2e-4, betas (0.5, 0.999)), optD likewise over
   chain(D_A, D_B). LSGAN (MSE against 1 / 0 expanded like the prediction), lambda_A =
   lambda_B = 10, lambda_identity 0.5, ImagePool(50) for fake_A and fake_B (its first 50
   queries return the new image, so 3 steps need no randomness from it). Three steps; step
   t draws real_A_t = rand(1, 3, 24, 24) * 2 - 1, then real_B_t likewise, and runs the
   reference's optimize_parameters:

       fake_B = G_A(A); rec_A = G_B(fake_B); fake_A = G_B(B); rec_B = G_A(fake_A)
       set_requires_grad([D_A, D_B], False); optG.zero_grad()
       idt_A = G_A(B); loss_idt_A = L1(idt_A, B) * lambda_B * lambda_idt
       idt_B = G_B(A); loss_idt_B = L1(idt_B, A) * lambda_A * lambda_idt
       loss_G_A = MSE(D_A(fake_B), 1); loss_G_B = MSE(D_B(fake_A), 1)
       loss_cycle_A = L1(rec_A, A) * lambda_A; loss_cycle_B = L1(rec_B, B) * lambda_B
       loss_G = sum of the six; loss_G.backward(); optG.step()
       set_requires_grad([D_A, D_B], True); optD.zero_grad()
       fB = pool_B.query(fake_B)
       loss_D_A = 0.5 * (MSE(D_A(B), 1) + MSE(D_A(fB.detach()), 0)); loss_D_A.backward()
       fA = pool_A.query(fake_A)
       loss_D_B = 0.5 * (MSE(D_B(A), 1) + MSE(D_B(fA.detach()), 0)); loss_D_B.backward()
       optD.step()

   Tensors (in this order): `G_A.<key>`, `G_B.<key>`, `D_A.<key>`, `D_B.<key>` (before step
   1; InstanceNorm has no parameters or buffers, so these are conv weights and biases only),
   `A1, B1, A2, B2, A3, B3` (1, 3, 24, 24), per step t (computed before that step's
   updates, for debugging) `fake_B<t>, rec_A<t>, fake_A<t>, rec_B<t>, idt_A<t>, idt_B<t>`,
   `losses<t>` = [D_A, G_A, cycle_A, idt_A, D_B, G_B, cycle_B, idt_B] (shape [8]; the
   reference's loss_names order, each already weighted), `after.<net>.<key>` for every
   state entry after step 3, and `grad1.<net>.<param>` for every parameter's gradient as
   step 1 left it (G's from backward_G, D's from backward_D_A / backward_D_B).

File format, writer, reader and metadata layout are those of make_fixtures.py (imported):
`op`, `args` (JSON), `torch_version`, `case`, `seed` (0), plus `g_params`, `d_params`,
`steps`, `note` for cyclegan_steps. Deterministic: single thread, deterministic algorithms;
a re-run with the same torch version on the same kind of CPU gives byte-identical files
(PyTorch's CPU kernels round differently per CPU: the files committed on 2026-12-01 come
from an Intel Xeon; the earlier AMD Zen 5 run differed from them by up to ~2e-6 in the
step-3 intermediates and parameters, 3e-8 in resnet_small). At the end every file is
read back and compared with what was written.

The reference `ResnetGenerator` / `ResnetBlock` are re-written here (with the reference's
module layout, so the state-dict keys match) and imported by train_torch_cyclegan.py.

How to run (from anywhere):

    /path/to/venv/bin/python tools/make_cyclegan_fixtures.py
"""

import itertools
import json
import random
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402  (writer, reader, NLayerDiscriminator, init_weights)

CYCLEGAN = mf.FIXTURES / "cyclegan"
SEED = 0
STEPS = 3
MAX_BYTES = 1500 * 1000


# --------------------------------------------------------------------------------------
# Reference networks (junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py)
# --------------------------------------------------------------------------------------

class ResnetBlock(nn.Module):
    """conv_block = [ReflectionPad2d(1), Conv 3x3, norm, ReLU, (Dropout 0.5),
    ReflectionPad2d(1), Conv 3x3, norm]; forward returns x + conv_block(x)."""

    def __init__(self, dim, norm_layer, use_dropout, use_bias):
        super().__init__()
        block = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
                 norm_layer(dim), nn.ReLU(True)]
        if use_dropout:
            block += [nn.Dropout(0.5)]
        block += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
                  norm_layer(dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, ngf=64, norm_layer=nn.BatchNorm2d, use_dropout=False,
                 n_blocks=6):
        assert n_blocks >= 0
        super().__init__()
        use_bias = norm_layer == nn.InstanceNorm2d
        model = [nn.ReflectionPad2d(3),
                 nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=use_bias),
                 norm_layer(ngf), nn.ReLU(True)]
        n_downsampling = 2
        for i in range(n_downsampling):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1,
                                bias=use_bias),
                      norm_layer(ngf * mult * 2), nn.ReLU(True)]
        mult = 2 ** n_downsampling
        for i in range(n_blocks):
            model += [ResnetBlock(ngf * mult, norm_layer=norm_layer, use_dropout=use_dropout,
                                  use_bias=use_bias)]
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            model += [nn.ConvTranspose2d(ngf * mult, int(ngf * mult / 2), kernel_size=3, stride=2,
                                         padding=1, output_padding=1, bias=use_bias),
                      norm_layer(int(ngf * mult / 2)), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3)]
        model += [nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0)]
        model += [nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class ImagePool:
    """The reference's history buffer (util/image_pool.py), with Python's `random` module."""

    def __init__(self, pool_size):
        self.pool_size = pool_size
        self.num_imgs = 0
        self.images = []

    def query(self, images):
        if self.pool_size == 0:
            return images
        return_images = []
        for image in images:
            image = torch.unsqueeze(image.data, 0)
            if self.num_imgs < self.pool_size:
                self.num_imgs += 1
                self.images.append(image)
                return_images.append(image)
            else:
                p = random.uniform(0, 1)
                if p > 0.5:
                    random_id = random.randint(0, self.pool_size - 1)
                    tmp = self.images[random_id].clone()
                    self.images[random_id] = image
                    return_images.append(tmp)
                else:
                    return_images.append(image)
        return torch.cat(return_images, 0)


def check_reference_param_counts():
    for n_blocks, expected in [(9, 11_378_179), (6, 7_837_699)]:
        g = ResnetGenerator(3, 3, 64, norm_layer=nn.InstanceNorm2d, n_blocks=n_blocks)
        assert mf.n_params(g) == expected, (n_blocks, mf.n_params(g))
    d = mf.NLayerDiscriminator(3, 64, 3, norm_layer=nn.InstanceNorm2d)
    assert mf.n_params(d) == 2_764_737, mf.n_params(d)
    print("resnet_9blocks 11,378,179 / resnet_6blocks 7,837,699 / PatchGAN 3ch instance "
          "2,764,737 params: OK")


def state(net):
    return [(k, v.detach().clone()) for k, v in net.state_dict().items()
            if not k.endswith("num_batches_tracked")]


def set_requires_grad(nets, flag):
    for net in nets:
        for p in net.parameters():
            p.requires_grad = flag


# --------------------------------------------------------------------------------------
# 1. ResnetGenerator forward / backward
# --------------------------------------------------------------------------------------

def cyclegan_step(nets, optG, optD, pools, A, B, gan, L1, lA, lB, lI):
    """One CycleGANModel.optimize_parameters of the reference; the single copy used by this
    script's fixtures and by train_torch_cyclegan.py. nets = (G_A, G_B, D_A, D_B), pools =
    (pool_A, pool_B). Returns the 8 losses [D_A, G_A, cycle_A, idt_A, D_B, G_B, cycle_B,
    idt_B] and the intermediates of the step (before its updates)."""
    G_A, G_B, D_A, D_B = nets
    pool_A, pool_B = pools
    fake_B = G_A(A)
    rec_A = G_B(fake_B)
    fake_A = G_B(B)
    rec_B = G_A(fake_A)
    # G_A and G_B, with both discriminators frozen
    set_requires_grad([D_A, D_B], False)
    optG.zero_grad()
    if lI > 0:
        idt_A = G_A(B)
        loss_idt_A = L1(idt_A, B) * lB * lI
        idt_B = G_B(A)
        loss_idt_B = L1(idt_B, A) * lA * lI
    else:
        idt_A = idt_B = None
        loss_idt_A = loss_idt_B = torch.zeros(())
    loss_G_A = gan(D_A(fake_B), True)
    loss_G_B = gan(D_B(fake_A), True)
    loss_cycle_A = L1(rec_A, A) * lA
    loss_cycle_B = L1(rec_B, B) * lB
    loss_G = loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
    loss_G.backward()
    optG.step()
    # D_A and D_B on real images and on fakes from the history buffers
    set_requires_grad([D_A, D_B], True)
    optD.zero_grad()
    fB = pool_B.query(fake_B)
    loss_D_A = 0.5 * (gan(D_A(B), True) + gan(D_A(fB.detach()), False))
    loss_D_A.backward()
    fA = pool_A.query(fake_A)
    loss_D_B = 0.5 * (gan(D_B(A), True) + gan(D_B(fA.detach()), False))
    loss_D_B.backward()
    optD.step()
    losses = [loss_D_A, loss_G_A, loss_cycle_A, loss_idt_A, loss_D_B, loss_G_B, loss_cycle_B, loss_idt_B]
    inter = {"fake_B": fake_B, "rec_A": rec_A, "fake_A": fake_A, "rec_B": rec_B, "idt_A": idt_A, "idt_B": idt_B}
    return losses, inter


def make_resnet_small():
    args = {"input_nc": 3, "output_nc": 3, "ngf": 4, "n_blocks": 2, "norm": "instance",
            "use_dropout": False, "padding_type": "reflect", "x_shape": [1, 3, 20, 20],
            "x_odd_shape": [1, 3, 19, 23], "bias_init": "randn * 0.1"}
    torch.manual_seed(SEED)
    G = ResnetGenerator(3, 3, ngf=args["ngf"], norm_layer=nn.InstanceNorm2d, use_dropout=False,
                        n_blocks=args["n_blocks"])
    mf.init_weights(G)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith(".bias"):
                p.copy_(torch.randn_like(p) * 0.1)
    G.train()
    x = torch.randn(*args["x_shape"], requires_grad=True)
    out = G(x)
    r = torch.randn_like(out)
    (out * r).sum().backward()

    x_odd = torch.randn(*args["x_odd_shape"])
    with torch.no_grad():
        padded = F.pad(x_odd, (0, 1, 0, 1), mode="reflect")      # (1, 3, 20, 24)
        out_odd = G(padded)[:, :, :19, :23]

    tensors = [(f"G.{k}", v) for k, v in state(G)]
    tensors += [("x", x), ("out", out), ("r", r), ("grad.x", x.grad)]
    tensors += [(f"grad.G.{k}", p.grad) for k, p in G.named_parameters()]
    tensors += [("x_odd", x_odd), ("out_odd", out_odd)]
    note = ("reference ResnetGenerator (reflect padding), train mode (InstanceNorm has no "
            "running stats); init normal(0, 0.02) then biases randn * 0.1; loss = (out * r).sum(). "
            "out_odd: x_odd reflect-padded by (left 0, right 1, top 0, bottom 1) to 20 x 24, "
            "G, cropped to [:19, :23].")
    case = "resnet_small"
    path = mf.write_safetensors(CYCLEGAN / f"{case}.safetensors", tensors,
                                mf.meta("resnet_generator", args, case, SEED, note=note,
                                        g_params=mf.n_params(G)))
    print(f"  {path.relative_to(mf.ROOT)}: {path.stat().st_size:,} bytes "
          f"(G params {mf.n_params(G):,})")
    assert path.stat().st_size < MAX_BYTES
    return path


# --------------------------------------------------------------------------------------
# 2. CycleGAN training steps
# --------------------------------------------------------------------------------------

def make_cyclegan_steps():
    a = {"ngf": 4, "ndf": 4, "n_blocks": 2, "n_layers": 3, "norm": "instance",
         "use_dropout": False, "gan_mode": "lsgan", "lambda_A": 10.0, "lambda_B": 10.0,
         "lambda_identity": 0.5, "pool_size": 50, "lr": 2e-4, "beta1": 0.5, "batch": 1,
         "size": 24, "steps": STEPS,
         "losses": ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"]}
    random.seed(SEED)   # the pools' generator (unused in the first pool_size queries)
    torch.manual_seed(SEED)
    G_A = ResnetGenerator(3, 3, a["ngf"], norm_layer=nn.InstanceNorm2d, n_blocks=a["n_blocks"])
    mf.init_weights(G_A)
    G_B = ResnetGenerator(3, 3, a["ngf"], norm_layer=nn.InstanceNorm2d, n_blocks=a["n_blocks"])
    mf.init_weights(G_B)
    D_A = mf.NLayerDiscriminator(3, a["ndf"], a["n_layers"], norm_layer=nn.InstanceNorm2d)
    mf.init_weights(D_A)
    D_B = mf.NLayerDiscriminator(3, a["ndf"], a["n_layers"], norm_layer=nn.InstanceNorm2d)
    mf.init_weights(D_B)
    nets = {"G_A": G_A, "G_B": G_B, "D_A": D_A, "D_B": D_B}
    for n in nets.values():
        n.train()
    optG = torch.optim.Adam(itertools.chain(G_A.parameters(), G_B.parameters()), lr=a["lr"],
                            betas=(a["beta1"], 0.999))
    optD = torch.optim.Adam(itertools.chain(D_A.parameters(), D_B.parameters()), lr=a["lr"],
                            betas=(a["beta1"], 0.999))
    mse, L1 = nn.MSELoss(), nn.L1Loss()

    def gan(pred, is_real):
        return mse(pred, torch.tensor(1.0 if is_real else 0.0).expand_as(pred))

    pool_A, pool_B = ImagePool(a["pool_size"]), ImagePool(a["pool_size"])
    lA, lB, lI = a["lambda_A"], a["lambda_B"], a["lambda_identity"]

    tensors = [(f"{n}.{k}", v) for n, net in nets.items() for k, v in state(net)]
    data, inter, losses = [], [], []
    for t in range(1, STEPS + 1):
        A = torch.rand(1, 3, a["size"], a["size"]) * 2 - 1
        B = torch.rand(1, 3, a["size"], a["size"]) * 2 - 1
        data += [(f"A{t}", A), (f"B{t}", B)]

        ls_list, step_inter = cyclegan_step((G_A, G_B, D_A, D_B), optG, optD, (pool_A, pool_B), A, B,
                                            gan, L1, lA, lB, lI)
        inter += [(f"{n}{t}", step_inter[n].detach().clone())
                  for n in ["fake_B", "rec_A", "fake_A", "rec_B", "idt_A", "idt_B"]]
        ls = torch.stack(ls_list).detach().clone()
        losses.append((f"losses{t}", ls))
        if t == 1:
            # every parameter's gradient as step 1 left it (G's from backward_G, D's from
            # backward_D_A / backward_D_B): a check that Adam's sign noise cannot blur
            grads1 = [(f"grad1.{n}.{k}", p.grad.detach().clone()) for n, net in nets.items()
                      for k, p in net.named_parameters()]
        print("  step %d: " % t + "  ".join(f"{n} {v:.6f}" for n, v in zip(a["losses"], ls.tolist())))

    tensors += data + inter + losses
    tensors += [(f"after.{n}.{k}", v) for n, net in nets.items() for k, v in state(net)]
    tensors += grads1
    g_params = mf.n_params(G_A)
    d_params = mf.n_params(D_A)
    note = ("CycleGANModel.optimize_parameters x3 (lsgan, lambda_A = lambda_B = 10, "
            "lambda_identity 0.5, pool 50): generators first (D_A, D_B frozen), one Adam over "
            "chain(G_A, G_B); then D_A on pool_B(fake_B), D_B on pool_A(fake_A), one Adam over "
            "chain(D_A, D_B). Nets built and init'd in the order G_A, G_B, D_A, D_B after "
            "manual_seed(0). losses<t> = [D_A, G_A, cycle_A, idt_A, D_B, G_B, cycle_B, idt_B]; "
            "intermediates <name><t> are from step t before its updates. Adam eps 1e-8.")
    case = "cyclegan_steps"
    path = mf.write_safetensors(CYCLEGAN / f"{case}.safetensors", tensors,
                                mf.meta("cyclegan_steps", a, case, SEED, steps=STEPS, note=note,
                                        g_params=g_params, d_params=d_params))
    size = path.stat().st_size
    print(f"  {path.relative_to(mf.ROOT)}: {size:,} bytes (G params {g_params:,} each, "
          f"D params {d_params:,} each)")
    assert size < MAX_BYTES, size
    return path


def self_check(paths):
    for path in paths:
        m, arrays = mf.WRITTEN[path]
        rm, rarrays = mf.read_safetensors(path)
        assert rm == m, path
        assert [n for n, _ in rarrays] == [n for n, _ in arrays], path
        for (n, x), (_, y) in zip(arrays, rarrays):
            assert x.shape == y.shape and np.array_equal(x, y), (path, n)
            assert np.all(np.isfinite(y)), (path, n)
        json.loads(rm["args"])
        assert rm["torch_version"] == mf.TORCH_VERSION
    steps = dict(mf.read_safetensors(CYCLEGAN / "cyclegan_steps.safetensors")[1])
    for t in range(1, STEPS + 1):
        assert steps[f"losses{t}"].shape == (8,)
    before = [n for n in steps if n.split(".")[0] in ("G_A", "G_B", "D_A", "D_B")]
    after = [n for n in steps if n.startswith("after.")]
    assert after == ["after." + n for n in before]
    grads1 = [n for n in steps if n.startswith("grad1.")]
    assert grads1 == ["grad1." + n for n in before if n.endswith((".weight", ".bias"))], grads1
    on_disk = sorted(CYCLEGAN.glob("*.safetensors"))
    assert on_disk == sorted(paths), "stale files in Tests/Fixtures/cyclegan"
    print(f"self-check OK: {len(paths)} files under {CYCLEGAN.relative_to(mf.ROOT)}")


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    print(f"torch {mf.TORCH_VERSION}")
    check_reference_param_counts()
    paths = [make_resnet_small(), make_cyclegan_steps()]
    self_check(paths)


if __name__ == "__main__":
    main()
