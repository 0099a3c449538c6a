#!/usr/bin/env python3
"""Fingerprints of the shipped models' outputs, written by a build of an earlier commit.

Usage: tools/make_compat_fixture.py OUTPUT_DIR... > Tests/Fixtures/compat/shipped_models.json

Each OUTPUT_DIR is a `translate apply` result folder named <model>__<anything>; every PNG in
it (not index_files/) is recorded with its size and a 16x16 box-averaged thumbnail (0-255),
so ShippedModelCompatTests can check that today's code reads the models of that commit and
gives the same outputs. (Exact pixels depend on the BLAS kernel the CPU gets, so they are
not recorded.) How the fixture in the tree was
made (the commit, the inputs, the flags) is in its "made_by" field.
"""
import json, os, sys
from PIL import Image
import numpy as np

out = {}
for d in sys.argv[1:]:
    for f in sorted(os.listdir(d)):
        if not f.endswith(".png"):
            continue
        img = np.asarray(Image.open(os.path.join(d, f)).convert("RGB"), dtype=np.float64)
        h, w, _ = img.shape
        thumb = [[[float(img[(y * h) // 16:((y + 1) * h) // 16, (x * w) // 16:((x + 1) * w) // 16, c].mean()) for c in range(3)]
                  for x in range(16)] for y in range(16)]
        out[os.path.basename(d.rstrip("/")) + "/" + f] = {
            "width": w, "height": h,
            "thumb": thumb,
        }
json.dump({"made_by": os.environ.get("MADE_BY", ""), "outputs": out}, sys.stdout, indent=0)
