#!/usr/bin/env python3
"""Writes the small image fixtures of Tests/ImageIOTests into Tests/Fixtures/images.

Run from the package root:  /work/venv/bin/python tools/make_image_fixtures.py
Needs numpy and Pillow (only for making fixtures; nothing in Swift or CI needs Python).

What it writes and how the Swift tests use it:
- PNG decoding: gray.png, rgb.png, rgba.png, gray_alpha.png, palette.png (4-bit, 16 colours),
  palette_trns.png (with a tRNS chunk), gray1.png (1-bit), rgb16.png and gray16.png (16-bit),
  interlaced.png (Adam7). Their 8-bit content follows formulas the tests recompute:
  pattern(x, y, c) = (x*37 + y*61 + c*97 + 11) % 256; palette colour i, channel c =
  (i*53 + c*101 + 7) % 256 with index (x + 3*y) % 16; 16-bit samples are
  pattern*257 +- (x*13 + y*7 + c*5) % 128 (minus where the pattern is 255), which libpng's
  png_set_scale_16 (v*255/65535, rounded) maps back to the pattern exactly. (Taking the high
  byte, as Pillow does for 16-bit RGB, would be off by one in places.)
  The 16-bit and interlaced files are written by hand (zlib + chunks), since Pillow writes neither.
- JPEG decoding: gray.jpg, progressive.jpg, cmyk.jpg (Adobe, inverted CMYK), exif6.jpg
  (EXIF orientation 6), each with <name>_pil.png = what Pillow decodes (after
  ImageOps.exif_transpose for exif6; convert("RGB") for cmyk).
- Resizing: resize_src.png (RGB 23x17) and resize_src_gray.png (L 19x13), and Pillow's
  Image.resize output for each filter and size as resize_<filter>_<w>x<h>.png /
  resize_gray_<filter>_<w>x<h>.png; resize_src_L.png = resize_src.convert("L").
- huge.png: a valid IHDR claiming 40000 x 40000 pixels (with a tiny IDAT), to check that
  decoding refuses it before allocating.
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "images")


def pattern(w, h, c):
    y, x, ch = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    return ((x * 37 + y * 61 + ch * 97 + 11) % 256).astype(np.uint8)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png_raw(path, w, h, bit_depth, color_type, rows, interlace=0):
    """rows: bytes of the (filter-type-0) scanlines, already laid out (and interlaced)."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, interlace)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows, 9)) + png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def scanlines(arr):
    """arr: [h, row_bytes] uint8 -> filter byte 0 + row for each row."""
    return b"".join(b"\x00" + arr[y].tobytes() for y in range(arr.shape[0]))


def save(img, name, **kw):
    img.save(os.path.join(OUT, name), **kw)


def smooth_rgb(w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
    g = 40 + 180 * x / max(w - 1, 1)
    b = 220 - 150 * y / max(h - 1, 1) + 20 * ((x // 8 + y // 8) % 2)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).round().astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    w, h = 7, 5

    # --- PNG variants -------------------------------------------------------------------
    save(Image.fromarray(pattern(w, h, 1)[:, :, 0], "L"), "gray.png")
    save(Image.fromarray(pattern(w, h, 3), "RGB"), "rgb.png")
    rgba = np.concatenate([pattern(w, h, 3), ((np.arange(w)[None, :] * 50 + np.arange(h)[:, None] * 30) % 256).astype(np.uint8)[:, :, None]], axis=2)
    save(Image.fromarray(rgba, "RGBA"), "rgba.png")
    la = np.stack([pattern(w, h, 1)[:, :, 0], np.full((h, w), 77, np.uint8)], axis=2)
    save(Image.fromarray(la, "LA"), "gray_alpha.png")

    palette = [((i * 53 + c * 101 + 7) % 256) for i in range(16) for c in range(3)]
    idx = ((np.arange(w)[None, :] + 3 * np.arange(h)[:, None]) % 16).astype(np.uint8)
    p = Image.fromarray(idx, "P")
    p.putpalette(palette)
    save(p, "palette.png", bits=4)
    save(p, "palette_trns.png", transparency=0)

    save(Image.fromarray(((np.arange(w)[None, :] + np.arange(h)[:, None]) % 2 * 255).astype(np.uint8), "L").convert("1"), "gray1.png")

    off = lambda c: ((np.arange(w)[None, :] * 13 + np.arange(h)[:, None] * 7 + c * 5) % 128)
    # pattern*257 +- offset (minus where the pattern is 255, to stay within 16 bits).
    def sixteen(p8, offs):
        p8 = p8.astype(np.int64)
        return p8 * 257 + np.where(p8 == 255, -offs, offs)
    rgb16 = sixteen(pattern(w, h, 3), np.stack([off(c) for c in range(3)], axis=2))
    write_png_raw(os.path.join(OUT, "rgb16.png"), w, h, 16, 2, scanlines(rgb16.astype(">u2").view(np.uint8).reshape(h, w * 6)))
    gray16 = sixteen(pattern(w, h, 1)[:, :, 0], off(0))
    write_png_raw(os.path.join(OUT, "gray16.png"), w, h, 16, 0, scanlines(gray16.astype(">u2").view(np.uint8).reshape(h, w * 2)))

    # Adam7 interlaced RGB, 13 x 11 so that every pass has pixels.
    iw, ih = 13, 11
    img = pattern(iw, ih, 3)
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = img[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        raw += scanlines(sub.reshape(sub.shape[0], -1))
    write_png_raw(os.path.join(OUT, "interlaced.png"), iw, ih, 8, 2, raw, interlace=1)

    # A header that claims 40000 x 40000 pixels, followed by a tiny IDAT and IEND.
    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0)
    with open(os.path.join(OUT, "huge.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + png_chunk(b"IEND", b""))

    # --- JPEG variants ------------------------------------------------------------------
    smooth = smooth_rgb(32, 24)
    gray = Image.fromarray(smooth, "RGB").convert("L")
    save(gray, "gray.jpg", quality=90)
    save(Image.fromarray(smooth, "RGB"), "progressive.jpg", quality=90, progressive=True)
    save(Image.fromarray(smooth, "RGB").convert("CMYK"), "cmyk.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6
    save(Image.fromarray(smooth_rgb(12, 8), "RGB"), "exif6.jpg", quality=95, exif=exif.tobytes())
    for name in ["gray", "progressive"]:
        save(Image.open(os.path.join(OUT, name + ".jpg")), name + "_pil.png")
    save(Image.open(os.path.join(OUT, "cmyk.jpg")).convert("RGB"), "cmyk_pil.png")
    save(ImageOps.exif_transpose(Image.open(os.path.join(OUT, "exif6.jpg"))), "exif6_pil.png")

    # --- Resizing references ------------------------------------------------------------
    rng = np.random.RandomState(0)
    sw, sh = 23, 17
    src = np.clip(smooth_rgb(sw, sh).astype(np.int32) + rng.randint(-60, 61, size=(sh, sw, 3)), 0, 255).astype(np.uint8)
    src[5:9, 3:12] = [255, 0, 255]  # hard edges, so bicubic overshoots and clamps
    src[10:, 15:] = 0
    src_img = Image.fromarray(src, "RGB")
    save(src_img, "resize_src.png")
    save(src_img.convert("L"), "resize_src_L.png")
    filters = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
    for fname, f in filters.items():
        for size in [(37, 29), (9, 7), (11, 31), (46, 17)]:
            save(src_img.resize(size, f), "resize_%s_%dx%d.png" % (fname, size[0], size[1]))
    gsrc = Image.fromarray(rng.randint(0, 256, size=(13, 19)).astype(np.uint8), "L")
    save(gsrc, "resize_src_gray.png")
    for fname, f in filters.items():
        for size in [(8, 5), (40, 27)]:
            save(gsrc.resize(size, f), "resize_gray_%s_%dx%d.png" % (fname, size[0], size[1]))

    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print("wrote %d files, %d bytes, to %s" % (len(os.listdir(OUT)), total, os.path.normpath(OUT)))


if __name__ == "__main__":
    main()
