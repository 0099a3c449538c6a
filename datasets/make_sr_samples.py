"""Writes the low-resolution sample images in datasets/samples/sr_lowres/.

They are scikit-image's public-domain sample photos `chelsea.png` (a cat, by Stefan van
der Walt) and `coffee.png` (a cup of coffee, by Rachel Michetti), downscaled x4 with
Pillow's bicubic filter: inputs for `translate apply --model models/sr_x4 --samples K`.
Usage (needs Pillow and scikit-image, e.g. in a virtualenv):
    python datasets/make_sr_samples.py
"""
from pathlib import Path
from PIL import Image
import skimage

src = Path(skimage.__file__).parent / "data"
out = Path(__file__).parent / "samples" / "sr_lowres"
out.mkdir(parents=True, exist_ok=True)
for name in ["chelsea", "coffee"]:
    im = Image.open(src / f"{name}.png").convert("RGB")
    w, h = im.size
    w, h = w // 4 * 4, h // 4 * 4
    im = im.crop((0, 0, w, h)).resize((w // 4, h // 4), Image.BICUBIC)
    im.save(out / f"{name}.png", optimize=True)
    print("wrote", out / f"{name}.png", im.size)
