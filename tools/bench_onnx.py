#!/usr/bin/env python3
"""Time ONNX Runtime (CPU execution provider) on the reference's generators, batch 8.

Used by `translate-bench compare --onnx`: the U-Net-256 and the ResNet-9 generators of
../shared/bench/torch_reference.py (imported from it, eval mode), exported with
torch.onnx.export, run by onnxruntime with intra-op threads = N (one inter-op thread,
sequential execution, all graph optimisations), the same warm-up and median as
torch_reference.py's timeit.

    python tools/bench_onnx.py REFERENCE_PY SIZE ITERS THREADS NAME [NAME ...]
    NAME: unet-infer-b8 | resnet-infer-b8

Needs torch, onnx, onnxscript and onnxruntime (pip, outside the repository). Prints one
JSON line: {"onnxruntime": version, "threads": N, "unet_infer_batch8_s": ..., ...}.
"""
import importlib.util
import json
import os
import sys
import tempfile
import time
import warnings

import numpy as np
import onnxruntime as ort
import torch


def main():
    warnings.simplefilter("ignore")  # the exporter's notes on constant folding and instance norm
    ref_path, size, iters, threads, names = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
    known = {"unet-infer-b8", "resnet-infer-b8"}
    bad = [n for n in names if n not in known]
    if bad or not names:
        sys.exit(f"unknown workload(s) {bad or names}; known: {sorted(known)}")
    spec = importlib.util.spec_from_file_location("torch_reference", ref_path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    torch.manual_seed(0)
    downs = {256: 8, 128: 7, 64: 6, 32: 5}[size]
    out = {"onnxruntime": ort.__version__, "threads": threads, "size": size}
    x8 = np.random.default_rng(0).uniform(-1, 1, (8, 3, size, size)).astype(np.float32)
    nets = {"unet-infer-b8": ("unet_infer_batch8_s", lambda: ref.unet(downs=downs)),
            "resnet-infer-b8": ("resnet_infer_batch8_s", lambda: ref.resnet())}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            key, make = nets[name]
            net = make().eval()
            path = os.path.join(tmp, name + ".onnx")
            with torch.no_grad():
                torch.onnx.export(net, (torch.from_numpy(x8),), path, input_names=["x"], output_names=["y"], dynamo=False)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            run = lambda: sess.run(None, {"x": x8})
            run()  # warm-up
            t = []
            for _ in range(iters):
                t0 = time.perf_counter(); run(); t.append(time.perf_counter() - t0)
            t.sort()
            out[key] = t[len(t) // 2]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
