#!/usr/bin/env python3
"""Time a subset of ../shared/bench/torch_reference.py's workloads, exactly as it does.

Used by `translate-bench compare --only NAMES`, so that rounds alternating PyTorch and ours
can be short (the full reference script spends most of its time in CycleGAN steps). The
networks, optimisers, inputs and timing loop are torch_reference.py's own (imported from it).

    python tools/bench_torch_workloads.py REFERENCE_PY SIZE ITERS [--threads N] NAME [NAME ...]
    NAME: pix2pix-step | cyclegan-step | unet-infer-b8 | resnet-infer-b8

--threads N runs torch with torch.set_num_threads(N) (and one inter-op thread); without it,
torch's default. resnet-infer-b8 is the reference's ResNet-9 generator, batch 8, no grad.

Prints one JSON line with torch_reference.py's keys for the workloads asked for.
"""
import importlib.util
import json
import sys

import torch
import torch.nn as nn


def main():
    ref_path, size, iters, names = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    if names[:1] == ["--threads"]:
        torch.set_num_threads(int(names[1]))
        names = names[2:]
    spec = importlib.util.spec_from_file_location("torch_reference", ref_path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    known = {"pix2pix-step", "cyclegan-step", "unet-infer-b8", "resnet-infer-b8"}
    bad = [n for n in names if n not in known]
    if bad or not names:
        sys.exit(f"unknown workload(s) {bad or names}; known: {sorted(known)}")
    torch.manual_seed(0)
    adam = lambda ps: torch.optim.Adam(ps, lr=2e-4, betas=(0.5, 0.999))
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "size": size}
    A = torch.randn(1, 3, size, size); B = torch.randn(1, 3, size, size)
    downs = {256: 8, 128: 7, 64: 6, 32: 5}[size]
    bce, l1, mse = nn.BCEWithLogitsLoss(), nn.L1Loss(), nn.MSELoss()
    if "pix2pix-step" in names or "unet-infer-b8" in names:
        G = ref.unet(downs=downs); D = ref.patchgan(6)
        if "pix2pix-step" in names:
            oG, oD = adam(G.parameters()), adam(D.parameters())
            out["pix2pix_train_step_s"] = ref.timeit(lambda: ref.pix2pix_step(G, D, oG, oD, A, B, bce, l1), iters)
        if "unet-infer-b8" in names:
            G.eval()
            X8 = torch.randn(8, 3, size, size)
            with torch.no_grad():
                out["unet_infer_batch8_s"] = ref.timeit(lambda: G(X8), iters)
    if "resnet-infer-b8" in names:
        R = ref.resnet().eval()
        X8 = torch.randn(8, 3, size, size)
        with torch.no_grad():
            out["resnet_infer_batch8_s"] = ref.timeit(lambda: R(X8), iters)
    if "cyclegan-step" in names:
        GA, GB = ref.resnet(), ref.resnet()
        DA, DB = ref.patchgan(3, norm="instance"), ref.patchgan(3, norm="instance")
        oG = adam(list(GA.parameters()) + list(GB.parameters())); oD = adam(list(DA.parameters()) + list(DB.parameters()))
        out["cyclegan_train_step_s"] = ref.timeit(lambda: ref.cyclegan_step(GA, GB, DA, DB, oG, oD, A, B, mse, l1),
                                                  max(2, iters // 2))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
