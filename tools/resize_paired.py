#!/usr/bin/env python3
"""Resize an aligned [A | B] split to SIZE x SIZE per side (bicubic, each half on its own),
written as PNG: the 128-px facades protocol of the three-way comparison (issue 18), so that
every model (one-pass GANs and code samplers alike) reads inputs and targets of one size.

    python tools/resize_paired.py SRC_SPLIT DST_SPLIT --size 128
"""
import argparse
import pathlib

from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--size", type=int, default=128)
    a = ap.parse_args()
    src, dst = pathlib.Path(a.src), pathlib.Path(a.dst)
    dst.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise SystemExit(f"{src}: no images")
    for p in files:
        im = Image.open(p).convert("RGB")
        w, h = im.size
        if w != 2 * h:
            raise SystemExit(f"{p}: {w}x{h} is not an [A | B] pair (width = 2 x height)")
        halves = [im.crop((0, 0, h, h)), im.crop((h, 0, w, h))]
        out = Image.new("RGB", (2 * a.size, a.size))
        for k, half in enumerate(halves):
            out.paste(half.resize((a.size, a.size), Image.BICUBIC), (k * a.size, 0))
        out.save(dst / (p.stem + ".png"))
    print(f"wrote {len(files)} pairs to {dst}")


if __name__ == "__main__":
    main()
