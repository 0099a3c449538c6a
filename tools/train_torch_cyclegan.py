#!/usr/bin/env python3
"""PyTorch reference run of CycleGAN on an unaligned dataset (iphone2dslr_flower by
default), for the comparison with the Swift `translate` port. Not run in CI; needs torch,
numpy and pillow.

Recipe (defaults; every value is a command-line option):

    --dataroot ../shared/datasets/iphone2dslr_flower --size 128 --load-size 143
    --ngf 32 --ndf 32 --n-blocks 9 --epochs 1 --epochs-decay 1 --max-steps 0 --lr 2e-4
    --beta1 0.5 --lambda-a 10 --lambda-b 10 --lambda-identity 0.5 --pool-size 50
    --seed 0 --threads 2 --out DIR

- Networks (ResnetGenerator from make_cyclegan_fixtures.py, NLayerDiscriminator and
  init_weights from make_fixtures.py): G_A, G_B = ResnetGenerator(3, 3, ngf, InstanceNorm,
  no dropout (CycleGAN's default --no_dropout), n_blocks); D_A, D_B = PatchGAN basic
  (n_layers 3), ndf, InstanceNorm, 3 input channels; built and initialised normal(0, 0.02)
  in the order G_A, G_B, D_A, D_B after torch.manual_seed(seed).
- Data: trainA/ and trainB/ (image files directly in them, sorted by name), each image
  converted to RGB (a few flower images are greyscale), resized to load_size x load_size
  (PIL bicubic), random crop size x size and random horizontal flip (p 0.5), drawn
  independently for A and B, scaled to [-1, 1]. An epoch has max(|A|, |B|) items in a
  shuffled order; item i uses A[i % |A|] and a B image drawn at random (the reference's
  unaligned dataset without --serial_batches). Per item the draws are: B index, A crop x, y,
  A flip, B crop x, y, B flip, all from Python's random.Random(seed) (which also shuffles).
  The history pools use Python's global `random`, seeded with `seed`.
- Schedule: Adam(lr, betas (beta1, 0.999)) over chain(G_A, G_B) and another over
  chain(D_A, D_B); lr constant for `epochs` epochs, then lr * (1 - max(0, e + 1 - epochs) /
  (epochs_decay + 1)) for 0-based epoch e, stepped at the end of every epoch (the pix2pix
  script's linear rule).
- Step: the reference CycleGANModel.optimize_parameters (as make_cyclegan_fixtures.py):
  generators first with D_A, D_B frozen on
  GAN(D_A(G_A(A))) + GAN(D_B(G_B(B))) + lambda_a |G_B(G_A(A)) - A|_1 + lambda_b |G_A(G_B(B)) - B|_1
  + lambda_identity * (lambda_b |G_A(B) - B|_1 + lambda_a |G_B(A) - A|_1);
  then D_A on 0.5 * (GAN(D_A(B), 1) + GAN(D_A(pool_B(fake_B)), 0)) and D_B likewise with
  pool_A(fake_A). GAN = LSGAN (MSE against 1 / 0).
- Evaluation on every testA/ and testB/ image: converted to RGB, resized to size x size
  (bicubic), no crop or flip, G_A and G_B in eval mode (InstanceNorm keeps no running
  statistics and there is no dropout, so train and eval mode give the same result).
  Cycle A: rec = G_B(G_A(a)) computed in float (the intermediate fake is not quantised),
  rec rounded to uint8 as round((x + 1) * 127.5); cycle_l1 A = mean over images of
  mean |rec - a| / 255 against the resized uint8 input (i.e. on the [0, 1] scale). Cycle B
  likewise with G_A(G_B(b)).
- Output: one line per epoch (mean of the 8 losses D_A, G_A, cycle_A, idt_A, D_B, G_B,
  cycle_B, idt_B; mean and median seconds per step); DIR/metrics.json = {"torch", "steps",
  "seconds_per_step" (median, forward + backward + updates only, data loading excluded),
  "train_seconds" (wall time of the training loop incl. data loading), "losses_last_epoch"
  {the 8 means over the last epoch that ran}, "cycle_l1" {"A", "B"}, "recipe" {all args}};
  DIR/samples/A_<name>.png (input | G_A output | reconstruction) and B_<name>.png for the
  first --samples test images of each domain.

Smoke test:  python tools/train_torch_cyclegan.py --max-steps 10 --out /tmp/cg_smoke
"""

import argparse
import itertools
import json
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
import make_fixtures as mf  # noqa: E402  (NLayerDiscriminator, init_weights, n_params)
import make_cyclegan_fixtures as mc  # noqa: E402  (ResnetGenerator, ImagePool)

ROOT = Path(__file__).resolve().parent.parent
LOSS_NAMES = ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataroot", default=str(ROOT.parent / "shared" / "datasets" / "iphone2dslr_flower"),
                   help="folder with trainA/, trainB/, testA/, testB/ "
                        "(default ../shared/datasets/iphone2dslr_flower relative to the repository)")
    p.add_argument("--size", type=int, default=128, help="crop / network size (multiple of 4)")
    p.add_argument("--load-size", type=int, default=143)
    p.add_argument("--ngf", type=int, default=32)
    p.add_argument("--ndf", type=int, default=32)
    p.add_argument("--n-blocks", type=int, default=9, help="residual blocks of the generators")
    p.add_argument("--epochs", type=int, default=1, help="epochs at constant lr")
    p.add_argument("--epochs-decay", type=int, default=1, help="epochs of linear lr decay")
    p.add_argument("--max-steps", type=int, default=0,
                   help="stop training after this many steps (0 = no limit; smoke runs)")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--beta1", type=float, default=0.5)
    p.add_argument("--lambda-a", type=float, default=10.0, help="weight of the A -> B -> A cycle loss")
    p.add_argument("--lambda-b", type=float, default=10.0, help="weight of the B -> A -> B cycle loss")
    p.add_argument("--lambda-identity", type=float, default=0.5,
                   help="identity loss weight, relative to lambda-a / lambda-b")
    p.add_argument("--pool-size", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--samples", type=int, default=4, help="test images per domain saved as PNG")
    p.add_argument("--out", required=True, help="output folder")
    a = p.parse_args(argv)
    if a.size % 4 or a.size < 8:
        p.error("--size must be a multiple of 4, at least 8 (two stride-2 convs and reflection padding)")
    if a.load_size < a.size:
        p.error("--load-size must be >= --size")
    return a


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------

def image_files(folder):
    exts = {".jpg", ".jpeg", ".png", ".bmp"}
    folder = Path(folder)
    if not folder.is_dir():
        raise SystemExit(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in exts)
    if not files:
        raise SystemExit(f"no images in {folder}")
    return files


def to_tensor(img):
    """PIL RGB uint8 -> float tensor [3, H, W] in [-1, 1] (ToTensor + Normalize(0.5, 0.5))."""
    x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float()
    return x / 255.0 * 2.0 - 1.0


def augment(path, a, rng):
    """RGB, resize to load_size^2 (bicubic), random crop size^2, random flip: x, y, flip drawn."""
    img = Image.open(path).convert("RGB").resize((a.load_size, a.load_size), Image.BICUBIC)
    x = rng.randint(0, max(0, a.load_size - a.size))
    y = rng.randint(0, max(0, a.load_size - a.size))
    flip = rng.random() > 0.5
    img = img.crop((x, y, x + a.size, y + a.size))
    if flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return to_tensor(img)


def train_item(i, files_a, files_b, a, rng):
    """Unaligned item i: A[i % |A|], B at random; independent crops and flips."""
    path_b = files_b[rng.randint(0, len(files_b) - 1)]
    A = augment(files_a[i % len(files_a)], a, rng)
    B = augment(path_b, a, rng)
    return A.unsqueeze(0), B.unsqueeze(0)


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------

def train(a, G_A, G_B, D_A, D_B, files_a, files_b):
    optG = torch.optim.Adam(itertools.chain(G_A.parameters(), G_B.parameters()), lr=a.lr,
                            betas=(a.beta1, 0.999))
    optD = torch.optim.Adam(itertools.chain(D_A.parameters(), D_B.parameters()), lr=a.lr,
                            betas=(a.beta1, 0.999))

    def lambda_rule(epoch):
        return 1.0 - max(0, epoch + 1 - a.epochs) / float(a.epochs_decay + 1)
    schedG = torch.optim.lr_scheduler.LambdaLR(optG, lambda_rule)
    schedD = torch.optim.lr_scheduler.LambdaLR(optD, lambda_rule)
    mse, L1 = nn.MSELoss(), nn.L1Loss()

    def gan(pred, is_real):
        return mse(pred, torch.tensor(1.0 if is_real else 0.0).expand_as(pred))

    rng = random.Random(a.seed)
    random.seed(a.seed)   # the pools
    pool_A, pool_B = mc.ImagePool(a.pool_size), mc.ImagePool(a.pool_size)
    lA, lB, lI = a.lambda_a, a.lambda_b, a.lambda_identity
    for net in (G_A, G_B, D_A, D_B):
        net.train()

    n_items = max(len(files_a), len(files_b))
    step_times, steps, t_train = [], 0, time.perf_counter()
    last_means = None
    for epoch in range(a.epochs + a.epochs_decay):
        lr = optG.param_groups[0]["lr"]
        order = list(range(n_items))
        rng.shuffle(order)
        sums = np.zeros(8)
        n_ep, ep_times = 0, []
        for i in order:
            if a.max_steps and steps >= a.max_steps:
                break
            A, B = train_item(i, files_a, files_b, a, rng)
            t0 = time.perf_counter()
            step_losses, _ = mc.cyclegan_step((G_A, G_B, D_A, D_B), optG, optD, (pool_A, pool_B), A, B,
                                              gan, L1, lA, lB, lI)
            dt = time.perf_counter() - t0
            step_times.append(dt)
            ep_times.append(dt)
            sums += [float(v.detach()) for v in step_losses]
            n_ep += 1
            steps += 1
        schedG.step()
        schedD.step()
        if n_ep:
            last_means = sums / n_ep
            print(f"epoch {epoch + 1}/{a.epochs + a.epochs_decay} lr {lr:.3e} steps {n_ep}: "
                  + " ".join(f"{n} {v:.4f}" for n, v in zip(LOSS_NAMES, last_means))
                  + f" | {statistics.mean(ep_times):.3f} s/step (median "
                  f"{statistics.median(ep_times):.3f})", flush=True)
        if a.max_steps and steps >= a.max_steps:
            print(f"stopping after --max-steps {a.max_steps}", flush=True)
            break
    train_seconds = time.perf_counter() - t_train
    return steps, step_times, train_seconds, last_means


# --------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------

def to_uint8(x):
    """Network output [3, H, W] in [-1, 1] -> uint8 HWC, round((x + 1) * 127.5)."""
    y = torch.round((x.detach().clamp(-1, 1) + 1) * 127.5).clamp(0, 255)
    return y.to(torch.uint8).permute(1, 2, 0).numpy()


def evaluate(a, G_A, G_B, root, out_dir):
    G_A.eval()
    G_B.eval()
    samples = out_dir / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    result = {}
    for domain, first, second in (("A", G_A, G_B), ("B", G_B, G_A)):
        l1s = []
        for k, path in enumerate(image_files(root / f"test{domain}")):
            img = Image.open(path).convert("RGB").resize((a.size, a.size), Image.BICUBIC)
            real = np.asarray(img, dtype=np.uint8)
            with torch.no_grad():
                fake = first(to_tensor(img).unsqueeze(0))
                rec = second(fake)
            rec_u8 = to_uint8(rec[0])
            l1s.append(np.abs(rec_u8.astype(np.float64) - real.astype(np.float64)).mean() / 255.0)
            if k < a.samples:
                row = np.concatenate([real, to_uint8(fake[0]), rec_u8], axis=1)
                Image.fromarray(row).save(samples / f"{domain}_{path.stem}.png")
        result[domain] = float(np.mean(l1s))
        print(f"test{domain}: cycle L1 {result[domain]:.4f} ({len(l1s)} images)", flush=True)
    return result


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = Path(a.dataroot)
    files_a, files_b = image_files(root / "trainA"), image_files(root / "trainB")

    torch.manual_seed(a.seed)
    nets = []
    for _ in range(2):
        g = mc.ResnetGenerator(3, 3, a.ngf, norm_layer=nn.InstanceNorm2d, use_dropout=False,
                               n_blocks=a.n_blocks)
        mf.init_weights(g)
        nets.append(g)
    for _ in range(2):
        d = mf.NLayerDiscriminator(3, a.ndf, 3, norm_layer=nn.InstanceNorm2d)
        mf.init_weights(d)
        nets.append(d)
    G_A, G_B, D_A, D_B = nets
    print(f"torch {torch.__version__}, {a.threads} threads; {len(files_a)} trainA / "
          f"{len(files_b)} trainB images from {root}; G resnet {a.n_blocks} blocks ngf {a.ngf} "
          f"({mf.n_params(G_A):,} params each), D ndf {a.ndf} ({mf.n_params(D_A):,} params each)",
          flush=True)

    steps, step_times, train_seconds, last_means = train(a, G_A, G_B, D_A, D_B, files_a, files_b)
    cycle = evaluate(a, G_A, G_B, root, out_dir)

    result = {
        "torch": torch.__version__,
        "steps": steps,
        "seconds_per_step": statistics.median(step_times) if step_times else None,
        "train_seconds": train_seconds,
        "losses_last_epoch": (dict(zip(LOSS_NAMES, map(float, last_means)))
                              if last_means is not None else None),
        "cycle_l1": cycle,
        "recipe": dict(vars(a)),
    }
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    sps = result["seconds_per_step"]
    print(f"wrote {out_dir / 'metrics.json'}: {steps} steps, median "
          f"{sps if sps is None else round(sps, 3)} s/step, train {train_seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
