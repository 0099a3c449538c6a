"""PyTorch's pix2pix training step for one image size and batch size, for
`translate-bench scaling`: prints {"seconds": median} as JSON.

Usage: python tools/bench_torch_scaling.py SIZE BATCH ITERS
The networks and the step are the ones of ../shared/bench/torch_reference.py (U-Net with 8
downsamplings, i.e. unet_256, for every size as in the reference recipe, and a 70x70
PatchGAN), imported from that file.
"""
import importlib.util
import json
import sys
from pathlib import Path

import torch
import torch.nn as nn

ref_path = Path(__file__).resolve().parents[2] / "shared" / "bench" / "torch_reference.py"
spec = importlib.util.spec_from_file_location("torch_reference", ref_path)
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

size, batch, iters = (int(a) for a in sys.argv[1:4])
torch.manual_seed(0)
G, D = ref.unet(downs=min(8, size.bit_length() - 1)), ref.patchgan(6)
adam = lambda ps: torch.optim.Adam(ps, lr=2e-4, betas=(0.5, 0.999))
oG, oD = adam(G.parameters()), adam(D.parameters())
A, B = torch.randn(batch, 3, size, size), torch.randn(batch, 3, size, size)
t = ref.timeit(lambda: ref.pix2pix_step(G, D, oG, oD, A, B, nn.BCEWithLogitsLoss(), nn.L1Loss()), iters)
print(json.dumps({"seconds": t, "size": size, "batch": batch, "torch": torch.__version__, "threads": torch.get_num_threads()}))
