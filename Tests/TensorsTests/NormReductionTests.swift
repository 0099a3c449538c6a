import XCTest
import Tensors
import TestSupport

/// The normalisation layers' vectorised per-plane sums (`tr_plane_sum`, `tr_plane_sqdev`,
/// `tr_plane_dy_sums`): instance norm forward and backward against a double-precision
/// reference on planes of every remainder past the 64- and 32-lane blocks, large planes with
/// a mean far from zero, and the same bits at every thread count.
final class NormReductionTests: XCTestCase {
    func testInstanceNormMatchesDoublePrecision() throws {
        var rng = RNG(seed: 17)
        for (h, w) in [(1, 2), (5, 7), (8, 8), (9, 9), (33, 31), (256, 257)] {
            let s = h * w, planes = 3
            let x = Tensor.rand([1, planes, h, w], low: 2, high: 4, rng: &rng, requiresGrad: true)   // mean ~3: cancellation
            let dy = Tensor.randn([1, planes, h, w], rng: &rng)
            let y = try instanceNorm(x, eps: 1e-5)
            try y.backward(gradient: dy)
            var refY = [Double](), refDX = [Double]()
            for p in 0..<planes {
                let xs = x.data[(p * s)..<((p + 1) * s)].map(Double.init), ds = dy.data[(p * s)..<((p + 1) * s)].map(Double.init)
                let mu = xs.reduce(0, +) / Double(s)
                let v = xs.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(s)
                let istd = 1 / (v + 1e-5).squareRoot()
                let xhat = xs.map { ($0 - mu) * istd }
                let sd = ds.reduce(0, +), sdx = zip(ds, xhat).reduce(0) { $0 + $1.0 * $1.1 }
                refY += xhat
                refDX += zip(ds, xhat).map { istd / Double(s) * (Double(s) * $0.0 - sd - $0.1 * sdx) }
            }
            assertClose(y.data, refY.map(Float.init), rtol: 1e-4, atol: 2e-5, "instance norm \(h)x\(w)")
            assertClose(x.grad!, refDX.map(Float.init), rtol: 1e-3, atol: 1e-4, "instance norm dx \(h)x\(w)")
            // Any thread count: the same bits.
            let bits = try [1, 3, 8].map { n in
                try Parallelism(threads: n, minimumWorkOverride: 1).run { () -> [Float] in
                    x.zeroGrad()
                    let y = try instanceNorm(x, eps: 1e-5)
                    try y.backward(gradient: dy)
                    return y.data + x.grad!
                }
            }
            XCTAssertEqual(bits[0], bits[1], "\(h)x\(w): 1 vs 3 threads")
            XCTAssertEqual(bits[0], bits[2], "\(h)x\(w): 1 vs 8 threads")
        }
    }
}
