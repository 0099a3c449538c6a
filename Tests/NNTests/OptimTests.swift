import XCTest
import Foundation
import Tensors
import NN
import TestSupport

final class OptimTests: XCTestCase {
    /// Three Adam steps with given gradients against torch.optim.Adam.
    func testAdamMatchesPyTorch() throws {
        for name in ["adam_gan", "adam_wd"] {
            let fx = try Fixture("adam/" + name)
            let p = try fx.tensor("p0", requiresGrad: true)
            let betas = try XCTUnwrap(fx.args["betas"] as? [NSNumber]).map(\.floatValue)
            let opt = Adam([("p", p)], lr: fx.float("lr"), betas: (betas[0], betas[1]), eps: fx.float("eps"),
                           weightDecay: fx.float("weight_decay"))
            print("\(name):")
            for step in 1...3 {
                p.grad = try fx.tensor("g\(step)").data
                opt.step()
                assertClose(p, try fx.tensor("p\(step)"), rtol: 1e-6, "\(name) p\(step)")
            }
            assertClose(opt.expAvg[0], try fx.tensor("exp_avg").data, rtol: 1e-6, "\(name) exp_avg")
            assertClose(opt.expAvgSq[0], try fx.tensor("exp_avg_sq").data, rtol: 1e-6, "\(name) exp_avg_sq")
        }
    }

    func testAdamSkipsParametersWithoutGradient() {
        let a = Tensor(repeating: 1, shape: [2], requiresGrad: true), b = Tensor(repeating: 1, shape: [2], requiresGrad: true)
        let opt = Adam([("a", a), ("b", b)], lr: 0.1)
        a.grad = [1, -1]
        opt.step()
        XCTAssertEqual(b.data, [1, 1])
        XCTAssertEqual(opt.steps, [1, 0])
        XCTAssertEqual(a.data[0], 0.9, accuracy: 1e-6)
    }

    /// zeroGrad(setToNone:) frees the buffers; the next backward pass writes fresh gradients
    /// (nothing stale from the freed or a kept buffer), for a parameter used once and one used
    /// twice (accumulated), in a convolution (overwriting GEMM) and an elementwise op.
    func testZeroGradSetToNoneFreesAndNextBackwardIsFresh() throws {
        var rng = RNG(seed: 5)
        let w = Tensor.randn([4, 3, 3, 3], rng: &rng), v = Tensor.randn([4, 6, 6], rng: &rng)
        w.requiresGrad = true; v.requiresGrad = true
        let x = Tensor.randn([1, 3, 8, 8], rng: &rng)
        let opt = Adam([("w", w), ("v", v)], lr: 0.1)
        func loss() throws -> Tensor {
            let y = try conv2d(x, weight: w)
            return try sum(y * v) + sum(try conv2d(x * 2, weight: w) * v)
        }
        try loss().backward()
        let first = (w.grad!, v.grad!)
        opt.zeroGrad(setToNone: true)
        XCTAssertNil(w.grad); XCTAssertNil(v.grad)
        for _ in 0..<2 {   // after freeing, then after keeping the buffers
            try loss().backward()
            XCTAssertEqual(w.grad!, first.0); XCTAssertEqual(v.grad!, first.1)
            opt.zeroGrad()
            XCTAssertNil(w.grad)
        }
    }

    func testSchedulesMatchPyTorch() throws {
        let data = try Data(contentsOf: fixturesURL.appendingPathComponent("schedules.json"))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        func lrs(_ k: String) throws -> (Float, [Float], [String: Any]) {
            let d = try XCTUnwrap(root[k] as? [String: Any])
            return ((d["base_lr"] as! NSNumber).floatValue, (d["lrs"] as! [NSNumber]).map(\.floatValue), d)
        }
        let cases: [(String, (([String: Any]) -> LRSchedule))] = [
            ("linear", { .linear(nEpochs: ($0["n_epochs"] as! NSNumber).intValue, nEpochsDecay: ($0["n_epochs_decay"] as! NSNumber).intValue) }),
            ("step", { .step(stepSize: ($0["step_size"] as! NSNumber).intValue, gamma: ($0["gamma"] as! NSNumber).floatValue) }),
            ("cosine", { .cosine(tMax: ($0["t_max"] as! NSNumber).intValue) }),
        ]
        for (name, make) in cases {
            let (base, expected, d) = try lrs(name)
            let s = make(d)
            let ours = expected.indices.map { s.lr(base: base, epoch: $0) }
            assertClose(ours, expected, rtol: 1e-5, atol: 1e-12, "schedule \(name)")
        }
    }

    /// The vectorised update (CKernels/adam.c) gives exactly the bits of the scalar formula,
    /// with and without weight decay, over several steps (odd length: vector tails too).
    func testVectorisedUpdateIsBitIdenticalToTheScalarFormula() throws {
        for wd: Float in [0, 0.01] {
            var rng = RNG(seed: 4)
            let p = Tensor.randn([3, 37], rng: &rng, requiresGrad: true)
            let adam = Adam([("p", p)], lr: 2e-4, betas: (0.5, 0.999), weightDecay: wd)
            var w = p.data, m = [Float](repeating: 0, count: w.count), v = m
            for t in 1...3 {
                let g = Tensor.randn([3, 37], std: Float(t), rng: &rng).data
                p.grad = g
                adam.step()
                let (b1, b2, e, lr): (Float, Float, Float, Float) = (0.5, 0.999, 1e-8, 2e-4)
                let bc1 = 1 - pow(b1, Float(t)), bc2Sqrt = (1 - pow(b2, Float(t))).squareRoot()
                for j in w.indices {
                    let gj = wd == 0 ? g[j] : g[j] + wd * w[j]
                    m[j] += (1 - b1) * (gj - m[j])
                    v[j] = v[j] * b2 + (1 - b2) * gj * gj
                    let denom = v[j].squareRoot() / bc2Sqrt + e
                    w[j] -= (lr / bc1) * m[j] / denom
                }
                XCTAssertEqual(p.data, w, "step \(t), weight decay \(wd)")
            }
        }
    }
}
