#!/usr/bin/env python3
"""Golden fixtures of BicycleGAN's first training steps for `translate` (Swift BicycleGAN).

What it makes (relative to the repository root):

  Tests/Fixtures/pipelines/bicycle_steps_<where_add>.safetensors   where_add in all, input

The reference is junyanz/BicycleGAN (models/bicycle_gan_model.py, models/networks.py, its
default options). The networks are rebuilt here from that description, at small width:

  G   the U-Net with the code z added at every level (`G_Unet_add_all`) or at the input only
      (`G_Unet_add_input`), num_downs 6 (64x64 images reach a 1x1 bottleneck), ngf 2, nz 8,
      InstanceNorm (affine off), ReLU up / LeakyReLU(0.2) down, transposed-conv upsampling,
      no dropout, every conv with a bias. add_all blocks concatenate z to their input before
      the down conv and return cat([up(...), x]); add_input is a plain U-Net on
      cat([A, z]) whose blocks return cat([model(x), x]).
  E   `E_ResNet` (VAE-like: fc -> mu, fcVar -> logvar), nef 2, n_blocks 3 (so 64x64 images
      end at 8x8 before the AvgPool2d(8); resnet_256 is n_blocks 5 at 256), InstanceNorm,
      LeakyReLU(0.2).
  D, D2  `D_NLayersMulti` with n_layers 3 and 2 scales (basic_256_multi), ndf 2 (the second
      scale round(2/2) = 1), InstanceNorm, 3 input channels (conditional_D off), the second
      scale on AvgPool2d(3, 2, 1, count_include_pad=False) of the input.

These builders were checked against the reference's own classes (networks.py at commit
40b9d52): the same state-dict keys and shapes, and the same outputs for the same weights;
at full size they count 54,794,627 (G add_all), 54,417,795 (G add_input), 2,590,032 (E
resnet_256) and 3,458,978 (each D) parameters.

Init: the reference's init_weights('xavier', 0.02): xavier_normal_(gain 0.02) on every Conv,
ConvTranspose and Linear weight, biases 0 (torch.manual_seed(0) first). Four Adams (G, E, D,
D2), lr 2e-4, betas (0.5, 0.999). Every step uses the same batch (the reference's default
size 2) A, B = torch.rand(2, 3, 64, 64) * 2 - 1 and its own eps_t, z_t = torch.randn(1, 8)
(the half batch), passed in so that both sides use the same numbers, and follows `optimize_parameters`:

    A1, B1 = A[:1], B[:1];  B2 = B[1:]
    mu, logvar = E(B1);  z_enc = eps * exp(logvar / 2) + mu
    fake_enc = G(A1, z_enc);  fake_rand = G(A1, z)        # A1 for both, as the reference
    mu2 = E(fake_rand)[0]
    # update_G_and_E: D, D2 frozen
    G_GAN = GAN(D(fake_enc), True);  G_GAN2 = GAN(D2(fake_rand), True)
    kl = -0.5 * 0.01 * sum(1 + logvar - mu^2 - exp(logvar));  G_L1 = 10 * L1(fake_enc, B1)
    (G_GAN + G_GAN2 + G_L1 + kl).backward(retain_graph=True)
    E frozen;  z_L1 = 0.5 * L1(mu2, z);  z_L1.backward();  E unfrozen
    optE.step(); optG.step()
    # update_D
    D: loss_D = GAN(D(fake_enc.detach()), False) + GAN(D(B1), True);  step
    D2: loss_D2 = GAN(D2(fake_rand.detach()), False) + GAN(D2(B2), True);  step

GAN = LSGAN (MSE to 1 or 0) summed over the scales. The script checks that freezing E after
mu2's graph was recorded keeps the latent loss out of E's gradients (as the reference
intends), by comparing E's gradients with and without the z_L1 backward.

Tensors (all F32, in this order):
  G.<key>, E.<key>, D.<key>, D2.<key>   state dict before step 1
  A, B, eps1, z1, eps2, z2, eps3, z3      the batch and each step's codes
  losses1..losses3     [G_GAN, D, G_GAN2, D2, G_L1, z_L1, kl] (the reference's loss_names)
  grad1.G.<name>, grad1.E.<name>, grad1.D.<name>, grad1.D2.<name>
                       every parameter's gradient at step 1, just before its optimiser's step
                       (G and E: all of update_G_and_E's losses; D, D2: their own). Adam's first
                       steps move every weight by about lr whatever its gradient's size, so
                       parameters whose true gradient is zero (the biases of convs followed by
                       InstanceNorm) or nearly so move by rounding noise; the gradients are the
                       sharp check of which loss reaches which network.
  after.G.<key>, ...   every state entry after step 3

Metadata: `op` = "bicycle_steps", `args` (JSON), `torch_version`, `case`, `seed`, `steps`,
`note`. File writer and reader: make_fixtures.py (imported). Deterministic: one thread,
deterministic algorithms.

How to run (from anywhere):

    /path/to/venv/bin/python tools/make_bicycle_fixtures.py
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402  (writer, reader, metadata)
from make_cyclegan_fixtures import set_requires_grad, state  # noqa: E402

PIPELINES = mf.FIXTURES / "pipelines"
SEED = 0
STEPS = 3
MAX_BYTES = 800 * 1000


def fixture_args(where_add):
    return {"where_add": where_add, "num_downs": 6, "ngf": 2, "nef": 2, "ndf": 2, "nz": 8,
            "e_blocks": 3, "n_layers_d": 3, "num_ds": 2, "norm": "instance", "gan_mode": "lsgan",
            "lambda_l1": 10.0, "lambda_kl": 0.01, "lambda_z": 0.5, "lr": 2e-4, "beta1": 0.5,
            "batch": 2, "size": 64, "init": "xavier", "init_gain": 0.02}


def norm(c):
    return nn.InstanceNorm2d(c, affine=False, track_running_stats=False)


def code_planes(x, z):
    """z (N, nz) repeated over x's planes: (N, nz, H, W)."""
    return z.view(z.size(0), z.size(1), 1, 1).expand(z.size(0), z.size(1), x.size(2), x.size(3))


class ZLevel(nn.Module):
    """One level of the add-all U-Net: [x, z] -> down -> (inner level) -> up, skip x."""

    def __init__(self, in_nc, outer, inner, nz, sub=None, outermost=False):
        super().__init__()
        self.outermost, self.nz = outermost, nz
        conv = nn.Conv2d(in_nc + nz, inner, kernel_size=4, stride=2, padding=1)
        if outermost:
            down = [conv]
            up = [nn.ReLU(True), nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1), nn.Tanh()]
        elif sub is None:
            down = [nn.LeakyReLU(0.2, True), conv]
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, 2, 1), norm(outer)]
        else:
            down = [nn.LeakyReLU(0.2, True), conv, norm(inner)]
            up = [nn.ReLU(True), nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1), norm(outer)]
        self.down = nn.Sequential(*down)
        self.submodule = sub
        self.up = nn.Sequential(*up)

    def forward(self, x, z):
        h = self.down(torch.cat([x, code_planes(x, z)], 1) if self.nz > 0 else x)
        if self.submodule is not None:
            h = self.submodule(h, z)
        y = self.up(h)
        return y if self.outermost else torch.cat([y, x], 1)


class AddAllUnet(nn.Module):
    def __init__(self, in_nc, out_nc, nz, num_downs, ngf):
        super().__init__()
        level = ZLevel(8 * ngf, 8 * ngf, 8 * ngf, nz)
        for _ in range(num_downs - 5):
            level = ZLevel(8 * ngf, 8 * ngf, 8 * ngf, nz, level)
        for outer, inner in ((4 * ngf, 8 * ngf), (2 * ngf, 4 * ngf), (ngf, 2 * ngf)):
            level = ZLevel(outer, outer, inner, nz, level)
        self.model = ZLevel(in_nc, out_nc, ngf, nz, level, outermost=True)

    def forward(self, x, z):
        return self.model(x, z)


class PlainLevel(nn.Module):
    """One level of the add-input U-Net (keys model.<i>), returning cat([model(x), x])."""

    def __init__(self, outer, inner, in_nc=None, sub=None, outermost=False):
        super().__init__()
        self.outermost = outermost
        conv = nn.Conv2d(in_nc or outer, inner, kernel_size=4, stride=2, padding=1)
        if outermost:
            layers = [conv, sub, nn.ReLU(True), nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1), nn.Tanh()]
        elif sub is None:
            layers = [nn.LeakyReLU(0.2, True), conv, nn.ReLU(True),
                      nn.ConvTranspose2d(inner, outer, 4, 2, 1), norm(outer)]
        else:
            layers = [nn.LeakyReLU(0.2, True), conv, norm(inner), sub, nn.ReLU(True),
                      nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1), norm(outer)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([self.model(x), x], 1)


class AddInputUnet(nn.Module):
    def __init__(self, in_nc, out_nc, nz, num_downs, ngf):
        super().__init__()
        self.nz = nz
        level = PlainLevel(8 * ngf, 8 * ngf)
        for _ in range(num_downs - 5):
            level = PlainLevel(8 * ngf, 8 * ngf, sub=level)
        for outer, inner in ((4 * ngf, 8 * ngf), (2 * ngf, 4 * ngf), (ngf, 2 * ngf)):
            level = PlainLevel(outer, inner, sub=level)
        self.model = PlainLevel(out_nc, ngf, in_nc=in_nc + nz, sub=level, outermost=True)

    def forward(self, x, z):
        return self.model(torch.cat([x, code_planes(x, z)], 1))


class EncoderBlock(nn.Module):
    """Residual down block: norm, lrelu, conv3, norm, lrelu, conv3 + avgpool; shortcut avgpool + conv1."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Sequential(norm(cin), nn.LeakyReLU(0.2, True), nn.Conv2d(cin, cin, 3, 1, 1),
                                  norm(cin), nn.LeakyReLU(0.2, True),
                                  nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.AvgPool2d(2, 2)))
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, 1, 0))

    def forward(self, x):
        return self.conv(x) + self.shortcut(x)


class Encoder(nn.Module):
    def __init__(self, in_nc, nz, nef, n_blocks):
        super().__init__()
        layers = [nn.Conv2d(in_nc, nef, 4, 2, 1)]
        width = nef
        for n in range(1, n_blocks):
            width = nef * min(4, n + 1)
            layers.append(EncoderBlock(nef * min(4, n), width))
        layers += [nn.LeakyReLU(0.2, True), nn.AvgPool2d(8)]
        # Registered in the reference's order (fc, fcVar, conv): the state dict's order.
        self.fc = nn.Sequential(nn.Linear(width, nz))
        self.fcVar = nn.Sequential(nn.Linear(width, nz))
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        h = self.conv(x).view(x.size(0), -1)
        return self.fc(h), self.fcVar(h)


def patch_layers(in_nc, ndf, n_layers):
    seq = [nn.Conv2d(in_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers):
        prev, mult = mult, min(2 ** n, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1), norm(ndf * mult), nn.LeakyReLU(0.2, True)]
    prev, mult = mult, min(2 ** n_layers, 8)
    seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1), norm(ndf * mult), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
    return seq


class MultiD(nn.Module):
    def __init__(self, in_nc, ndf, n_layers, num_d):
        super().__init__()
        self.num_d = num_d
        for i in range(num_d):
            self.add_module(f"model_{i}", nn.Sequential(*patch_layers(in_nc, int(round(ndf / 2 ** i)), n_layers)))
        self.down = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)

    def forward(self, x):
        out = []
        for i in range(self.num_d):
            out.append(getattr(self, f"model_{i}")(x))
            if i + 1 < self.num_d:
                x = self.down(x)
        return out


def init_xavier(net, gain):
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def gan_loss(preds, is_real):
    return sum(nn.functional.mse_loss(p, torch.tensor(1.0 if is_real else 0.0).expand_as(p)) for p in preds)


def make_bicycle_steps(where_add):
    a = fixture_args(where_add)
    torch.manual_seed(SEED)
    Unet = AddAllUnet if where_add == "all" else AddInputUnet
    G = Unet(3, 3, a["nz"], a["num_downs"], a["ngf"])
    E = Encoder(3, a["nz"], a["nef"], a["e_blocks"])
    D = MultiD(3, a["ndf"], a["n_layers_d"], a["num_ds"])
    D2 = MultiD(3, a["ndf"], a["n_layers_d"], a["num_ds"])
    nets = {"G": G, "E": E, "D": D, "D2": D2}
    for net in nets.values():
        init_xavier(net, a["init_gain"])
        net.train()
    opt = {k: torch.optim.Adam(n.parameters(), lr=a["lr"], betas=(a["beta1"], 0.999)) for k, n in nets.items()}
    half = a["batch"] // 2

    tensors = [(f"{k}.{n}", v) for k, net in nets.items() for n, v in state(net)]
    # One batch for all steps (the fixture stays small); fresh codes every step.
    A = torch.rand(a["batch"], 3, a["size"], a["size"]) * 2 - 1
    B = torch.rand(a["batch"], 3, a["size"], a["size"]) * 2 - 1
    tensors += [("A", A), ("B", B)]
    grads = []
    for t in range(1, STEPS + 1):
        eps = torch.randn(half, a["nz"])
        z = torch.randn(half, a["nz"])
        tensors += [(f"eps{t}", eps), (f"z{t}", z)]
        A1, B1, B2 = A[:half], B[:half], B[half:]

        mu, logvar = E(B1)
        z_enc = eps * torch.exp(logvar * 0.5) + mu
        fake_enc = G(A1, z_enc)
        fake_rand = G(A1, z)
        mu2 = E(fake_rand)[0]

        set_requires_grad([D, D2], False)
        opt["E"].zero_grad()
        opt["G"].zero_grad()
        g_gan = gan_loss(D(fake_enc), True)
        g_gan2 = gan_loss(D2(fake_rand), True)
        kl = torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) * (-0.5 * a["lambda_kl"])
        g_l1 = nn.functional.l1_loss(fake_enc, B1) * a["lambda_l1"]
        (g_gan + g_gan2 + g_l1 + kl).backward(retain_graph=True)
        e_grads = [p.grad.clone() for p in E.parameters()]
        set_requires_grad([E], False)
        z_l1 = nn.functional.l1_loss(mu2, z) * a["lambda_z"]
        z_l1.backward()
        set_requires_grad([E], True)
        assert all(torch.equal(g, p.grad) for g, p in zip(e_grads, E.parameters())), "z_L1 reached E"
        if t == 1:
            grads += [(f"grad1.{k}.{n}", p.grad.clone()) for k in ("G", "E") for n, p in nets[k].named_parameters()]
        opt["E"].step()
        opt["G"].step()

        set_requires_grad([D, D2], True)
        losses_d = []
        for name, net, real, fake in (("D", D, B1, fake_enc), ("D2", D2, B2, fake_rand)):
            opt[name].zero_grad()
            loss = gan_loss(net(fake.detach()), False) + gan_loss(net(real), True)
            loss.backward()
            if t == 1:
                grads += [(f"grad1.{name}.{n}", p.grad.clone()) for n, p in net.named_parameters()]
            opt[name].step()
            losses_d.append(loss)

        ls = torch.stack([g_gan, losses_d[0], g_gan2, losses_d[1], g_l1, z_l1, kl]).detach().clone()
        tensors.append((f"losses{t}", ls))
        print(f"  {where_add} step {t}: " + "  ".join(f"{n} {v:.6f}" for n, v in
              zip(["G_GAN", "D", "G_GAN2", "D2", "G_L1", "z_L1", "kl"], ls.tolist())))

    tensors += grads
    tensors += [(f"after.{k}.{n}", v) for k, net in nets.items() for n, v in state(net)]
    note = ("BicycleGAN optimize_parameters x3 (forward, update_G_and_E, update_D) with the "
            "reference's defaults at small width; eps<t>, z<t> are the reparameterisation noise "
            "and the random code of step t. losses<t> = [G_GAN, D, G_GAN2, D2, G_L1, z_L1, kl], "
            "lambdas applied. D losses fake + real, not halved.")
    case = f"bicycle_steps_{where_add}"
    counts = {f"{k.lower()}_params": mf.n_params(n) for k, n in nets.items()}
    path = mf.write_safetensors(PIPELINES / f"{case}.safetensors", tensors,
                                mf.meta("bicycle_steps", a, case, SEED, steps=STEPS, note=note, **counts))
    size = path.stat().st_size
    print(f"  {path.relative_to(mf.ROOT)}: {size:,} bytes ({counts})")
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
        names = [n for n, _ in rarrays]
        before = [n for n in names if n.split(".")[0] in ("G", "E", "D", "D2")]
        after = [n for n in names if n.startswith("after.")]
        assert after == ["after." + n for n in before], path
        for t in range(1, STEPS + 1):
            assert dict(rarrays)[f"losses{t}"].shape == (7,)
    print(f"self-check OK: {len(paths)} files under {PIPELINES.relative_to(mf.ROOT)}")


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    print(f"torch {mf.TORCH_VERSION}")
    self_check([make_bicycle_steps(w) for w in ("all", "input")])


if __name__ == "__main__":
    main()
