import Foundation
import Tensors
import NN
import Pipelines

/// The workloads of `translate-bench workload NAME`.
public enum WorkloadName: String, CaseIterable, Sendable {
    case pix2pixStep = "pix2pix-step", cycleganStep = "cyclegan-step", unetInferB8 = "unet-infer-b8", resnetInferB8 = "resnet-infer-b8"
    /// Run only by name (`workload NAME`), not by `compare`.
    case unetLayers = "unet-layers", trainLayers = "train-layers", tileLayers = "tile-layers"

    /// The workloads `compare` runs (and PyTorch's reference script times).
    public static let compared: [WorkloadName] = [.pix2pixStep, .cycleganStep, .unetInferB8, .resnetInferB8]

    /// The key of this workload's seconds in the PyTorch and ONNX Runtime scripts' JSON.
    var referenceKey: String {
        switch self {
        case .pix2pixStep: "pix2pix_train_step_s"
        case .cycleganStep: "cyclegan_train_step_s"
        case .unetInferB8: "unet_infer_batch8_s"
        case .resnetInferB8: "resnet_infer_batch8_s"
        case .unetLayers, .trainLayers, .tileLayers: rawValue
        }
    }

    /// Inference workloads, which ONNX Runtime also runs.
    var isInference: Bool { self == .unetInferB8 || self == .resnetInferB8 }
}

/// Whole training steps and inference, each measured in its own child process so that its
/// peak resident memory is its own (`translate-bench workload NAME`).
enum Workloads {

    /// Peak resident set size of this process in MB.
    static var peakRSSMB: Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_maxrss) / 1024
    }

    /// GFLOP of matrix products in one more run of the last timed body.
    nonisolated(unsafe) static var gemmGFLOP = 0.0
    static func countGEMM(_ body: () throws -> Void) rethrows {
        GEMMCounter.flops = 0
        GEMMCounter.enabled = true
        defer { GEMMCounter.enabled = false; gemmGFLOP = GEMMCounter.flops / 1e9 }
        try body()
    }

    /// The body of one timed repetition of a whole-step or inference workload (built once:
    /// networks, inputs), for `profile`.
    static func body(_ name: WorkloadName, size: Int, batch: Int? = nil) throws -> () throws -> Void {
        var rng = RNG(seed: 0)
        let n = batch ?? 1
        let a = Tensor.rand([n, 3, size, size], low: -1, high: 1, rng: &rng)
        let b = Tensor.rand([n, 3, size, size], low: -1, high: 1, rng: &rng)
        let downs = min(8, Int(log2(Double(size))))
        switch name {
        case .pix2pixStep:
            var c = Pix2PixConfig()
            c.netG = GeneratorArch(rawValue: "unet-\(size)") ?? .unet256
            let m = try Pix2Pix(config: c, rng: &rng)
            return { _ = try m.trainStep(input: a, target: b) }
        case .cycleganStep:
            let m = try CycleGAN(config: CycleGANConfig(), rng: &rng)
            var stepRNG = RNG(seed: 1)
            return { _ = try m.trainStep(realA: a, realB: b, rng: &stepRNG) }
        case .unetInferB8, .resnetInferB8:
            let g: Module = name == .unetInferB8
                ? try UnetGenerator(numDowns: downs, ngf: 64, norm: .batch, useDropout: true, rng: &rng)
                : try ResnetGenerator(rng: &rng)
            g.eval()
            let x = Tensor.rand([batch ?? 8, 3, size, size], low: -1, high: 1, rng: &rng)
            return { _ = try withNoGrad { try g(x) } }
        case .unetLayers, .trainLayers, .tileLayers:
            throw TensorError.invalidArgument("\(name.rawValue) is a per-layer table, not one body to profile")
        }
    }

    /// Runs one workload here and prints one JSON line.
    /// `batch`: images per training step (1 in the reference recipes); inference uses 8 unless given.
    static func run(_ name: WorkloadName, size: Int, iters: Int, batch: Int? = nil) throws {
        var rng = RNG(seed: 0)
        var result: [String: Any] = ["workload": name.rawValue, "size": size, "batch": batch ?? (name.isInference ? 8 : 1)]
        switch name {
        case .pix2pixStep, .cycleganStep, .unetInferB8, .resnetInferB8:
            let f = try body(name, size: size, batch: batch)
            let t = try median(iters, f)
            try countGEMM(f)
            result["seconds"] = t
            if name.isInference { result["images_per_s"] = Double(batch ?? 8) / t }
            // Forward MACs: G once per step + D three times; backward ~2x forward for the parts with gradients.
            if name == .pix2pixStep { result["gmac_forward_256"] = 6.05 + 3 * 3.20 }
        case .unetLayers:
            // Each inner U-Net layer at batch `batch ?? 8` without gradients: per-image OpenBLAS
            // products vs the batched path, alternating, medians in ms.
            let m = batch ?? 8
            let shapes: [(String, Int, Int, Int, Bool)] = [  // name, in channels, out channels, in size, transposed
                ("e1", 3, 64, 256, false), ("e2", 64, 128, 128, false), ("e3", 128, 256, 64, false), ("e4", 256, 512, 32, false), ("e5", 512, 512, 16, false),
                ("e6", 512, 512, 8, false), ("e7", 512, 512, 4, false), ("d2", 1024, 512, 2, true), ("d3", 1024, 512, 4, true), ("d4", 1024, 512, 8, true),
                ("d5", 1024, 256, 16, true), ("d6", 512, 128, 32, true), ("d7", 256, 64, 64, true), ("d8", 128, 3, 128, true)]
            let base = ConvPolicy.current
            let saved = (base.batchedMaxPositions, base.winogradS2, base.fewColumnsMaxPositions)
            print("layer (batch \(m))   per-image OpenBLAS   batched   batched, packed kernel only   Winograd s2 (else batched)   ms, GFLOP/s of the direct sums")
            for (nm, ci, co, h, t) in shapes {
                let x = Tensor.rand([m, ci, h, h], low: -1, high: 1, rng: &rng)
                let w = Tensor.randn(t ? [ci, co, 4, 4] : [co, ci, 4, 4], std: 0.02, rng: &rng)
                let f = { _ = try withNoGrad { t ? try convTranspose2d(x, weight: w, stride: 2, padding: 1)
                                                 : try conv2d(x, weight: w, stride: 2, padding: 1) } }
                let variants = [(0, false, saved.2), (saved.0, false, saved.2), (saved.0, false, 0), (saved.0, true, saved.2)]
                var times = [[Double]](repeating: [], count: variants.count)
                for _ in 0..<iters {   // alternating, so that load from elsewhere hits all alike
                    for (i, v) in variants.enumerated() {
                        let policy = base.with { ($0.batchedMaxPositions, $0.winogradS2, $0.fewColumnsMaxPositions) = v }
                        times[i].append(try policy.run { try median(1, f) })
                    }
                }
                let gf = 2.0 * Double(m * ci * co * 16) * Double(t ? h * h : h * h / 4) / 1e9
                let cells = times.map { ts -> String in
                    let md = ts.sorted()[ts.count / 2]
                    return String(format: "%8.2f ms %4.0f", md * 1e3, gf / md)
                }
                print(nm.padding(toLength: 6, withPad: " ", startingAt: 0), cells.joined(separator: "   "))
            }
        case .trainLayers:
            // Each convolution of a pix2pix step (U-Net-256 and the PatchGAN) at batch
            // `batch ?? 1` with gradients: forward, and backward (input and weight gradients)
            // from a random output gradient, per-image direct sums vs the defaults,
            // alternating; medians in ms and GFLOP/s of the direct sums.
            let m = batch ?? 1
            // name, in channels, out channels, in size, kernel, stride, transposed, input needs a gradient
            let shapes: [(String, Int, Int, Int, Int, Int, Bool, Bool)] = [
                ("e1", 3, 64, 256, 4, 2, false, false), ("e2", 64, 128, 128, 4, 2, false, true), ("e3", 128, 256, 64, 4, 2, false, true),
                ("e4", 256, 512, 32, 4, 2, false, true), ("e5", 512, 512, 16, 4, 2, false, true), ("e6", 512, 512, 8, 4, 2, false, true),
                ("e7", 512, 512, 4, 4, 2, false, true), ("e8", 512, 512, 2, 4, 2, false, true),
                ("d1", 512, 512, 1, 4, 2, true, true), ("d2", 1024, 512, 2, 4, 2, true, true), ("d3", 1024, 512, 4, 4, 2, true, true),
                ("d4", 1024, 512, 8, 4, 2, true, true), ("d5", 1024, 256, 16, 4, 2, true, true), ("d6", 512, 128, 32, 4, 2, true, true),
                ("d7", 256, 64, 64, 4, 2, true, true), ("d8", 128, 3, 128, 4, 2, true, true),
                ("D1", 6, 64, 256, 4, 2, false, true), ("D2", 64, 128, 128, 4, 2, false, true), ("D3", 128, 256, 64, 4, 2, false, true),
                ("D4", 256, 512, 32, 4, 1, false, true), ("D5", 512, 1, 31, 4, 1, false, true)]
            print("layer (batch \(m))   forward ms (GFLOP/s of the direct sums)    backward ms      [per-image direct sums | defaults: Winograd, batch-wide products on small planes]")
            // Left: per-image direct sums (no Winograd, no batch-wide products); right: the
            // defaults (TRANSLATE_WINOGRAD=0 turns Winograd off on both sides).
            let base = ConvPolicy.current
            let saved = (base.winogradS2Training, base.winograd4x4, base.trainingBatchedMaxPositions)
            var totals = [0.0, 0.0, 0.0, 0.0]
            for (nm, ci, co, h, k, s, t, needsDX) in shapes {
                let x = Tensor.rand([m, ci, h, h], low: -1, high: 1, rng: &rng, requiresGrad: needsDX)
                let w = Tensor.randn(t ? [ci, co, k, k] : [co, ci, k, k], std: 0.02, rng: &rng)
                w.requiresGrad = true
                let f = { t ? try convTranspose2d(x, weight: w, stride: Size2(s), padding: 1)
                            : try conv2d(x, weight: w, stride: Size2(s), padding: 1) }
                let probe = try f()
                let gout = Tensor.randn(probe.shape, std: 1, rng: &rng)
                var times = [[Double]](repeating: [], count: 4)   // forward, backward; direct, Winograd
                for _ in 0..<iters {   // alternating, so that load from elsewhere hits both alike
                    for (v, wino) in [false, true].enumerated() {
                        let policy = base.with { ($0.winogradS2Training, $0.winograd4x4, $0.trainingBatchedMaxPositions) = (wino && saved.0, wino && saved.1, wino ? saved.2 : 0) }
                        let (t0, t1, t2) = try policy.run { () -> (UInt64, UInt64, UInt64) in
                            let t0 = DispatchTime.now().uptimeNanoseconds
                            let y = try f()
                            let t1 = DispatchTime.now().uptimeNanoseconds
                            try y.backward(gradient: gout)
                            return (t0, t1, DispatchTime.now().uptimeNanoseconds)
                        }
                        times[v].append(Double(t1 - t0) / 1e9); times[2 + v].append(Double(t2 - t1) / 1e9)
                        x.zeroGrad(); w.zeroGrad()
                    }
                }
                let outPlane = probe.shape[2] * probe.shape[3], inPlane = h * h
                let gf = 2.0 * Double(m * ci * co * k * k) * Double(t ? inPlane : outPlane) / 1e9
                let md = times.map { $0.sorted()[$0.count / 2] }
                for i in 0..<4 { totals[i] += md[i] }
                print(nm.padding(toLength: 18, withPad: " ", startingAt: 0),
                      String(format: "%8.2f (%4.0f) | %8.2f (%4.0f)     %8.2f (%4.0f) | %8.2f (%4.0f)", md[0] * 1e3, gf / md[0], md[1] * 1e3, gf / md[1],
                             md[2] * 1e3, gf * (needsDX ? 2 : 1) / md[2], md[3] * 1e3, gf * (needsDX ? 2 : 1) / md[3]))
            }
            print(String(format: "total              %8.2f        | %8.2f            %8.2f        | %8.2f", totals[0] * 1e3, totals[1] * 1e3,
                         totals[2] * 1e3, totals[3] * 1e3))
        case .tileLayers:
            // Winograd's two tile sizes, alternating: the 3x3 convolutions of the shipped
            // networks, F(2x2, 3x3) vs F(4x4, 3x3) (`winogradTile4MinPositions`), and the 4x4
            // stride-2 layers of U-Net-256 and the PatchGAN over phase images, F(2x2, 2x2) vs
            // F(4x4, 2x2) (`winogradS2Tile4`): forward and backward with gradients (batch
            // `batch ?? 1`; the stride-2 layers where training takes Winograd at all), forward
            // alone without (batch 8 unless --batch).
            let shapes: [(String, Int, Int, Int, Int, Int)] = [   // name, channels in, out, input side, padding, 0: 3x3 / 1: 4x4 s2 / 2: transposed
                ("ResNet block 256 @64", 256, 256, 66, 0, 0), ("cascade 64 @32", 64, 64, 32, 1, 0), ("cascade 48 @64", 48, 48, 64, 1, 0),
                ("cascade 32 @128", 32, 32, 128, 1, 0), ("LPIPS conv3 192->384 @13", 192, 384, 13, 1, 0), ("ResNet block 256 @32", 256, 256, 34, 0, 0),
                ("ResNet block 256 @16", 256, 256, 18, 0, 0),
                ("U-Net e2 64->128 @128", 64, 128, 128, 1, 1), ("U-Net e3 128->256 @64", 128, 256, 64, 1, 1), ("U-Net e4 256->512 @32", 256, 512, 32, 1, 1),
                ("U-Net e5 512->512 @16", 512, 512, 16, 1, 1), ("U-Net d4 1024->512 @8", 1024, 512, 8, 1, 2), ("U-Net d5 1024->256 @16", 1024, 256, 16, 1, 2),
                ("U-Net d6 512->128 @32", 512, 128, 32, 1, 2), ("U-Net d7 256->64 @64", 256, 64, 64, 1, 2)]
            print("layer                      training fwd+bwd ms  2x2 | 4x4 tiles      inference (batch \(batch ?? 8)) ms  2x2 | 4x4")
            let base = ConvPolicy.current
            for (nm, ci, co, h, p, kind) in shapes {
                let w = Tensor.randn(kind == 0 ? [co, ci, 3, 3] : kind == 1 ? [co, ci, 4, 4] : [ci, co, 4, 4], std: 0.02, rng: &rng)
                w.requiresGrad = true
                let x = Tensor.rand([batch ?? 1, ci, h, h], low: -1, high: 1, rng: &rng, requiresGrad: true)
                let xi = Tensor.rand([batch ?? 8, ci, h, h], low: -1, high: 1, rng: &rng)
                let f = { (x: Tensor) in
                    switch kind {
                    case 0: try conv2d(x, weight: w, padding: Size2(p))
                    case 1: try conv2d(x, weight: w, stride: 2, padding: Size2(p))
                    default: try convTranspose2d(x, weight: w, stride: 2, padding: Size2(p))
                    }
                }
                let gout = Tensor.randn(try f(x).shape, std: 1, rng: &rng)
                var times = [[Double]](repeating: [], count: 4)
                for _ in 0..<iters {
                    for (v, tile4) in [false, true].enumerated() {
                        let policy = base.with {
                            if kind == 0 { $0.winogradTile4MinPositions = tile4 ? 0 : Int.max } else { $0.winogradS2Tile4 = tile4 }
                        }
                        try policy.run {
                            let t0 = DispatchTime.now().uptimeNanoseconds
                            try f(x).backward(gradient: gout)
                            let t1 = DispatchTime.now().uptimeNanoseconds
                            _ = try GradMode.withNoGrad { try f(xi) }
                            let t2 = DispatchTime.now().uptimeNanoseconds
                            times[v].append(Double(t1 - t0) / 1e9); times[2 + v].append(Double(t2 - t1) / 1e9)
                        }
                        x.zeroGrad(); w.zeroGrad()
                    }
                }
                let md = times.map { $0.sorted()[$0.count / 2] * 1e3 }
                print(nm.padding(toLength: 27, withPad: " ", startingAt: 0), String(format: "%10.2f | %8.2f            %10.2f | %8.2f", md[0], md[1], md[2], md[3]))
            }
        }
        result["peak_rss_mb"] = peakRSSMB
        result["gemm_gflop"] = gemmGFLOP
        result["iters"] = iters
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    /// Runs `workload` in a child process of this executable and returns its JSON.
    /// `threads`: its `TRANSLATE_THREADS` (else this process's environment).
    static func spawn(_ name: WorkloadName, size: Int, iters: Int, batch: Int? = nil, threads: Int? = nil) throws -> [String: Any] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        if let t = threads {
            var env = ProcessInfo.processInfo.environment
            env[Parallelism.environmentVariable] = "\(t)"
            p.environment = env
        }
        p.arguments = ["workload", name.rawValue, "--size", "\(size)", "--iters", "\(iters)"] + (batch.map { ["--batch", "\($0)"] } ?? [])
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let line = String(decoding: out, as: UTF8.self).split(separator: "\n").last,
              let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw TensorError.invalidArgument("workload \(name) failed (exit \(p.terminationStatus))")
        }
        return obj
    }
}
