"""Writes Tests/Fixtures/lab/lab.json: scikit-image's rgb2lab and lab2rgb on a fixed set of
colours, the reference for Sources/ImageIO/Lab.swift (Tests/ImageIOTests/LabTests.swift).

    python3 -m venv /tmp/labvenv && /tmp/labvenv/bin/pip install scikit-image numpy
    /tmp/labvenv/bin/python tools/make_lab_fixture.py

The committed fixture was made with scikit-image 0.26.0 and numpy 2.x (the JSON records the
versions). Deterministic: fixed lists and numpy's default_rng(0).

Layout (all flat lists of float64, interleaved triples):
  rgb      r, g, b in [0, 1]       lab      skimage.color.rgb2lab(rgb)
  lab_in   L, a, b (in and out of the sRGB gamut, negative Z included)
  rgb_out  skimage.color.lab2rgb(lab_in) (negative Z clipped to 0, result clipped to [0, 1])
Inputs are rounded to float32 first, so that the Swift side (which takes [Float]) converts
exactly the values skimage converted.
"""
import json, os, warnings
import numpy as np
import skimage
from skimage import color

rng = np.random.default_rng(0)

# The cube's corners, grays, and dark values on both sides of the sRGB linear-segment
# threshold (0.04045) and of the Lab f(t) threshold (t = 0.008856 for X/Xn, Y, Z/Zn).
corners = [[r, g, b] for r in (0, 1) for g in (0, 1) for b in (0, 1)]
grays = [[v, v, v] for v in np.linspace(0, 1, 11)] + [[v, v, v] for v in (1 / 255, 2 / 255, 254 / 255)]
srgb_t = [0.0, 1e-4, 0.001, 0.01, 0.04, 0.0404, 0.04045, 0.0405, 0.041, 0.05]
dark = [[v, v, v] for v in srgb_t] + [[v, 0, 0] for v in srgb_t] + [[0, v, 0] for v in srgb_t] + [[0, 0, v] for v in srgb_t]


def srgb_of_linear(c):
    return 1.055 * c ** (1 / 2.4) - 0.055 if c > 0.0031308 else 12.92 * c


lab_t = []
for s in (0.99, 0.999, 1.0, 1.001, 1.01):
    t = 0.008856 * s
    lab_t.append([srgb_of_linear(t)] * 3)                        # Y = t (and X/Xn, Z/Zn near it)
    lab_t.append([srgb_of_linear(t * 0.95047 / 0.412453), 0, 0])  # X/Xn = t from red alone
    lab_t.append([0, srgb_of_linear(t / 0.715160), 0])            # Y = t from green alone
    lab_t.append([0, 0, srgb_of_linear(t * 1.08883 / 0.950227)])  # Z/Zn = t from blue alone

random = rng.random((100, 3)).tolist()
bytes_ = (rng.integers(0, 256, (60, 3)) / 255.0).tolist()        # what 8-bit images give
rgb = np.array(corners + grays + dark + lab_t + random + bytes_, dtype=np.float32).astype(np.float64)
lab = color.rgb2lab(rgb.reshape(1, -1, 3)).reshape(-1, 3)

# Lab values: every third converted colour (in gamut), L around the inverse f threshold
# (f^-1 switches at 0.2068966, L = 8), and random values out of the gamut: a, b up to
# +-128, large b (negative Z before clipping), large -a at low L (negative X), L 0 and 100.
edge = [[L, a, b] for L in (0, 7.99, 8.0, 8.0001, 8.01, 50, 100) for a, b in ((0, 0), (20, -30), (-40, 60))]
extreme = [[L, a, b] for L in (0, 1, 5, 30, 60, 100) for a, b in ((-128, -128), (-128, 127), (127, -128), (127, 127), (0, 127))]
wild = np.stack([rng.uniform(0, 100, 100), rng.uniform(-128, 127, 100), rng.uniform(-128, 127, 100)], 1)
lab_in = np.concatenate([lab[::3], np.array(edge + extreme), wild]).astype(np.float32).astype(np.float64)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the negative-Z warning: those values are meant
    rgb_out = color.lab2rgb(lab_in.reshape(1, -1, 3)).reshape(-1, 3)


def flat(a):
    return [float(f"{v:.10g}") for v in np.asarray(a).ravel()]


out = {"skimage": skimage.__version__, "numpy": np.__version__,
       "rgb": flat(rgb), "lab": flat(lab), "lab_in": flat(lab_in), "rgb_out": flat(rgb_out)}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "lab", "lab.json")
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
    f.write("\n")
print(f"wrote {os.path.normpath(path)}: {len(rgb)} colours, {len(lab_in)} Lab values, "
      f"skimage {skimage.__version__}, {os.path.getsize(path)} bytes")
