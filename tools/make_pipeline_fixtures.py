#!/usr/bin/env python3
"""Golden fixtures of whole training pipelines for `translate` (Swift pix2pix/CycleGAN).

What it makes (relative to the repository root):

  Tests/Fixtures/pipelines/pix2pix_steps_<gan_mode>.safetensors   gan_mode in vanilla, lsgan

The first three pix2pix training steps of the reference recipe on a tiny problem:
U-Net generator (num_downs 5, ngf 4, 3 -> 3 channels, BatchNorm, no dropout) and 70x70
PatchGAN (n_layers 3, ndf 4, 6 input channels, BatchNorm), reference init (conv weights
N(0, 0.02), biases 0, BatchNorm weight N(1, 0.02), bias 0), both in train mode, one
Adam(lr 2e-4, betas (0.5, 0.999)) for G and one for D. Each step t uses its own batch
A_t, B_t = torch.rand(2, 3, 32, 32) * 2 - 1 and follows the reference's
`Pix2PixModel.optimize_parameters`:

    fake = G(A)
    # D update
    set_requires_grad(D, True); optD.zero_grad()
    loss_D_fake = GAN(D(cat([A, fake.detach()], 1)), False)
    loss_D_real = GAN(D(cat([A, B], 1)), True)
    loss_D = 0.5 * (loss_D_fake + loss_D_real); loss_D.backward(); optD.step()
    # G update
    set_requires_grad(D, False); optG.zero_grad()
    loss_G_GAN = GAN(D(cat([A, fake], 1)), True)
    loss_G_L1 = L1(fake, B) * 100
    loss_G = loss_G_GAN + loss_G_L1; loss_G.backward(); optG.step()

GAN(pred, is_real): vanilla = BCEWithLogits(pred, ones/zeros like pred) (mean);
lsgan = MSE(pred, ones/zeros like pred) (mean). D runs three times per step in train mode,
so its BatchNorm running statistics are updated three times per step (G's once).

Tensors (all F32, in this order):
  G.<key>, D.<key>      state dict before step 1 (parameters and BatchNorm running stats;
                        num_batches_tracked skipped)
  A1, B1, A2, B2, A3, B3
  fake1, fake2, fake3   G(A_t) at step t (before that step's updates; for debugging)
  losses1..losses3      [loss_G_GAN, loss_G_L1 (already x100), loss_D_real, loss_D_fake]
  after.G.<key>, after.D.<key>   every state entry after step 3

Metadata: `op` = "pix2pix_steps", `args` (JSON: num_downs, ngf, ndf, n_layers, norm,
gan_mode, lambda_l1, lr, beta1, batch, size), `torch_version`, `case`, `seed` (0),
`steps` (3), `note`.

The file format and writer are those of make_fixtures.py (imported, not copied), as are
the U-Net / PatchGAN builders and init_weights. Deterministic: single thread, deterministic
algorithms, torch.manual_seed(0) before building the networks; a re-run with the same torch
version gives byte-identical files.

How to run (from anywhere):

    /path/to/venv/bin/python tools/make_pipeline_fixtures.py
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402  (writer, reader, networks, init)

PIPELINES = mf.FIXTURES / "pipelines"
SEED = 0
STEPS = 3
MAX_BYTES = 1000 * 1000


def fixture_args(gan_mode):
    return {"num_downs": 5, "ngf": 4, "ndf": 4, "n_layers": 3, "norm": "batch",
            "gan_mode": gan_mode, "lambda_l1": 100, "lr": 2e-4, "beta1": 0.5, "batch": 2,
            "size": 32}


def gan_loss(gan_mode):
    """The reference GANLoss for vanilla / lsgan: target tensor expanded like pred."""
    crit = {"vanilla": nn.BCEWithLogitsLoss(), "lsgan": nn.MSELoss()}[gan_mode]

    def loss(pred, is_real):
        target = torch.tensor(1.0 if is_real else 0.0).expand_as(pred)
        return crit(pred, target)
    return loss


def set_requires_grad(net, flag):
    for p in net.parameters():
        p.requires_grad = flag


def state(net):
    return [(k, v.detach().clone()) for k, v in net.state_dict().items()
            if not k.endswith("num_batches_tracked")]


def make_pix2pix_steps(gan_mode):
    a = fixture_args(gan_mode)
    torch.manual_seed(SEED)
    G = mf.UnetGenerator(3, 3, a["num_downs"], ngf=a["ngf"], use_dropout=False)
    D = mf.NLayerDiscriminator(6, ndf=a["ndf"], n_layers=a["n_layers"])
    mf.init_weights(G)
    mf.init_weights(D)
    G.train()
    D.train()
    assert not any(isinstance(m, nn.Dropout) for m in G.modules())
    optG = torch.optim.Adam(G.parameters(), lr=a["lr"], betas=(a["beta1"], 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=a["lr"], betas=(a["beta1"], 0.999))
    GAN = gan_loss(gan_mode)
    L1 = nn.L1Loss()

    tensors = [(f"G.{k}", v) for k, v in state(G)] + [(f"D.{k}", v) for k, v in state(D)]
    data, fakes, losses = [], [], []
    for t in range(1, STEPS + 1):
        A = torch.rand(a["batch"], 3, a["size"], a["size"]) * 2 - 1
        B = torch.rand(a["batch"], 3, a["size"], a["size"]) * 2 - 1
        data += [(f"A{t}", A), (f"B{t}", B)]

        fake = G(A)
        # D update
        set_requires_grad(D, True)
        optD.zero_grad()
        loss_D_fake = GAN(D(torch.cat([A, fake.detach()], 1)), False)
        loss_D_real = GAN(D(torch.cat([A, B], 1)), True)
        loss_D = 0.5 * (loss_D_fake + loss_D_real)
        loss_D.backward()
        optD.step()
        # G update
        set_requires_grad(D, False)
        optG.zero_grad()
        loss_G_GAN = GAN(D(torch.cat([A, fake], 1)), True)
        loss_G_L1 = L1(fake, B) * a["lambda_l1"]
        loss_G = loss_G_GAN + loss_G_L1
        loss_G.backward()
        optG.step()

        fakes.append((f"fake{t}", fake.detach().clone()))
        ls = torch.stack([loss_G_GAN, loss_G_L1, loss_D_real, loss_D_fake]).detach().clone()
        losses.append((f"losses{t}", ls))
        print(f"  {gan_mode} step {t}: G_GAN {ls[0]:.6f}  G_L1 {ls[1]:.6f}  "
              f"D_real {ls[2]:.6f}  D_fake {ls[3]:.6f}")

    tensors += data + fakes + losses
    tensors += [(f"after.G.{k}", v) for k, v in state(G)]
    tensors += [(f"after.D.{k}", v) for k, v in state(D)]
    note = ("pix2pix optimize_parameters x3: D update (fake detached, loss 0.5*(fake+real)), "
            "then G update with D's parameters frozen (requires_grad False; D still in train "
            "mode, so its BatchNorm running stats update on all 3 D forwards per step). "
            "losses<t> = [loss_G_GAN, loss_G_L1 (x lambda_l1), loss_D_real, loss_D_fake]. "
            "Adam eps 1e-8, beta2 0.999, no weight decay. Non-outermost U-Net blocks return "
            "cat([x, model(x)], 1).")
    case = f"pix2pix_steps_{gan_mode}"
    path = mf.write_safetensors(PIPELINES / f"{case}.safetensors", tensors,
                                mf.meta("pix2pix_steps", a, case, SEED, steps=STEPS, note=note,
                                        g_params=mf.n_params(G), d_params=mf.n_params(D)))
    size = path.stat().st_size
    print(f"  {path.relative_to(mf.ROOT)}: {size:,} bytes "
          f"(G params {mf.n_params(G):,}, D params {mf.n_params(D):,})")
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
        for t in range(1, STEPS + 1):
            assert dict(rarrays)[f"losses{t}"].shape == (4,)
        before = [n for n in names if n.startswith(("G.", "D."))]
        after = [n for n in names if n.startswith("after.")]
        assert after == ["after." + n for n in before], path
        assert json.loads(rm["args"])["gan_mode"] in ("vanilla", "lsgan")
    on_disk = sorted(PIPELINES.glob("pix2pix_steps_*.safetensors"))
    assert on_disk == sorted(paths), "stale files in Tests/Fixtures/pipelines"
    print(f"self-check OK: {len(paths)} files under {PIPELINES.relative_to(mf.ROOT)}")


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    print(f"torch {mf.TORCH_VERSION}")
    paths = [make_pix2pix_steps(mode) for mode in ("vanilla", "lsgan")]
    self_check(paths)


if __name__ == "__main__":
    main()
