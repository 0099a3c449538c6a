#!/usr/bin/env python3
"""Golden fixtures of the gradient penalties for `translate` (WGAN-GP, R1), made with
torch.autograd.grad(..., create_graph=True).

What it makes (relative to the repository root):

  Tests/Fixtures/wgangp/penalty_<norm>.safetensors   norm in instance, none
  Tests/Fixtures/wgangp/pix2pix_steps_wgangp.safetensors

penalty_<norm>: our PatchGAN at small width (NLayerDiscriminator: n_layers 3, ndf 4,
6 input channels; convs after the first carry a bias iff norm != batch, as ours; `none`
is nn.Identity, so the indices of later layers do not move; InstanceNorm2d affine=False),
conv weights N(0, 0.2) and biases N(0, 0.1) (larger than the reference init, so that the
critic's input gradients are of order 1 and the penalty is not dominated by its -1),
real and fake = torch.rand(2, 6, 32, 32) * 2 - 1, eps = torch.rand(2, 1, 1, 1), then

    x_hat = (eps * real + (1 - eps) * fake).requires_grad_()
    g = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)[0]
    gp = ((g.flatten(1).pow(2).sum(1) + 1e-12).sqrt() - 1).pow(2).mean()
    gp.backward()                                    # grad.D.<key>
    x = real.requires_grad_(); g = autograd.grad(D(x).sum(), x, create_graph=True)[0]
    r1 = g.flatten(1).pow(2).sum(1).mean(); r1.backward()   # grad_r1.D.<key>

Tensors: D.<key>, real, fake, eps, x_hat, gp (0-d), grad.D.<key>, r1 (0-d), grad_r1.D.<key>.

pix2pix_steps_wgangp: the first three pix2pix steps of make_pipeline_fixtures.py's recipe
(U-Net num_downs 5, ngf 4; PatchGAN ndf 4; reference init; Adam 2e-4, (0.5, 0.999);
batches A_t, B_t = torch.rand(2, 3, 32, 32) * 2 - 1) with --gan-mode wgangp --norm
instance --lambda-gp 10 --n-critic 1 and our step:

    fake = G(A)
    loss_D_fake = D(cat(A, fake.detach())).mean(); loss_D_real = -D(cat(A, B)).mean()
    x_hat = eps * cat(A, B) + (1 - eps) * cat(A, fake.detach())      # the conditional pair
    loss_D = loss_D_fake + loss_D_real + 10 * gp(x_hat); loss_D.backward(); optD.step()
    loss_G_GAN = -D(cat(A, fake)).mean() (D frozen); loss_G = loss_G_GAN + 100 * L1(fake, B)

eps (2, 1, 1, 1) at step t are the next two draws of our RNG (xoshiro256** seeded by
splitmix64, `RNG.nextFloat`: (next() >> 40) / 2^24), seeded with `eps_seed` once before
step 1, so the Swift test passes the same generator. Tensors as pix2pix_steps_<mode> plus
eps1..eps3 and losses<t> = [G_GAN, G_L1, D_real, D_fake, D_gp, W_dist]
(W_dist = D(real).mean() - D(fake).mean() = -(D_real + D_fake)).

Deterministic (single thread, deterministic algorithms, torch.manual_seed(0)); the writer,
networks and init are make_fixtures.py's, the step helpers make_pipeline_fixtures.py's.

    /path/to/venv/bin/python tools/make_wgangp_fixtures.py
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402
import make_pipeline_fixtures as mp  # noqa: E402

OUT = mf.FIXTURES / "wgangp"
SEED = 0
EPS_SEED = 7
MAX_BYTES = 1000 * 1000
MASK = (1 << 64) - 1


class RNG:
    """The project's RNG (Sources/Tensors/RNG.swift): xoshiro256**, seeded by splitmix64."""

    def __init__(self, seed):
        z = seed
        s = []
        for _ in range(4):
            z = (z + 0x9E3779B97F4A7C15) & MASK
            x = z
            x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
            s.append(x ^ (x >> 31))
        self.s = s

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & MASK

    def next(self):
        s = self.s
        result = (self.rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def next_float(self):
        return np.float32((self.next() >> 40) * (1.0 / 16777216.0))


class PatchGAN(nn.Module):
    """Our NLayerDiscriminator (Sources/Pipelines/Networks/PatchGAN.swift)."""

    def __init__(self, input_nc, ndf, n_layers, norm):
        super().__init__()
        use_bias = norm != "batch"
        layer = {"instance": lambda c: nn.InstanceNorm2d(c), "none": lambda c: nn.Identity(),
                 "batch": lambda c: nn.BatchNorm2d(c)}[norm]
        seq = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=use_bias), layer(ndf * mult), nn.LeakyReLU(0.2)]
        prev, mult = mult, min(2 ** n_layers, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=use_bias), layer(ndf * mult), nn.LeakyReLU(0.2),
                nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


def penalty(D, x):
    g = torch.autograd.grad(D(x).sum(), x, create_graph=True)[0]
    return ((g.flatten(1).pow(2).sum(1) + 1e-12).sqrt() - 1).pow(2).mean()


def r1(D, x):
    g = torch.autograd.grad(D(x).sum(), x, create_graph=True)[0]
    return g.flatten(1).pow(2).sum(1).mean()


def param_grads(D, prefix):
    """Parameters a penalty does not depend on (the last bias; biases before a norm) get zeros."""
    return [(f"{prefix}.{k}", torch.zeros_like(p) if p.grad is None else p.grad.detach().clone())
            for k, p in D.named_parameters()]


def write(case, tensors, args, **extra):
    path = mf.write_safetensors(OUT / f"{case}.safetensors", tensors, mf.meta(case.split("_")[0], args, case, SEED, **extra))
    size = path.stat().st_size
    print(f"  {path.relative_to(mf.ROOT)}: {size:,} bytes")
    assert size < MAX_BYTES, size
    return path


def make_penalty(norm):
    args = {"input_nc": 6, "ndf": 4, "n_layers": 3, "norm": norm, "batch": 2, "size": 32}
    torch.manual_seed(SEED)
    D = PatchGAN(6, 4, 3, norm)
    for m in D.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.2)
            if m.bias is not None:
                nn.init.normal_(m.bias, 0.0, 0.1)
    real = torch.rand(2, 6, 32, 32) * 2 - 1
    fake = torch.rand(2, 6, 32, 32) * 2 - 1
    eps = torch.rand(2, 1, 1, 1)
    tensors = [(f"D.{k}", v) for k, v in mp.state(D)] + [("real", real), ("fake", fake), ("eps", eps)]
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_()
    gp = penalty(D, x_hat)
    gp.backward()
    tensors += [("x_hat", x_hat.detach().clone()), ("gp", gp.detach().clone())] + param_grads(D, "grad.D")
    D.zero_grad()
    value = r1(D, real.clone().requires_grad_())
    value.backward()
    tensors += [("r1", value.detach().clone())] + param_grads(D, "grad_r1.D")
    print(f"  {norm}: gp {gp.item():.6f}  r1 {value.item():.6f}")
    return write(f"penalty_{norm}", tensors, args,
                 note="gp = mean((sqrt(sum(grad^2) + 1e-12) - 1)^2) at x_hat; r1 = mean(sum(grad^2)) at real")


def make_pix2pix_wgangp():
    a = dict(mp.fixture_args("wgangp"), norm="instance", lambda_gp=10.0, n_critic=1, eps_seed=EPS_SEED)
    torch.manual_seed(SEED)
    G = mf.UnetGenerator(3, 3, a["num_downs"], ngf=a["ngf"], norm_layer=nn.InstanceNorm2d, use_dropout=False)
    D = PatchGAN(6, a["ndf"], a["n_layers"], "instance")
    mf.init_weights(G)
    mf.init_weights(D)
    G.train()
    D.train()
    optG = torch.optim.Adam(G.parameters(), lr=a["lr"], betas=(a["beta1"], 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=a["lr"], betas=(a["beta1"], 0.999))
    L1 = nn.L1Loss()
    rng = RNG(EPS_SEED)
    tensors = [(f"G.{k}", v) for k, v in mp.state(G)] + [(f"D.{k}", v) for k, v in mp.state(D)]
    data, losses = [], []
    for t in range(1, mp.STEPS + 1):
        A = torch.rand(a["batch"], 3, a["size"], a["size"]) * 2 - 1
        B = torch.rand(a["batch"], 3, a["size"], a["size"]) * 2 - 1
        eps = torch.tensor([rng.next_float() for _ in range(a["batch"])]).reshape(a["batch"], 1, 1, 1)
        data += [(f"A{t}", A), (f"B{t}", B), (f"eps{t}", eps)]
        fake = G(A)
        mp.set_requires_grad(D, True)
        optD.zero_grad()
        fake_pair, real_pair = torch.cat([A, fake.detach()], 1), torch.cat([A, B], 1)
        loss_D_fake = D(fake_pair).mean()
        loss_D_real = -D(real_pair).mean()
        x_hat = (eps * real_pair + (1 - eps) * fake_pair).requires_grad_()
        gp = penalty(D, x_hat)
        loss_D = loss_D_fake + loss_D_real + a["lambda_gp"] * gp
        loss_D.backward()
        optD.step()
        mp.set_requires_grad(D, False)
        optG.zero_grad()
        loss_G_GAN = -D(torch.cat([A, fake], 1)).mean()
        loss_G_L1 = L1(fake, B) * a["lambda_l1"]
        (loss_G_GAN + loss_G_L1).backward()
        optG.step()
        w = -(loss_D_real + loss_D_fake)
        ls = torch.stack([loss_G_GAN, loss_G_L1, loss_D_real, loss_D_fake, gp, w]).detach().clone()
        losses.append((f"losses{t}", ls))
        print(f"  wgangp step {t}: " + "  ".join(f"{n} {v:.6f}" for n, v in zip(["G_GAN", "G_L1", "D_real", "D_fake", "D_gp", "W_dist"], ls.tolist())))
    tensors += data + losses
    tensors += [(f"after.G.{k}", v) for k, v in mp.state(G)] + [(f"after.D.{k}", v) for k, v in mp.state(D)]
    return write("pix2pix_steps_wgangp", tensors, a, steps=mp.STEPS,
                 note="pix2pix with --gan-mode wgangp --norm instance: critic loss D(fake) - D(real) + 10 gp (not halved)")


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
    assert sorted(OUT.glob("*.safetensors")) == sorted(paths), "stale files in Tests/Fixtures/wgangp"
    print(f"self-check OK: {len(paths)} files under {OUT.relative_to(mf.ROOT)}")


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    print(f"torch {mf.TORCH_VERSION}")
    # Our RNG, checked against values the Swift side prints for RNG(seed: 0).
    paths = [make_penalty(n) for n in ("instance", "none")] + [make_pix2pix_wgangp()]
    self_check(paths)


if __name__ == "__main__":
    main()
