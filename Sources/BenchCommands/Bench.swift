import Foundation
import Tensors
import NN
import Pipelines

/// Median wall time of `body` over `iters` runs after one warm-up.
func median(_ iters: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var times: [Double] = []
    for _ in 0..<max(iters, 1) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    times.sort()
    return times[times.count / 2]
}

struct Row { var name: String; var seconds: Double; var gflop: Double }

/// The measurements behind the commands (Commands.swift).
enum Bench {
    /// Times one layer's forward (no grad; 2 * MACs FLOPs) and forward + backward with input
    /// and weight gradients (6 * MACs FLOPs).
    static func measureLayer(_ name: String, _ inputs: [Tensor], macs: Double, iters: Int,
                             _ layer: () throws -> Tensor) throws -> [Row] {
        let tf = try median(iters) { _ = try withNoGrad { try layer() } }
        let tb = try median(iters) {
            let y = try layer()
            for t in inputs { t.zeroGrad() }
            try y.backward(gradient: Tensor(repeating: 1, shape: y.shape))
        }
        return [Row(name: name, seconds: tf, gflop: 2 * macs / 1e9), Row(name: "  fwd+bwd", seconds: tb, gflop: 6 * macs / 1e9)]
    }

    /// Runs tools/bench_torch_unet.py with `python` and returns its JSON line.
    static func runTorchReference(python: String, iters: Int) throws -> [String: Any] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tools/bench_torch_unet.py")
        return try runPython(python, script: script, args: ["\(iters)"])
    }

    /// `scaling`: the pix2pix training step against image size (batch 1) and batch size
    /// (256 px), ours in child processes and PyTorch's (tools/bench_torch_scaling.py) if given.
    static func scaling(iters: Int, torchPython: String?) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tools/bench_torch_scaling.py")
        print("pix2pix training step (U-Net-256 + PatchGAN), median of \(iters); OpenBLAS core: \(BLASInfo.coreName)")
        print("size  batch    ours s   PyTorch s   PyTorch/ours   ours ms/image")
        for (size, batch) in [(128, 1), (256, 1), (512, 1), (256, 4), (256, 8)] {
            // PyTorch first: our BLAS threads must not steal its cores.
            let ref = try torchPython.map { try runPython($0, script: script, args: ["\(size)", "\(batch)", "\(iters)"])["seconds"] as? Double } ?? nil
            let ours = try Workloads.spawn(.pix2pixStep, size: size, iters: iters, batch: batch)["seconds"] as? Double ?? .nan
            print(String(format: "%4d  %5d  %8.3f   %@   %@   %10.1f", size, batch, ours,
                         ref.map { String(format: "%9.3f", $0) } ?? "        -",
                         ref.map { String(format: "%11.2fx", $0 / ours) } ?? "          -", 1000 * ours / Double(batch)))
        }
    }

    /// `compare`: every workload of `names` in its own process at each thread count, and
    /// PyTorch's reference code (tools/bench_torch_workloads.py, `torch.set_num_threads`) and
    /// ONNX Runtime (tools/bench_onnx.py, inference workloads) at the same count when a
    /// Python is given; rounds alternate the three, each round's ratios are taken within the
    /// round, and the medians are reported.
    static func compare(names: [WorkloadName], size: Int, iters: Int, rounds: Int, threads: [Int]?, torchPython: String?,
                        onnx: Bool) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let reference = root.deletingLastPathComponent().appendingPathComponent("shared/bench/torch_reference.py")
        let counts: [Int?] = threads.map { $0.map { Optional($0) } } ?? [nil]
        let inference = names.filter(\.isInference)
        // seconds[threads][workload][implementation] over rounds
        var seconds: [Int: [WorkloadName: [String: [Double]]]] = [:]
        var rss: [WorkloadName: Double] = [:], gflop: [WorkloadName: Double] = [:]
        var rates: [Double] = [], versions: [String: String] = [:]
        func add(_ t: Int, _ name: WorkloadName, _ impl: String, _ v: Double?) {
            guard let v else { return }
            seconds[t, default: [:]][name, default: [:]][impl, default: []].append(v)
        }
        for _ in 0..<rounds {
            rates.append(sgemmRate(n: 2048, iters: 3).gflops)
            for count in counts {
                let t = count ?? Parallelism.current.threads
                if let py = torchPython {
                    let json = try runPython(py, script: root.appendingPathComponent("tools/bench_torch_workloads.py"),
                                             args: [reference.path, "\(size)", "\(iters)", "--threads", "\(t)"] + names.map(\.rawValue))
                    versions["PyTorch"] = "\(json["torch"] ?? "?")"
                    for n in names { add(t, n, "torch", json[n.referenceKey] as? Double) }
                    if onnx && !inference.isEmpty {
                        let o = try runPython(py, script: root.appendingPathComponent("tools/bench_onnx.py"),
                                              args: [reference.path, "\(size)", "\(iters)", "\(t)"] + inference.map(\.rawValue))
                        versions["ONNX Runtime"] = "\(o["onnxruntime"] ?? "?")"
                        for n in inference { add(t, n, "onnx", o[n.referenceKey] as? Double) }
                    }
                }
                for n in names {
                    let r = try Workloads.spawn(n, size: size, iters: iters, threads: t)
                    add(t, n, "ours", r["seconds"] as? Double)
                    rss[n] = max(rss[n] ?? 0, r["peak_rss_mb"] as? Double ?? 0)
                    gflop[n] = r["gemm_gflop"] as? Double
                }
            }
        }
        let rate = medianOf(rates)
        print("OpenBLAS core: \(BLASInfo.coreName); size \(size), batch 1 (inference batch 8), median of \(iters) per round, "
              + "\(rounds) round(s); sgemm 2048^3 at \(Parallelism.current.threads) thread(s) \(Int(rate)) GFLOP/s (rounds: \(rates.map { String(Int($0)) }.joined(separator: ", ")))")
        print("workload          threads    ours s   PyTorch s  PyTorch/ours    ONNX s   ONNX/ours   GEMM GFLOP/s  share of sgemm  peak RSS MB")
        func ratio(_ ref: [Double]?, _ ours: [Double]) -> String {
            guard let ref, !ref.isEmpty else { return "         -" }
            return String(format: "%9.2fx", medianOf(zip(ref, ours).map { $0 / $1 }))
        }
        func cell(_ v: [Double]?) -> String { v.map { String(format: "%9.3f", medianOf($0)) } ?? "        -" }
        for n in names {
            for t in seconds.keys.sorted() {
                guard let row = seconds[t]?[n], let ours = row["ours"] else { continue }
                let s = medianOf(ours), gf = gflop[n] ?? .nan
                let head: String = n.rawValue.padding(toLength: 17, withPad: " ", startingAt: 0) + String(format: " %7d  %8.3f  ", t, s)
                let torch: String = cell(row["torch"]) + "  " + ratio(row["torch"], ours)
                let onnxCells: String = cell(row["onnx"]) + "  " + ratio(row["onnx"], ours)
                let tail: String = String(format: "  %12.1f  %13.0f%%  %11.0f", gf / s, 100 * gf / s / rate, rss[n] ?? .nan)
                print(head + torch + "  " + onnxCells + tail)
                if rounds > 1 {
                    func list(_ label: String, _ v: [Double]?) -> String {
                        v.map { label + $0.map { String(format: "%.3f", $0) }.joined(separator: " ") } ?? ""
                    }
                    print("  per round: " + list("ours ", ours) + list(", PyTorch ", row["torch"]) + list(", ONNX ", row["onnx"]))
                }
            }
            // Speed-up from the fewest to the most threads, per implementation (medians of per-round ratios).
            let ts = seconds.keys.sorted()
            if ts.count > 1, let lo = seconds[ts.first!]?[n], let hi = seconds[ts.last!]?[n] {
                let parts = ["ours", "torch", "onnx"].compactMap { impl -> String? in
                    guard let a = lo[impl], let b = hi[impl] else { return nil }
                    return String(format: "%@ %.2fx", impl == "torch" ? "PyTorch" : impl == "onnx" ? "ONNX" : "ours", medianOf(zip(a, b).map { $0 / $1 }))
                }
                print("  speed-up \(ts.first!) -> \(ts.last!) threads: " + parts.joined(separator: ", "))
            }
        }
        if !versions.isEmpty {
            print(versions.keys.sorted().map { "\($0) \(versions[$0]!)" }.joined(separator: ", ")
                  + ", same run, same thread counts (tools/bench_torch_workloads.py\(versions["ONNX Runtime"] == nil ? "" : ", tools/bench_onnx.py"))")
        }
    }

    static func medianOf(_ v: [Double]) -> Double {
        guard !v.isEmpty else { return .nan }
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func runPython(_ python: String, script: URL, args: [String]) throws -> [String: Any] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script.path] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        do { try p.run() } catch { throw TensorError.invalidArgument("--torch-python \(python): cannot run: \(error)") }
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let line = String(data: out, encoding: .utf8)?.split(separator: "\n").last,
              let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw TensorError.invalidArgument("--torch-python \(python): \(script.path) failed (exit \(p.terminationStatus))")
        }
        return obj
    }

    /// GFLOP/s of an n x n x n sgemm (median of `iters`) and the median seconds.
    static func sgemmRate(n: Int, iters: Int) -> (gflops: Double, seconds: Double) {
        var rng = RNG(seed: 0)
        let a = Tensor.randn([n * n], rng: &rng).data, b = Tensor.randn([n * n], rng: &rng).data
        var c = [Float](repeating: 0, count: n * n)
        let t = median(iters) { sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n) }
        return (2 * Double(n * n * n) / t / 1e9, t)
    }

    static func runAll(iters: Int, quick: Bool, torchPython: String?, jsonPath: String?) throws {
        // PyTorch first, before our BLAS threads exist, so that they cannot steal its cores.
        var torch: [String: Any]?
        if let py = torchPython, !quick { torch = try runTorchReference(python: py, iters: iters) }
        print("OpenBLAS core: \(BLASInfo.coreName), threads: \(BLASInfo.threads), OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")")
        var json: [String: Any] = ["openblas_core": BLASInfo.coreName, "threads": BLASInfo.threads, "iters": iters]

        // 1. sgemm peak on square matrices.
        let n = quick ? 512 : 2048
        let (sgemmRate, tg) = Self.sgemmRate(n: n, iters: iters)
        var rng = RNG(seed: 0)
        print(String(format: "sgemm %dx%dx%d: %.2f ms, %.0f GFLOP/s", n, n, n, tg * 1e3, sgemmRate))
        json["sgemm_n"] = n; json["sgemm_gflops"] = sgemmRate

        // 2. conv2d / convTranspose2d at the U-Net-256 layer shapes, forward and backward.
        let size = quick ? 64 : 256
        var rows: [Row] = []
        let ngf = 64
        let downs: [(Int, Int)] = [(3, ngf), (ngf, 2 * ngf), (2 * ngf, 4 * ngf), (4 * ngf, 8 * ngf),
                                   (8 * ngf, 8 * ngf), (8 * ngf, 8 * ngf), (8 * ngf, 8 * ngf), (8 * ngf, 8 * ngf)]
        var side = size
        for (k, (cin, cout)) in downs.enumerated() where side >= 2 {
            let x = Tensor.randn([1, cin, side, side], rng: &rng, requiresGrad: true)
            let w = Tensor.randn([cout, cin, 4, 4], std: 0.02, rng: &rng, requiresGrad: true)
            rows += try measureLayer("conv2d down\(k + 1) \(cin)->\(cout) @\(side)", [x, w],
                                     macs: Double(cout * cin * 16 * (side / 2) * (side / 2)), iters: iters) {
                try conv2d(x, weight: w, stride: 2, padding: 1)
            }
            side /= 2
        }
        // Up path: innermost takes 8ngf, the others 2x their inner width (skip concat).
        let ups: [(Int, Int)] = [(8 * ngf, 8 * ngf), (16 * ngf, 8 * ngf), (16 * ngf, 8 * ngf), (16 * ngf, 8 * ngf),
                                 (16 * ngf, 4 * ngf), (8 * ngf, 2 * ngf), (4 * ngf, ngf), (2 * ngf, 3)]
        side = max(size >> 8, 1)
        for (k, (cin, cout)) in ups.enumerated() where side * 2 <= size {
            let x = Tensor.randn([1, cin, side, side], rng: &rng, requiresGrad: true)
            let w = Tensor.randn([cin, cout, 4, 4], std: 0.02, rng: &rng, requiresGrad: true)
            rows += try measureLayer("convT up\(k + 1) \(cin)->\(cout) @\(side)", [x, w],
                                     macs: Double(cout * cin * 16 * side * side), iters: iters) {
                try convTranspose2d(x, weight: w, stride: 2, padding: 1)
            }
            side *= 2
        }
        print("\nlayer                                 time ms   GFLOP/s  share of sgemm")
        var layerJSON: [[String: Any]] = []
        for r in rows {
            let rate = r.gflop / r.seconds
            print(r.name.padding(toLength: 36, withPad: " ", startingAt: 0) + String(format: " %8.2f %9.1f %8.0f%%", r.seconds * 1e3, rate, 100 * rate / sgemmRate))
            layerJSON.append(["name": r.name.trimmingCharacters(in: .whitespaces), "seconds": r.seconds, "gflops": rate])
        }
        json["layers"] = layerJSON

        // 3. The whole U-Net-256 (8 downsamplings, ngf 64, batch norm, dropout), train mode, batch 1.
        let downsCount = quick ? 6 : 8
        let g = try UnetGenerator(inputNc: 3, outputNc: 3, numDowns: downsCount, ngf: 64, norm: .batch, useDropout: true, rng: &rng)
        let x = Tensor.randn([1, 3, size, size], rng: &rng)
        let r = Tensor.randn([1, 3, size, size], rng: &rng)
        let tFwdBwd = try median(iters) {
            g.zeroGrad()
            let y = try g(x)
            try y.backward(gradient: r)
        }
        let tFwd = try median(iters) { _ = try withNoGrad { try g(x) } }
        print(String(format: "\nU-Net %d (ngf 64, batch norm, dropout) 1x3x%dx%d train mode: forward+backward %.1f ms, forward (no grad) %.1f ms",
                     downsCount, size, size, tFwdBwd * 1e3, tFwd * 1e3))
        json["unet_fwd_bwd_s"] = tFwdBwd; json["unet_fwd_s"] = tFwd; json["size"] = size

        if let obj = torch, let tt = obj["unet256_fwd_bwd_s"] as? Double, let tf = obj["unet256_fwd_s"] as? Double {
            print(String(format: "PyTorch %@ (%@ threads), same run: forward+backward %.1f ms, forward %.1f ms",
                         "\(obj["torch"] ?? "?")", "\(obj["threads"] ?? "?")", tt * 1e3, tf * 1e3))
            print(String(format: "ratio PyTorch/ours: forward+backward %.2fx, forward %.2fx (above 1 = we are faster)",
                         tt / tFwdBwd, tf / tFwd))
            json["torch"] = obj
            json["speedup_fwd_bwd"] = tt / tFwdBwd
            json["speedup_fwd"] = tf / tFwd
        }
        if let path = jsonPath {
            let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
            try writeAtomically(data, to: URL(fileURLWithPath: path))
        }
    }
}
