import XCTest
import Foundation
import Tensors
import NN
import ImageIO
import TestSupport
@testable import Pipelines

final class CIMLETests: XCTestCase {
    func srConfig(scale: Int = 4) -> CIMLEConfig {
        var c = CIMLEConfig(task: .superResolution, inputNc: 3, levels: scale == 4 ? 3 : 2, widths: scale == 4 ? [16, 12, 8] : [16, 8], noiseChannels: 2)
        c.scale = scale
        c.lpipsWeight = 0
        c.levelCandidates = Array(repeating: 4, count: c.levels)
        return c
    }

    func meanAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.data, b.data).map { abs($0 - $1) }.reduce(0, +) / Float(a.count)
    }

    /// At initialisation two codes already give visibly different outputs (both pipelines).
    func testCodesChangeTheOutputAtInitialisation() throws {
        var rng = RNG(seed: 1)
        var layout = CIMLEConfig(task: .image(.layout), inputNc: 5, levels: 3, widths: [16, 12, 8], noiseChannels: 4)
        layout.lpipsWeight = 0; layout.levelCandidates = [4, 4, 4]
        for (c, x) in [(srConfig(), Tensor.rand([1, 3, 8, 8], low: -1, high: 1, rng: &rng)),
                       (layout, Tensor.rand([1, 5, 16, 16], low: 0, high: 1, rng: &rng))] {
            let m = try CIMLE(config: c, lpips: nil, rng: &rng)
            let s = try m.samples(x, count: 2, rng: &rng)
            let d = meanAbsDiff(s[0], s[1])
            print("\(c.task): mean |sample0 - sample1| at init = \(d * 127.5) grey levels")
            XCTAssertGreaterThan(d * 127.5, 2, "\(c.task): codes must change the output visibly at init")
        }
    }

    /// Selection (flat and hierarchical) finds codes nearer the target than random codes.
    func testSelectionBeatsRandomCodes() throws {
        var rng = RNG(seed: 5)
        for sel in CIMLESelection.allCases {
            var c = srConfig()
            c.consistency = false
            c.selection = sel; c.candidates = 24; c.levelCandidates = [12, 8, 8]
            let m = try CIMLE(config: c, lpips: nil, rng: &rng)
            let x = Tensor.rand([1, 3, 8, 8], low: -1, high: 1, rng: &rng)
            let target = try m.forward(x, code: try m.netG.randomCode(batch: 1, height: 8, width: 8, rng: &rng)).last!
            func dist(_ code: [Tensor]) throws -> Float { meanAbsDiff(try withNoGrad { try m.forward(x, code: code) }.last!, target) }
            let chosen = try dist(try m.select(x, target, rng: &rng))
            let random = try (0..<24).map { _ in try dist(try m.netG.randomCode(batch: 1, height: 8, width: 8, rng: &rng)) }.sorted()
            print("\(sel): chosen code at \(chosen), random codes median \(random[12]), best \(random[0])")
            XCTAssertLessThan(chosen, random[12])
        }
    }

    /// Tiled super-resolution equals whole-image generation (up to rounding): every tile's
    /// margin covers the generator's receptive field, and the projection runs on the whole.
    func testTiledGenerationEqualsWhole() throws {
        var rng = RNG(seed: 4)
        var c = srConfig()
        c.resBlocks = 2
        let m = try CIMLE(config: c, lpips: nil, rng: &rng)
        m.netG.eval()
        for (h, w, tile) in [(23, 37, 10), (9, 40, 8), (16, 16, 16)] {
            let x = Tensor.rand([1, 3, h, w], low: -1, high: 1, rng: &rng)
            let code = try m.netG.randomCode(batch: 1, height: h, width: w, rng: &rng)
            let (whole, tiled) = try withNoGrad { (try m.forward(x, code: code).last!, try m.tiledForward(x, code: code, tile: tile)) }
            XCTAssertEqual(whole.shape, tiled.shape)
            let worst = zip(whole.data, tiled.data).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-5, "\(h)x\(w) in tiles of \(tile): largest difference \(worst)")
        }
        // Without the margin the seams show: the test can tell.
        let x = Tensor.rand([1, 3, 23, 37], low: -1, high: 1, rng: &rng)
        let code = try m.netG.randomCode(batch: 1, height: 23, width: 37, rng: &rng)
        let (whole, seams) = try withNoGrad { (try m.forward(x, code: code).last!, try m.tiledForward(x, code: code, tile: 10, margin: 0)) }
        XCTAssertGreaterThan(zip(whole.data, seams.data).map { abs($0 - $1) }.max()!, 1e-3)
    }

    /// The consistency projection makes the bicubic downscale of the output equal the input.
    func testConsistencyProjectionIsExact() throws {
        var rng = RNG(seed: 2)
        let p = try ConsistencyProjection(lowHeight: 5, lowWidth: 7, scale: 4)
        let truth = Tensor.rand([2, 3, 20, 28], low: -1, high: 1, rng: &rng)
        let x = try p.downscale(truth)
        let y = Tensor.rand([2, 3, 20, 28], low: -1, high: 1, rng: &rng)
        let py = try p(y, lowRes: x)
        let err = meanAbsDiff(try p.downscale(py), x)
        print("consistency error after projection: \(err)")
        XCTAssertLessThan(err, 1e-5)
        // A projection onto a set containing the truth moves y closer to it.
        XCTAssertLessThan(meanAbsDiff(py, truth), meanAbsDiff(y, truth))
        // The matrix is PIL's: downscaling a constant image keeps the constant.
        let c = try p.downscale(Tensor(shape: [1, 1, 20, 28], data: Array(repeating: 0.3, count: 560)))
        XCTAssertEqual(c.data.max()!, 0.3, accuracy: 1e-6)
        XCTAssertEqual(c.data.min()!, 0.3, accuracy: 1e-6)
    }

    /// Three texture modes that downscaling destroys completely (horizontal stripes, vertical
    /// stripes, checkerboard: zero mean in every 2x2 block) on top of a visible base. cIMLE must
    /// recover every mode within 20 samples for at least 90 % of inputs; an L1 regression
    /// (the same network trained on the same pairs without codes) averages them and recovers none.
    func testRecoversModesThatTheInputCannotTellApart() throws {
        let side = 8, amp: Float = 0.5
        func pattern(_ k: Int, _ y: Int, _ x: Int) -> Float {
            switch k { case 0: return y % 2 == 0 ? amp : -amp; case 1: return x % 2 == 0 ? amp : -amp; default: return (x + y) % 2 == 0 ? amp : -amp }
        }
        var rng = RNG(seed: 11)
        // A base per input (constant per 2x2 block, so it survives downscaling), three possible targets.
        func makeInput() -> (x: Tensor, targets: [Tensor]) {
            let base = (0..<(3 * (side / 2) * (side / 2))).map { _ in rng.nextFloat() * 0.8 - 0.4 }
            let x = try! Tensor(shape: [1, 3, side / 2, side / 2], data: base)
            let targets = (0..<3).map { k -> Tensor in
                var d = [Float](repeating: 0, count: 3 * side * side)
                for c in 0..<3 { for y in 0..<side { for xx in 0..<side {
                    d[(c * side + y) * side + xx] = base[(c * (side / 2) + y / 2) * (side / 2) + xx / 2] + pattern(k, y, xx)
                } } }
                return try! Tensor(shape: [1, 3, side, side], data: d)
            }
            return (x, targets)
        }
        let train = (0..<48).map { _ in makeInput() }
        let test = (0..<20).map { _ in makeInput() }
        var c = srConfig(scale: 2)
        c.widths = [24, 24]; c.noiseChannels = 3; c.resBlocks = 0
        c.consistency = false
        c.selection = .flat; c.candidates = 24
        c.poolSize = 48; c.visits = 4; c.lr = 3e-3
        let model = try CIMLE(config: c, lpips: nil, rng: &rng)
        // The regression baseline: no noise channels, plain L1 steps on random (input, target) pairs.
        var rc = c; rc.noiseChannels = 0
        let regression = try CIMLE(config: rc, lpips: nil, rng: &rng)
        let t0 = Date()
        for round in 0..<30 {
            // Each round a fresh pool: every input paired with one of its modes at random.
            var pool = train.map { CIMLE.PoolItem(x: $0.x, y: $0.targets[rng.nextInt(3)]) }
            try model.selectCodes(&pool, rng: &rng)
            var last: [Float] = []
            for b in model.roundBatches(poolCount: pool.count, batchSize: 8, rng: &rng) {
                last = try model.trainStep(pool: pool, indices: b)
                var rpool = pool
                for i in b { rpool[i].code = [Tensor(zeros: [1, 0, 4, 4]), Tensor(zeros: [1, 0, 8, 8])] }
                _ = try regression.trainStep(pool: rpool, indices: b)
            }
            if round % 10 == 9 { print("round \(round + 1): cIMLE distance \(last[0])") }
        }
        print("training took \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
        func recovered(_ samples: [Tensor], _ targets: [Tensor]) -> Int {
            // A mode is recovered when some sample is within half the texture amplitude of it.
            targets.filter { t in samples.contains { meanAbsDiff($0, t) < amp / 2 } }.count
        }
        var allModes = 0, regressionModes = 0
        var nearest: [Float] = [], sampleNearest: [Float] = []
        for item in test {
            let s = try model.samples(item.x, count: 20, rng: &rng)
            sampleNearest += s.map { o in item.targets.map { meanAbsDiff(o, $0) }.min()! }
            if recovered(s, item.targets) == 3 { allModes += 1 }
            let r = try regression.samples(item.x, count: 1, rng: &rng)
            regressionModes += recovered(r, item.targets)
            nearest.append(item.targets.map { meanAbsDiff(r[0], $0) }.min()!)
        }
        print("cIMLE: all 3 modes within 20 samples for \(allModes)/\(test.count) inputs; L1 regression: \(regressionModes) modes in total, its output is \(nearest.reduce(0, +) / Float(nearest.count)) from the nearest mode (amplitude \(amp)); cIMLE samples are \(sampleNearest.reduce(0, +) / Float(sampleNearest.count)) from theirs")
        XCTAssertGreaterThanOrEqual(Double(allModes), 0.9 * Double(test.count))
        XCTAssertEqual(regressionModes, 0)
    }
}
