import XCTest
import Tensors
import NN
import Pipelines
import TestSupport

/// WGAN-GP's and R1's penalties and their gradients w.r.t. every critic parameter against
/// PyTorch's torch.autograd.grad(..., create_graph=True) (tools/make_wgangp_fixtures.py), on
/// our PatchGAN at ndf 4 with instance norm and with none.
final class GradientPenaltyTests: XCTestCase {
    func check(_ norm: Norm) throws {
        let fx = try Fixture("wgangp/penalty_\(norm.rawValue)")
        var rng = RNG(seed: 0)
        let d = try NLayerDiscriminator(inputNc: 6, ndf: 4, nLayers: 3, norm: norm, initType: nil, rng: &rng)
        var state: [String: Tensor] = [:]
        for (k, v) in fx.tensors where k.hasPrefix("D.") { state[String(k.dropFirst(2))] = v }
        try d.loadStateDict(state)
        let xHat = try interpolate(real: try fx.tensor("real"), fake: try fx.tensor("fake"), eps: try fx.tensor("eps"))
        assertClose(xHat, try fx.tensor("x_hat"), rtol: 1e-6, "\(norm) x_hat")
        print("penalty, \(norm.rawValue) norm:")
        for (name, prefix, penalty) in [("gp", "grad.D.", { try gradientPenalty({ try d($0) }, at: xHat) }),
                                        ("r1", "grad_r1.D.", { try r1Penalty({ try d($0) }, at: try fx.tensor("real")) })] {
            for (_, p) in d.namedParameters() { p.zeroGrad() }
            let value = try penalty()
            assertClose([value.item], try fx.tensor(name).data, rtol: 1e-4, "\(norm) \(name)")
            try value.backward()
            // A conv bias before an instance norm has no effect, so its gradient is 0 computed
            // as cancelling terms (about 1e-7 of the largest gradient, both sides): hence an
            // absolute tolerance of 1e-6 of the largest parameter gradient on top of 1e-4 relative.
            let scale = try d.namedParameters().map { try fx.tensor(prefix + $0.0).data.map(Swift.abs).max() ?? 0 }.max() ?? 0
            for (k, p) in d.namedParameters() {
                let ref = try fx.tensor(prefix + k)
                assertClose(p.grad ?? [Float](repeating: 0, count: p.count), ref.data, rtol: 1e-4, atol: 1e-6 * scale, "\(norm) d \(name) / d \(k)")
            }
        }
    }

    func testInstanceNorm() throws { try check(.instance) }
    func testNoNorm() throws { try check(.none) }

    /// eps is one draw per sample from the run's generator, in order.
    func testInterpolateDrawsOneWeightPerSample() throws {
        var rng = RNG(seed: 3), copy = rng
        let real = Tensor(repeating: 1, shape: [3, 2, 2, 2]), fake = Tensor(zeros: [3, 2, 2, 2])
        let x = try interpolate(real: real, fake: fake, rng: &rng)
        for n in 0..<3 {
            let e = copy.nextFloat()
            XCTAssertEqual(Array(x.data[(n * 8)..<(n * 8 + 8)]), [Float](repeating: e, count: 8))
        }
        XCTAssertEqual(rng, copy)
        XCTAssertFalse(x.requiresGrad)
    }
}
