import XCTest
import Foundation
import Tensors
import NN
import TestSupport
@testable import Pipelines

/// Every thread count gives the same bits: training steps of each method, a cIMLE selection
/// round, the convolution algorithms and OpenBLAS products, run at 1, 2, 3, 5 and 8 threads
/// (more threads than this machine has cores is fine) and compared bit for bit.
final class ThreadCountTests: XCTestCase {
    static let counts = [1, 2, 3, 5, 8]

    /// `body` at each thread count, with splitting forced at any size (the tiny shapes here
    /// would otherwise run in one chunk).
    func atEveryThreadCount(_ body: () throws -> [(String, [Float])]) throws -> [[(String, [Float])]] {
        try Self.counts.map { n in try Parallelism(threads: n, minimumWorkOverride: 1).run(body) }
    }

    func assertSameBits(_ runs: [[(String, [Float])]], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let reference = runs[0]
        XCTAssertFalse(reference.isEmpty, file: file, line: line)
        for (i, run) in runs.enumerated().dropFirst() {
            XCTAssertEqual(run.map(\.0), reference.map(\.0), file: file, line: line)
            for ((name, a), (_, b)) in zip(reference, run) {
                let same = a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
                XCTAssertTrue(same, "\(what): \(name) at \(Self.counts[i]) threads differs from 1 thread", file: file, line: line)
            }
        }
    }

    func state(_ nets: [(String, Module)]) -> [(String, [Float])] {
        nets.flatMap { prefix, m in m.stateDict(prefix: prefix + ".").map { ($0.0, $0.1.data) } }
    }

    func testPix2PixStepsAndOutputs() throws {
        let runs = try atEveryThreadCount {
            var c = Pix2PixConfig()
            c.netG = .unet32; c.ngf = 8; c.ndf = 8
            var rng = RNG(seed: 11)
            let m = try Pix2Pix(config: c, rng: &rng)
            var losses: [Float] = []
            for _ in 0..<2 {
                let x = Tensor.rand([2, 3, 32, 32], low: -1, high: 1, rng: &rng), y = Tensor.rand([2, 3, 32, 32], low: -1, high: 1, rng: &rng)
                losses += try m.trainStep(input: x, target: y).values
            }
            let out = try withNoGrad { try m.netG.translate(Tensor.rand([3, 3, 32, 32], low: -1, high: 1, rng: &rng), mode: .eval) }
            return [("losses", losses), ("apply output", out.data)] + state([("G", m.netG), ("D", m.netD)])
        }
        assertSameBits(runs, "pix2pix")
    }

    func testCycleGANSteps() throws {
        let runs = try atEveryThreadCount {
            var c = CycleGANConfig()
            c.netG = .resnet6; c.ngf = 4; c.ndf = 4
            var rng = RNG(seed: 12)
            let m = try CycleGAN(config: c, rng: &rng, generatorBlocks: 1)
            var losses: [Float] = []
            for _ in 0..<2 {
                let a = Tensor.rand([1, 3, 32, 32], low: -1, high: 1, rng: &rng), b = Tensor.rand([1, 3, 32, 32], low: -1, high: 1, rng: &rng)
                losses += try m.trainStep(realA: a, realB: b, rng: &rng).values
            }
            return [("losses", losses)] + state([("G_A", m.netGA), ("G_B", m.netGB), ("D_A", m.netDA), ("D_B", m.netDB)])
        }
        assertSameBits(runs, "CycleGAN")
    }

    func testCIMLESelectionRound() throws {
        let runs = try atEveryThreadCount {
            var c = CIMLEConfig(task: .superResolution, inputNc: 3, levels: 2, widths: [16, 8], noiseChannels: 2)
            c.scale = 2; c.lpipsWeight = 0; c.levelCandidates = [4, 4]; c.candidates = 6
            var rng = RNG(seed: 13)
            let m = try CIMLE(config: c, lpips: nil, rng: &rng)
            var pool = (0..<4).map { _ in
                CIMLE.PoolItem(x: Tensor.rand([1, 3, 8, 8], low: -1, high: 1, rng: &rng), y: Tensor.rand([1, 3, 16, 16], low: -1, high: 1, rng: &rng))
            }
            try m.selectCodes(&pool, rng: &rng)
            var losses: [Float] = []
            for b in m.roundBatches(poolCount: pool.count, batchSize: 2, rng: &rng) { losses += try m.trainStep(pool: pool, indices: b) }
            let codes = pool.flatMap { $0.code.flatMap(\.data) }
            return [("losses", losses), ("codes", codes)] + state([("G", m.netG)])
        }
        assertSameBits(runs, "cIMLE")
    }

    /// The convolution algorithms at sizes that choose them (3x3 Winograd, 4x4 stride-2,
    /// transposed, pointwise), forward and both gradients.
    func testConvolutionAlgorithms() throws {
        let runs = try atEveryThreadCount {
            var rng = RNG(seed: 14)
            var out: [(String, [Float])] = []
            let cases: [(String, [Int], [Int], Int, Int, Bool)] = [
                ("3x3 s1", [2, 32, 16, 16], [32, 32, 3, 3], 1, 1, false),
                ("4x4 s2", [2, 32, 16, 16], [32, 32, 4, 4], 2, 1, false),
                ("4x4 s2 transposed", [2, 32, 8, 8], [32, 32, 4, 4], 2, 1, true),
                ("1x1", [2, 64, 8, 8], [16, 64, 1, 1], 1, 0, false),
                ("7x7 reflect-sized", [1, 3, 22, 22], [8, 3, 7, 7], 1, 0, false),
            ]
            for (name, xs, ws, stride, pad, transposed) in cases {
                let x = Tensor.randn(xs, rng: &rng, requiresGrad: true), w = Tensor.randn(ws, rng: &rng, requiresGrad: true)
                let y = transposed ? try convTranspose2d(x, weight: w, stride: Size2(stride), padding: Size2(pad))
                                   : try conv2d(x, weight: w, stride: Size2(stride), padding: Size2(pad))
                let up = Tensor.randn(y.shape, rng: &rng)
                try y.backward(gradient: up)
                out += [(name + " forward", y.data), (name + " input grad", x.grad ?? []), (name + " weight grad", w.grad ?? [])]
            }
            return out
        }
        assertSameBits(runs, "convolutions")
    }

    /// OpenBLAS's products at sizes where it uses its threads (no forced splitting): a
    /// pointwise convolution of a 128-channel 64x64 map and its gradients.
    func testOpenBLASProductsAtRealSizes() throws {
        let runs = try Self.counts.map { n in
            try Parallelism(threads: n).run { () -> [(String, [Float])] in
                var rng = RNG(seed: 15)
                let x = Tensor.randn([1, 128, 64, 64], rng: &rng, requiresGrad: true), w = Tensor.randn([128, 128, 1, 1], rng: &rng, requiresGrad: true)
                let y = try conv2d(x, weight: w)
                try y.backward(gradient: Tensor.randn(y.shape, rng: &rng))
                return [("forward", y.data), ("input grad", x.grad ?? []), ("weight grad", w.grad ?? [])]
            }
        }
        assertSameBits(runs, "OpenBLAS")
    }

    func testThreadCountsParseAndScope() throws {
        XCTAssertEqual(try Parallelism.parse("8", source: "--threads").threads, 8)
        XCTAssertEqual(try Parallelism.parse("auto", source: "--threads").threads, Parallelism.availableCPUs())
        XCTAssertThrowsError(try Parallelism.parse("-2", source: "--threads")) { XCTAssertTrue("\($0)".contains("--threads '-2'"), "\($0)") }
        XCTAssertThrowsError(try Parallelism.parse("many", source: "TRANSLATE_THREADS")) { XCTAssertTrue("\($0)".contains("TRANSLATE_THREADS"), "\($0)") }
        let outside = Parallelism.current
        Parallelism(threads: 5).run {
            XCTAssertEqual(Parallelism.current.threads, 5)
            XCTAssertEqual(BLASInfo.threads, 1, "OpenBLAS stays single-threaded: sgemm splits its products itself")
            Parallelism(threads: 2).run { XCTAssertEqual(Parallelism.current.threads, 2) }
            XCTAssertEqual(Parallelism.current.threads, 5)
        }
        XCTAssertEqual(Parallelism.current, outside)
        // Quotas: v2 cpu.max and rounding.
        XCTAssertEqual(Parallelism.parseCPUMax("400000 100000"), 4)
        XCTAssertEqual(Parallelism.parseCPUMax("150000 100000"), 2)
        XCTAssertNil(Parallelism.parseCPUMax("max 100000"))
        XCTAssertGreaterThanOrEqual(Parallelism.availableCPUs(), 1)
    }

    /// A container's cgroup quota is found along the process's own cgroup path.
    func testCgroupQuotaIsRead() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let leaf = root.appendingPathComponent("sys/fs/cgroup/box/job")
        try FileManager.default.createDirectory(at: leaf, withIntermediateDirectories: true)
        try "max 100000\n".write(to: root.appendingPathComponent("sys/fs/cgroup/cpu.max"), atomically: true, encoding: .utf8)
        try "300000 100000\n".write(to: root.appendingPathComponent("sys/fs/cgroup/box/cpu.max"), atomically: true, encoding: .utf8)
        try "max 100000\n".write(to: leaf.appendingPathComponent("cpu.max"), atomically: true, encoding: .utf8)
        let selfFile = root.appendingPathComponent("cgroup")
        try "0::/box/job\n".write(to: selfFile, atomically: true, encoding: .utf8)
        XCTAssertEqual(Parallelism.cgroupQuota(root: root.appendingPathComponent("sys/fs/cgroup").path, selfCgroup: selfFile.path), 3)
        try "0::/\n".write(to: selfFile, atomically: true, encoding: .utf8)
        XCTAssertNil(Parallelism.cgroupQuota(root: root.appendingPathComponent("sys/fs/cgroup").path, selfCgroup: selfFile.path))
    }
}
