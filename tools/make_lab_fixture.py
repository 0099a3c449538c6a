"""Writes Tests/Fixtures/lab/lab.json: scikit-image's rgb2lab and lab2rgb on a deterministic
set of colours, the reference for Sources/ImageIO/Lab.swift (Tests/ImageIOTests/LabTests.swift).

    python3 -m venv /tmp/labvenv && /tmp/labvenv/bin/pip install scikit-image numpy
    /tmp/labvenv/bin/python tools/make_lab_fixture.py
"""
import json, os
import numpy as np
import skimage
from skimage import color

rng = np.random.default_rng(0)
corners = [[r, g, b] for r in (0, 1) for g in (0, 1) for b in (0, 1)]
grays = [[v, v, v] for v in np.linspace(0, 1, 11)]
dark = [[v, v * 0.5, v * 0.25] for v in (0.001, 0.01, 0.03, 0.04045, 0.0405, 0.05, 0.08)]
rgb = np.array(corners + grays + dark + rng.random((200, 3)).tolist(), dtype=np.float64)
rgb8 = rng.integers(0, 256, (100, 3)) / 255.0
rgb = np.concatenate([rgb, rgb8])
lab = color.rgb2lab(rgb.reshape(1, -1, 3)).reshape(-1, 3)
# Lab values, in gamut and out of it (negative Z after conversion included).
lab_in = np.concatenate([lab[::3], np.stack([rng.uniform(0, 100, 150), rng.uniform(-110, 110, 150), rng.uniform(-110, 110, 150)], 1)])
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    rgb_out = color.lab2rgb(lab_in.reshape(1, -1, 3)).reshape(-1, 3)
out = {"skimage": skimage.__version__, "rgb": rgb.ravel().tolist(), "lab": lab.ravel().tolist(),
       "lab_in": lab_in.ravel().tolist(), "rgb_out": rgb_out.ravel().tolist()}
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "lab", "lab.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print("wrote", path, len(rgb), "colours, skimage", skimage.__version__)
