#!/usr/bin/env python3
"""Time the pix2pix unet_256 generator in PyTorch on CPU (baseline for the Swift port).

Model: UnetGenerator(input_nc 3, output_nc 3, num_downs 8, ngf 64, BatchNorm2d,
use_dropout=True -> Dropout(0.5) in the 3 middle ngf*8 blocks), built by the same
re-implementation of the reference that tools/make_fixtures.py uses, reference init
(normal, gain 0.02), train mode. Input: batch 1, 3x256x256.

  unet256_fwd_bwd_s : median wall time of  out = G(x); (out * r).sum().backward()
                      (fixed random r, gradients reset to None before each run)
  unet256_fwd_s     : median wall time of the forward alone under torch.no_grad(),
                      still in train mode (batch-stat BatchNorm, active dropout)

Each measurement does 1 warm-up run, then N timed runs (N = argv[1], default 7).
Uses 2 intra-op threads. Prints one JSON line.

    /path/to/venv/bin/python tools/bench_torch_unet.py [N]
"""

import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import UnetGenerator, init_weights, n_params  # noqa: E402

THREADS = 2


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    G = UnetGenerator(3, 3, 8, ngf=64, use_dropout=True)
    init_weights(G)
    assert n_params(G) == 54_413_955
    G.train()
    x = torch.randn(1, 3, 256, 256)
    r = torch.randn(1, 3, 256, 256)

    def fwd_bwd():
        G.zero_grad(set_to_none=True)
        out = G(x)
        (out * r).sum().backward()

    def fwd():
        with torch.no_grad():
            G(x)

    def median_time(fn):
        fn()  # warm-up
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    t_fb = median_time(fwd_bwd)
    t_f = median_time(fwd)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "unet256_fwd_bwd_s": round(t_fb, 4), "unet256_fwd_s": round(t_f, 4)}))


if __name__ == "__main__":
    main()
