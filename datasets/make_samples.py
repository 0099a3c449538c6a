"""Extracts the sample label maps shipped in datasets/samples/facades_labels/.

They are the right halves (B, the colour-coded label maps) of a few images of the CMP
Facade validation split as released with pix2pix, 256x256, saved as PNG. Usage:
    python datasets/make_samples.py ../shared/datasets/facades
(needs Pillow; the committed PNGs are what the README's main command translates).
"""
import sys
from pathlib import Path
from PIL import Image

root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/facades")
out = Path(__file__).parent / "samples" / "facades_labels"
out.mkdir(parents=True, exist_ok=True)
for name in ["1", "12", "25", "47", "63", "88"]:
    im = Image.open(root / "val" / f"{name}.jpg").convert("RGB")
    w, h = im.size
    im.crop((w // 2, 0, w, h)).save(out / f"facade_{name}.png", optimize=True)
    print("wrote", out / f"facade_{name}.png")
