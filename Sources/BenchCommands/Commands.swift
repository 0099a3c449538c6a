import ArgumentParser
import Foundation
import Tensors
import Pipelines

/// `translate-bench`: `kernels` (the default: sgemm, the U-Net-256 layers and the whole
/// U-Net-256 in this process), `compare`, `scaling` or `workload NAME`.
public struct BenchCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "translate-bench",
        abstract: "Benchmarks of the kernels, whole training steps and inference, against PyTorch if given one.",
        usage: """
        translate-bench [kernels] [--iters <n>] [--quick] [--torch-python <path>] [--json <file>]
        translate-bench <subcommand> [<options>]
        """,
        discussion: """
        Environment: OPENBLAS_CORETYPE is set to an AVX-512 family on AVX-512 CPUs (\(BLASSetup.optOutVariable)=1 \
        disables); \(ConvPolicy.winogradVariable)=0 runs every convolution without Winograd (direct sums: im2col + \
        OpenBLAS).
        """,
        subcommands: [Kernels.self, Compare.self, Scaling.self, Workload.self, Plan.self, Profile.self],
        defaultSubcommand: Kernels.self)

    public init() {}
}

/// `kernels`, the default: sgemm, every U-Net-256 convolution layer and the whole U-Net-256
/// in this process.
public struct Kernels: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "sgemm, every U-Net-256 convolution layer, and the whole U-Net-256 forward and backward at 1x3x256x256.")

    @Option(help: ArgumentHelp("Timed repetitions per measurement (the median is reported).", valueName: "n"))
    var iters = 7

    @Flag(help: "Fewer and smaller measurements (a smoke run: 2 repetitions, 64 px, no PyTorch).")
    var quick = false

    @Option(help: ArgumentHelp("A Python with torch: runs tools/bench_torch_unet.py in the same run for the ratio.", valueName: "path"))
    var torchPython: String?

    @Option(help: ArgumentHelp("Also write the results as JSON.", valueName: "file"))
    var json: String?

    public init() {}

    public func validate() throws {
        try positive(iters, "--iters")
    }

    public func run() throws {
        try Bench.runAll(iters: quick ? 2 : iters, quick: quick, torchPython: torchPython, jsonPath: json)
    }
}

/// `compare` (or `steps`): whole training steps and inference against PyTorch.
public struct Compare: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Whole training steps and inference vs PyTorch and ONNX Runtime, each workload in its own process.",
        discussion: """
        Reports the median time at each thread count, the ratios to PyTorch and ONNX Runtime at the same count \
        (medians of per-round ratios), the speed-up from the fewest to the most threads, the matrix-product rate \
        against the sgemm rate of the same run and each workload's peak resident memory. PyTorch runs \
        ../shared/bench/torch_reference.py's networks and steps through tools/bench_torch_workloads.py; ONNX Runtime \
        the same generators exported with torch.onnx.export (tools/bench_onnx.py).
        """,
        aliases: ["steps"])

    @Option(help: ArgumentHelp("Image size.", valueName: "n"))
    var size = 256

    @Option(help: ArgumentHelp("Timed repetitions per measurement (the median is reported).", valueName: "n"))
    var iters = 3

    @Option(help: ArgumentHelp("Rounds alternating PyTorch and ours; medians, and the median of the per-round ratios.", valueName: "r"))
    var rounds = 1

    @Option(help: ArgumentHelp("Only these workloads, PyTorch's too (comma-separated: \(WorkloadName.compared.map(\.rawValue).joined(separator: ", "))).",
                               valueName: "a,b"),
            transform: { try Compare.workloads($0) })
    var only: [WorkloadName]?

    @Option(help: ArgumentHelp("A Python with torch: runs PyTorch's reference in the same run for the ratio.", valueName: "path"))
    var torchPython: String?

    @Option(help: ArgumentHelp("Thread counts, each run by ours (TRANSLATE_THREADS), PyTorch (set_num_threads) and ONNX Runtime (intra-op threads); default: this process's.",
                               valueName: "a,b"),
            transform: { try Compare.threadCounts($0) })
    var threads: [Int]?

    @Flag(help: "Also time ONNX Runtime on the inference workloads (needs onnx, onnxscript and onnxruntime in --torch-python's environment).")
    var onnx = false

    public init() {}

    /// A comma-separated list of thread counts.
    static func threadCounts(_ text: String) throws -> [Int] {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let counts = parts.compactMap { Int($0) }
        guard !parts.isEmpty, counts.count == parts.count, counts.allSatisfy({ (1...Parallelism.maxThreads).contains($0) }) else {
            throw ValidationError("--threads needs thread counts from 1 to \(Parallelism.maxThreads), comma-separated (got '\(text)')")
        }
        return counts
    }

    /// A comma-separated list of workloads `compare` runs, in their usual order.
    static func workloads(_ text: String) throws -> [WorkloadName] {
        let asked = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let known = WorkloadName.compared.map(\.rawValue).joined(separator: ", ")
        guard !asked.isEmpty else { throw ValidationError("needs workload names (\(known))") }
        if let bad = asked.first(where: { a in !WorkloadName.compared.contains { $0.rawValue == a } }) {
            throw ValidationError("unknown workload '\(bad)' (known: \(known))")
        }
        return WorkloadName.compared.filter { asked.contains($0.rawValue) }
    }

    public func validate() throws {
        if onnx && torchPython == nil { throw ValidationError("--onnx needs --torch-python (a Python with torch, onnx, onnxscript and onnxruntime)") }
        try positive(size, "--size")
        try positive(iters, "--iters")
        try positive(rounds, "--rounds")
    }

    public func run() throws {
        try Bench.compare(names: only ?? WorkloadName.compared, size: size, iters: iters, rounds: rounds, threads: threads,
                          torchPython: torchPython, onnx: onnx)
    }
}

/// `scaling`: the pix2pix step against image size and batch size.
public struct Scaling: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "scaling",
        abstract: "The pix2pix training step against image size (batch 1) and batch size (256 px), ours in child processes.")

    @Option(help: ArgumentHelp("Timed repetitions per measurement (the median is reported).", valueName: "n"))
    var iters = 3

    @Option(help: ArgumentHelp("A Python with torch: runs tools/bench_torch_scaling.py in the same run for the ratio.", valueName: "path"))
    var torchPython: String?

    public init() {}

    public func validate() throws {
        try positive(iters, "--iters")
    }

    public func run() throws {
        try Bench.scaling(iters: iters, torchPython: torchPython)
    }
}

/// `workload NAME`: one workload in this process, one JSON line (what `compare` and
/// `scaling` run in their child processes).
public struct Workload: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "workload",
        abstract: "One workload in this process; prints one JSON line (compare and scaling run these in child processes).",
        discussion: """
        unet-layers: each U-Net-256 layer without gradients, per-image OpenBLAS vs batched (batch 8 unless --batch). \
        train-layers: each pix2pix convolution with gradients, per-image direct sums vs the defaults (batch 1 unless \
        --batch). tile-layers: Winograd's two tile sizes, F(2x2, 3x3) vs F(4x4, 3x3) on the 3x3 convolutions of the \
        shipped networks and F(2x2, 2x2) vs F(4x4, 2x2) on U-Net-256's 4x4 stride-2 layers, with gradients (batch 1 \
        unless --batch) and without (batch 8 unless --batch).
        """)

    @Argument(help: "The workload.")
    var name: WorkloadName

    @Option(help: ArgumentHelp("Image size.", valueName: "n"))
    var size = 256

    @Option(help: ArgumentHelp("Timed repetitions per measurement (the median is reported).", valueName: "n"))
    var iters = 3

    @Option(help: ArgumentHelp("Images per step (training: 1, inference: 8 unless given).", valueName: "n"))
    var batch: Int?

    public init() {}

    public func validate() throws {
        try positive(size, "--size")
        try positive(iters, "--iters")
        if let batch { try positive(batch, "--batch") }
    }

    public func run() throws {
        try Workloads.run(name, size: size, iters: iters, batch: batch)
    }
}

extension WorkloadName: ExpressibleByArgument {}

/// A count that must be at least 1; the error names the flag.
func positive(_ value: Int, _ flag: String) throws {
    guard value > 0 else { throw ValidationError("\(flag) needs a positive whole number, not \(value)") }
}

/// `plan`: the algorithm of every convolution (forward, input and weight gradients) of a
/// pix2pix training step, a CycleGAN training step and U-Net-256 inference at batch 8, under
/// the policy in effect (`TRANSLATE_WINOGRAD=0` shows the direct sums).
public struct Plan: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Print the convolution plan of every layer of the benchmark workloads (no timing).")

    @Option(help: ArgumentHelp("Image size.", valueName: "n"))
    var size = 256

    public init() {}

    public func validate() throws { try positive(size, "--size") }

    public func run() throws {
        var rng = RNG(seed: 1)
        let a = Tensor.rand([1, 3, size, size], low: -1, high: 1, rng: &rng)
        let b = Tensor.rand([1, 3, size, size], low: -1, high: 1, rng: &rng)
        var c = Pix2PixConfig()
        c.netG = GeneratorArch(rawValue: "unet-\(size)") ?? .unet256
        let p2p = try Pix2Pix(config: c, rng: &rng)
        let cycle = try CycleGAN(config: CycleGANConfig(), rng: &rng)
        let x8 = Tensor.rand([8, 3, size, size], low: -1, high: 1, rng: &rng)
        let runs: [(String, () throws -> Void)] = [
            ("pix2pix training step (U-Net + PatchGAN, batch 1)", { _ = try p2p.trainStep(input: a, target: b) }),
            ("CycleGAN training step (2 ResNet-9 + 2 PatchGAN, batch 1)", { _ = try cycle.trainStep(realA: a, realB: b, rng: &rng) }),
            ("U-Net inference, batch 8", { _ = try p2p.netG.translate(x8, mode: .eval) }),
        ]
        print("policy: \(ConvPolicy.current)")
        for (title, body) in runs {
            let plans = try ConvTrace.trace(body).plans
            print("\n\(title): \(plans.count) convolutions")
            for p in plans { print("  " + p.description) }
        }
    }
}

/// `translate-bench profile`: wall time per op (forward and backward apart) and per phase
/// (optimizer, other) of whole-step workloads at several thread counts in one process,
/// alternating rounds; each phase's speed-up gives its parallel fraction, and from those a
/// projection to more threads (Amdahl per phase) and the phase that stops scaling first.
public struct Profile: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Wall time per op and phase of whole-step workloads at several thread counts, and a per-phase projection to 4, 8 and 16 threads.")

    @Option(help: ArgumentHelp("Workloads, comma-separated.", valueName: "names"))
    var workloads = "pix2pix-step,cyclegan-step,unet-infer-b8,resnet-infer-b8"
    @Option(help: ArgumentHelp("Thread counts, comma-separated (the first is the base of the speed-ups).", valueName: "list"))
    var threads = "1,2"
    @Option(help: ArgumentHelp("Rounds (each runs every thread count once; medians are reported).", valueName: "n"))
    var rounds = 3
    @Option(help: ArgumentHelp("Image size.", valueName: "n"))
    var size = 256
    @Option(help: ArgumentHelp("Rows shown per workload (the largest phases; the rest are summed).", valueName: "n"))
    var top = 12

    public init() {}

    public func validate() throws {
        try positive(rounds, "--rounds"); try positive(size, "--size"); try positive(top, "--top")
        _ = try names(); _ = try counts()
    }

    func names() throws -> [WorkloadName] {
        try workloads.split(separator: ",").map { s in
            guard let w = WorkloadName(rawValue: String(s)), WorkloadName.compared.contains(w) else {
                throw ValidationError("--workloads: '\(s)' is not one of \(WorkloadName.compared.map(\.rawValue).joined(separator: ", "))")
            }
            return w
        }
    }

    func counts() throws -> [Int] {
        let c = try threads.split(separator: ",").map { s -> Int in
            guard let n = Int(s), n >= 1 else { throw ValidationError("--threads: '\(s)' is not a thread count") }
            return n
        }
        guard c.count >= 2 else { throw ValidationError("--threads: give at least two thread counts, e.g. 1,2") }
        return c
    }

    public func run() throws {
        let names = try names(), counts = try counts()
        print("profile: \(size) px, threads \(counts.map(String.init).joined(separator: ", ")), \(rounds) rounds (medians, ms per repetition)")
        for name in names {
            let body = try Workloads.body(name, size: size, batch: nil)
            try body()   // warm-up: allocator, weight caches
            var samples = [[String: [Double]]](repeating: [:], count: counts.count)
            var totals = [[Double]](repeating: [], count: counts.count)
            for _ in 0..<rounds {
                for (i, n) in counts.enumerated() {
                    let p = try Parallelism(threads: n).run { try OpProfile.profile(body).profile }
                    for (k, e) in p.entries { samples[i][k, default: []].append(e.seconds) }
                    totals[i].append(p.total)
                }
            }
            func med(_ xs: [Double]?) -> Double { guard let xs, !xs.isEmpty else { return 0 }; return xs.sorted()[xs.count / 2] }
            let keys = Set(samples.flatMap(\.keys))
            var rows = keys.map { k in (k, counts.indices.map { med(samples[$0][k]) }) }.sorted { $0.1[0] > $1.1[0] }
            if rows.count > top {
                let rest = rows[top...].reduce(into: [Double](repeating: 0, count: counts.count)) { acc, r in for i in acc.indices { acc[i] += r.1[i] } }
                rows = Array(rows[..<top]) + [("(\(rows.count - top) smaller entries)", rest)]
            }
            let (c0, c1) = (Double(counts[0]), Double(counts[1]))
            // Amdahl: t(n) = t0 ((1 - p) + p c0 / n), p from the first two counts.
            func fraction(_ t: [Double]) -> Double {
                guard t[0] > 0 else { return 0 }
                return min(1, max(0, (1 - t[1] / t[0]) / (1 - c0 / c1)))
            }
            func projected(_ t: [Double], _ n: Double) -> Double { let p = fraction(t); return t[0] * ((1 - p) + p * c0 / n) }
            print("\n\(name.rawValue)")
            let head = "phase".padding(toLength: 34, withPad: " ", startingAt: 0) + counts.map { String(repeating: " ", count: max(0, 10 - "\($0) thr".count)) + "\($0) thr" }.joined()
                + "   speed-up  parallel    proj. 4 / 8 / 16 threads"
            print(head)
            var proj = [0.0, 0.0, 0.0]
            var serialShare: [(String, Double)] = []
            for (k, t) in rows {
                let ps = [4.0, 8, 16].map { projected(t, $0) }
                for i in 0..<3 { proj[i] += ps[i] }
                serialShare.append((k, ps[2]))
                print(k.padding(toLength: 34, withPad: " ", startingAt: 0) + t.map { String(format: "%10.1f", $0 * 1e3) }.joined()
                      + String(format: "   %7.2fx  %8.2f    %7.1f / %.1f / %.1f", t[1] > 0 ? t[0] / t[1] : 0, fraction(t), ps[0] * 1e3, ps[1] * 1e3, ps[2] * 1e3))
            }
            let whole = counts.indices.map { med(totals[$0]) }
            print("whole".padding(toLength: 34, withPad: " ", startingAt: 0) + whole.map { String(format: "%10.1f", $0 * 1e3) }.joined()
                  + String(format: "   %7.2fx  %8.2f    %7.1f / %.1f / %.1f (sum of the phases' projections: %.2fx / %.2fx / %.2fx of %d thread%@)",
                           whole[0] / whole[1], fraction(whole), proj[0] * 1e3, proj[1] * 1e3, proj[2] * 1e3,
                           whole[0] / proj[0], whole[0] / proj[1], whole[0] / proj[2], counts[0], counts[0] == 1 ? "" : "s"))
            if let worst = serialShare.max(by: { $0.1 < $1.1 }) {
                print(String(format: "at 16 threads the largest phase would be %@ (%.0f %% of the projected time)", worst.0, 100 * worst.1 / max(proj[2], 1e-12)))
            }
        }
    }
}
