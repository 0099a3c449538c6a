#!/usr/bin/env python3
"""PyTorch reference run of pix2pix on an aligned dataset (facades by default), for the
comparison with the Swift `translate` port. Not run in CI; needs torch, numpy and pillow.

Recipe (defaults; every value is a command-line option):

    --dataroot ../shared/datasets/facades --direction BtoA --size 128 --load-size 143
    --ngf 32 --ndf 32 --epochs 5 --epochs-decay 5 --lr 2e-4 --beta1 0.5 --lambda-l1 100
    --gan-mode vanilla --batch-size 1 --seed 0 --threads 2 --out DIR

- Networks (builders imported from make_fixtures.py): U-Net with num_downs = log2(size)
  (7 for 128, 8 for 256), ngf, BatchNorm, dropout 0.5 in the middle 8ngf blocks
  (pix2pix default); PatchGAN `basic` (n_layers 3), ndf, BatchNorm, 6 input channels;
  init normal(0, 0.02) (BatchNorm weight N(1, 0.02)), seeded with torch.manual_seed(seed).
- Data: each train/*.jpg is [A | B] side by side, split at half width. BtoA: input = B
  (right half, label map), target = A (photo). Per sample: both halves resized to
  load_size x load_size (PIL bicubic), random crop size x size at the same offset, random
  horizontal flip (p 0.5) shared, to [-1, 1]. Order shuffled every epoch. Data randomness
  (shuffle, crop, flip) comes from Python's random.Random(seed); init and dropout from torch.
- Schedule: Adam(lr, betas (beta1, 0.999)) for G and for D; lr constant for `epochs`
  epochs, then the reference lambda rule lr * (1 - max(0, e + 1 - epochs) /
  (epochs_decay + 1)) for 0-based epoch e, stepped once at the end of every epoch (so the
  last epoch runs at lr / (epochs_decay + 1), as in Tests/Fixtures/schedules.json).
- Step: the reference optimize_parameters: fake = G(A); D update on
  0.5 * (GAN(D(A, fake.detach()), False) + GAN(D(A, B), True)); then G update with D's
  parameters frozen on GAN(D(A, fake), True) + lambda_l1 * L1(fake, B).
  vanilla = BCE with logits, lsgan = MSE.
- Evaluation on every val/*.jpg: both halves resized to size x size (bicubic), no crop or
  flip. G translates in two modes:
    paper: G in train mode (batch statistics, dropout on; the pix2pix test protocol),
           batch 1, dropout seeded with torch.manual_seed(seed); G's state (running
           stats) is restored afterwards;
    eval:  G.eval() (running statistics, no dropout).
  Output image = round((x + 1) * 127.5) clipped to uint8; target = the resized uint8 photo.
  l1 = mean |out - target| / 255 (i.e. on the [0, 1] scale) averaged over images;
  psnr = mean over images of 10 log10(255^2 / MSE) on uint8 RGB.
- Output: per-epoch progress lines; DIR/metrics.json =
  {"torch", "steps", "seconds_per_step" (median), "train_seconds", "paper": {"l1", "psnr"},
   "eval": {"l1", "psnr"}, "recipe": {all args}} ; DIR/samples/<name>.png for the first
  few val images (input | paper output | eval output | target).

Smoke test:  python tools/train_torch_pix2pix.py --epochs 1 --epochs-decay 0 --max-steps 20 --out /tmp/torch_smoke
"""

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402  (UnetGenerator, NLayerDiscriminator, init_weights)

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataroot", default=str(ROOT.parent / "shared" / "datasets" / "facades"),
                   help="folder with train/ and val/ of [A | B] images "
                        "(default ../shared/datasets/facades relative to the repository)")
    p.add_argument("--direction", choices=["AtoB", "BtoA"], default="BtoA")
    p.add_argument("--size", type=int, default=128, help="crop / network size (power of 2)")
    p.add_argument("--load-size", type=int, default=143)
    p.add_argument("--ngf", type=int, default=32)
    p.add_argument("--ndf", type=int, default=32)
    p.add_argument("--epochs", type=int, default=5, help="epochs at constant lr")
    p.add_argument("--epochs-decay", type=int, default=5, help="epochs of linear lr decay")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--beta1", type=float, default=0.5)
    p.add_argument("--lambda-l1", type=float, default=100.0)
    p.add_argument("--gan-mode", choices=["vanilla", "lsgan"], default="vanilla")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-steps", type=int, default=0,
                   help="stop training after this many steps (0 = no limit; smoke runs)")
    p.add_argument("--samples", type=int, default=4, help="val images saved as PNG")
    p.add_argument("--out", required=True, help="output folder")
    a = p.parse_args(argv)
    nd = int(round(math.log2(a.size)))
    if 2 ** nd != a.size or nd < 5:
        p.error("--size must be a power of two >= 32 (U-Net num_downs = log2(size))")
    if a.load_size < a.size:
        p.error("--load-size must be >= --size")
    return a


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------

def load_pair(path, direction):
    """[A | B] image -> (input, target) PIL RGB halves."""
    ab = Image.open(path).convert("RGB")
    w, h = ab.size
    w2 = w // 2
    a, b = ab.crop((0, 0, w2, h)), ab.crop((w2, 0, w, h))
    return (b, a) if direction == "BtoA" else (a, b)


def to_tensor(img):
    """PIL RGB uint8 -> float tensor [3, H, W] in [-1, 1] (ToTensor + Normalize(0.5, 0.5))."""
    x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float()
    return x / 255.0 * 2.0 - 1.0


def train_sample(path, a, rng):
    inp, tgt = load_pair(path, a.direction)
    ls = a.load_size
    inp = inp.resize((ls, ls), Image.BICUBIC)
    tgt = tgt.resize((ls, ls), Image.BICUBIC)
    x = rng.randint(0, max(0, ls - a.size))
    y = rng.randint(0, max(0, ls - a.size))
    flip = rng.random() > 0.5
    box = (x, y, x + a.size, y + a.size)
    inp, tgt = inp.crop(box), tgt.crop(box)
    if flip:
        inp = inp.transpose(Image.FLIP_LEFT_RIGHT)
        tgt = tgt.transpose(Image.FLIP_LEFT_RIGHT)
    return to_tensor(inp), to_tensor(tgt)


def image_files(folder):
    exts = {".jpg", ".jpeg", ".png", ".bmp"}
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in exts)
    if not files:
        raise SystemExit(f"no images in {folder}")
    return files


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------

def gan_loss(gan_mode):
    crit = {"vanilla": nn.BCEWithLogitsLoss(), "lsgan": nn.MSELoss()}[gan_mode]

    def loss(pred, is_real):
        return crit(pred, torch.tensor(1.0 if is_real else 0.0).expand_as(pred))
    return loss


def set_requires_grad(net, flag):
    for p in net.parameters():
        p.requires_grad = flag


def train(a, G, D, train_files):
    optG = torch.optim.Adam(G.parameters(), lr=a.lr, betas=(a.beta1, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=a.lr, betas=(a.beta1, 0.999))

    def lambda_rule(epoch):
        return 1.0 - max(0, epoch + 1 - a.epochs) / float(a.epochs_decay + 1)
    schedG = torch.optim.lr_scheduler.LambdaLR(optG, lambda_rule)
    schedD = torch.optim.lr_scheduler.LambdaLR(optD, lambda_rule)
    GAN, L1 = gan_loss(a.gan_mode), nn.L1Loss()
    rng = random.Random(a.seed)
    G.train()
    D.train()

    step_times, steps, t_train = [], 0, time.perf_counter()
    for epoch in range(a.epochs + a.epochs_decay):
        lr = optG.param_groups[0]["lr"]
        order = list(train_files)
        rng.shuffle(order)
        sums = np.zeros(4)
        n_ep, ep_times = 0, []
        for i in range(0, len(order), a.batch_size):
            if a.max_steps and steps >= a.max_steps:
                break
            pairs = [train_sample(p, a, rng) for p in order[i:i + a.batch_size]]
            A = torch.stack([x for x, _ in pairs])
            B = torch.stack([y for _, y in pairs])
            t0 = time.perf_counter()
            fake = G(A)
            set_requires_grad(D, True)
            optD.zero_grad()
            loss_D_fake = GAN(D(torch.cat([A, fake.detach()], 1)), False)
            loss_D_real = GAN(D(torch.cat([A, B], 1)), True)
            loss_D = 0.5 * (loss_D_fake + loss_D_real)
            loss_D.backward()
            optD.step()
            set_requires_grad(D, False)
            optG.zero_grad()
            loss_G_GAN = GAN(D(torch.cat([A, fake], 1)), True)
            loss_G_L1 = L1(fake, B) * a.lambda_l1
            loss_G = loss_G_GAN + loss_G_L1
            loss_G.backward()
            optG.step()
            dt = time.perf_counter() - t0
            step_times.append(dt)
            ep_times.append(dt)
            sums += [loss_G_GAN.item(), loss_G_L1.item(), loss_D_real.item(), loss_D_fake.item()]
            n_ep += 1
            steps += 1
        schedG.step()
        schedD.step()
        if n_ep:
            m = sums / n_ep
            print(f"epoch {epoch + 1}/{a.epochs + a.epochs_decay} lr {lr:.3e} steps {n_ep}: "
                  f"G_GAN {m[0]:.4f} G_L1 {m[1]:.4f} D_real {m[2]:.4f} D_fake {m[3]:.4f} | "
                  f"{statistics.mean(ep_times):.3f} s/step (median "
                  f"{statistics.median(ep_times):.3f})", flush=True)
        if a.max_steps and steps >= a.max_steps:
            print(f"stopping after --max-steps {a.max_steps}", flush=True)
            break
    train_seconds = time.perf_counter() - t_train
    return steps, step_times, train_seconds


# --------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------

def to_uint8(x):
    """Network output [3, H, W] in [-1, 1] -> uint8 HWC, round((x + 1) * 127.5)."""
    y = torch.round((x.detach().clamp(-1, 1) + 1) * 127.5).clamp(0, 255)
    return y.to(torch.uint8).permute(1, 2, 0).numpy()


def image_metrics(out_u8, tgt_u8):
    d = out_u8.astype(np.float64) - tgt_u8.astype(np.float64)
    l1 = np.abs(d).mean() / 255.0
    mse = (d * d).mean()
    psnr = float("inf") if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)
    return l1, psnr


def evaluate(a, G, val_files, out_dir):
    val = []
    for p in val_files:
        inp, tgt = load_pair(p, a.direction)
        inp = inp.resize((a.size, a.size), Image.BICUBIC)
        tgt = tgt.resize((a.size, a.size), Image.BICUBIC)
        val.append((p.stem, inp, np.asarray(tgt, dtype=np.uint8)))

    outputs = {}
    saved_state = {k: v.clone() for k, v in G.state_dict().items()}
    for mode in ("paper", "eval"):
        if mode == "paper":
            G.train()
            torch.manual_seed(a.seed)
        else:
            G.load_state_dict(saved_state)  # undo the running-stat updates of the paper pass
            G.eval()
        outs = []
        with torch.no_grad():
            for _, inp, _ in val:
                outs.append(to_uint8(G(to_tensor(inp).unsqueeze(0))[0]))
        outputs[mode] = outs
    G.load_state_dict(saved_state)

    metrics = {}
    for mode, outs in outputs.items():
        l1s, psnrs = zip(*(image_metrics(o, t) for o, (_, _, t) in zip(outs, val)))
        metrics[mode] = {"l1": float(np.mean(l1s)), "psnr": float(np.mean(psnrs)),
                         "images": len(outs)}
        print(f"val {mode:5s}: L1 {metrics[mode]['l1']:.4f}  PSNR {metrics[mode]['psnr']:.3f} dB "
              f"({len(outs)} images)", flush=True)

    samples = out_dir / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    for k in range(min(a.samples, len(val))):
        name, inp, tgt = val[k]
        row = np.concatenate([np.asarray(inp, dtype=np.uint8), outputs["paper"][k],
                              outputs["eval"][k], tgt], axis=1)
        Image.fromarray(row).save(samples / f"{name}.png")
    return metrics


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = Path(a.dataroot)
    train_files, val_files = image_files(root / "train"), image_files(root / "val")
    num_downs = int(round(math.log2(a.size)))

    torch.manual_seed(a.seed)
    G = mf.UnetGenerator(3, 3, num_downs, ngf=a.ngf, use_dropout=True)
    D = mf.NLayerDiscriminator(6, ndf=a.ndf, n_layers=3)
    mf.init_weights(G)
    mf.init_weights(D)
    print(f"torch {torch.__version__}, {a.threads} threads; {len(train_files)} train / "
          f"{len(val_files)} val images from {root}; G unet num_downs {num_downs} ngf {a.ngf} "
          f"({mf.n_params(G):,} params), D ndf {a.ndf} ({mf.n_params(D):,} params)", flush=True)

    steps, step_times, train_seconds = train(a, G, D, train_files)
    metrics = evaluate(a, G, val_files, out_dir)

    recipe = {k: v for k, v in vars(a).items()}
    recipe["num_downs"] = num_downs
    result = {
        "torch": torch.__version__,
        "steps": steps,
        "seconds_per_step": statistics.median(step_times) if step_times else None,
        "train_seconds": train_seconds,
        "paper": metrics["paper"],
        "eval": metrics["eval"],
        "recipe": recipe,
    }
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out_dir / 'metrics.json'}: {steps} steps, median "
          f"{result['seconds_per_step']:.3f} s/step, train {train_seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
