#!/usr/bin/env python3
"""Writes the hostile-input fixtures of Tests/ImageIOTests (standard library only).

    python3 tools/fuzz/make_hostile_fixtures.py [OUT_DIR]   # default Tests/Fixtures/images

- many_scans.jpg (about 11 kB): an 8 x 8 gray progressive JPEG with 1024 scans: the DC scan,
  then 1023 copies of the AC scan "1-63, Ah 0, Al 0" (each re-codes the block as EOB; libjpeg
  accepts repeats of a first scan without a warning). Valid, decodes to flat gray 128 when
  the scan limit allows; a decoder without a scan limit re-reads the whole image per scan,
  which on a large image is the "thousands of scans" hang.
- bomb_16k.png (about 100 bytes): an RGB PNG whose IHDR claims 16384 x 16384 (805 MB of
  pixels, 1.6 GB with a 16-bit intermediate); its IDAT holds one row only.
- wide.png (about 150 bytes): a complete, valid 100000 x 1 gray PNG: few pixels, but a side
  above the default 65535.
The bytes are deterministic (zlib level 9), so rerunning reproduces the committed files.
"""
import os
import struct
import sys
import zlib


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png(width, height, color_type, bit_depth, idat):
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def marker(code, payload):
    return bytes([0xFF, code]) + struct.pack(">H", len(payload) + 2) + payload


def many_scans_jpeg(scans):
    out = b"\xff\xd8"
    out += marker(0xDB, b"\x00" + b"\x01" * 64)                     # DQT 0: all ones
    out += marker(0xC2, b"\x08" + struct.pack(">HH", 8, 8) + b"\x01" + b"\x01\x11\x00")  # SOF2 8x8 gray
    one_code = b"\x01" + b"\x00" * 15 + b"\x00"                     # one code of length 1: symbol 0
    out += marker(0xC4, b"\x00" + one_code)                         # DC table 0: category 0
    out += marker(0xC4, b"\x10" + one_code)                         # AC table 0: EOB
    out += marker(0xDA, b"\x01\x01\x00" + b"\x00\x00\x00") + b"\x7f"  # DC first scan: diff 0
    for _ in range(scans - 1):
        out += marker(0xDA, b"\x01\x01\x00" + b"\x01\x3f\x00") + b"\x7f"  # AC 1-63 first scan: EOB
    return out + b"\xff\xd9"


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "Tests", "Fixtures", "images")
    files = {
        "many_scans.jpg": many_scans_jpeg(1024),
        "bomb_16k.png": png(16384, 16384, 2, 8, zlib.compress(b"\x00" * (1 + 3 * 16384), 9)),
        "wide.png": png(100000, 1, 0, 8, zlib.compress(b"\x00" + bytes(range(256)) * 390 + bytes(160), 9)),
    }
    for name, data in files.items():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
