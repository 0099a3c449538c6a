import XCTest
import Foundation
import Tensors
import NN
import Pipelines
import TestSupport

/// pix2pix's first three training steps against PyTorch (tools/make_pipeline_fixtures.py):
/// the four losses of every step and every parameter and running statistic after step 3.
final class Pix2PixStepTests: XCTestCase {
    func check(_ mode: GANMode) throws {
        let fx = try Fixture("pipelines/pix2pix_steps_\(mode.rawValue)")
        var config = Pix2PixConfig()
        config.netG = .unet32            // num_downs 5
        config.ngf = fx.int("ngf"); config.ndf = fx.int("ndf")
        config.dropout = false
        config.ganMode = mode
        config.lambdaL1 = fx.float("lambda_l1"); config.lr = fx.float("lr"); config.beta1 = fx.float("beta1")
        var rng = RNG(seed: 0)
        let model = try Pix2Pix(config: config, rng: &rng)
        var gState: [String: Tensor] = [:], dState: [String: Tensor] = [:]
        for (k, v) in fx.tensors {
            if k.hasPrefix("G.") { gState[String(k.dropFirst(2))] = v }
            if k.hasPrefix("D.") { dState[String(k.dropFirst(2))] = v }
        }
        try model.netG.loadStateDict(gState)
        try model.netD.loadStateDict(dState)
        print("pix2pix \(mode.rawValue):")
        for t in 1...3 {
            let losses = try model.trainStep(input: try fx.tensor("A\(t)"), target: try fx.tensor("B\(t)"))
            assertClose(losses.values, try fx.tensor("losses\(t)").data, rtol: 1e-4, "step \(t) losses [G_GAN, G_L1, D_real, D_fake]")
        }
        // After three Adam steps: Adam divides by sqrt(v), so parameters whose gradients are
        // near zero move by up to lr per step in a direction set by rounding noise; hence an
        // absolute tolerance of a fraction of lr on top of the relative one.
        for (prefix, net) in [("G", model.netG as Module), ("D", model.netD)] {
            var worst: Float = 0
            for (k, t) in net.stateDict() {
                let ref = try fx.tensor("after.\(prefix).\(k)")
                let (d, _) = maxAbsDiff(t.data, ref.data)
                worst = max(worst, d)
                assertClose(t, ref, rtol: 1e-4, atol: 2e-5, "after.\(prefix).\(k)")
            }
            print("  \(prefix): largest abs diff after 3 steps \(worst)")
        }
    }

    func testVanilla() throws {
        // batch 2: the inner layers (planes up to 8x8) take the batch-wide products
        let plans = try ConvTrace.trace { try check(.vanilla) }.plans
        XCTAssertGreaterThan(plans.filter { $0.forward == .batchColumns }.count, 3 * 4, "batch-wide products ran")
    }
    func testLSGAN() throws { try check(.lsgan) }

    /// The same three steps with Winograd F(2x2, 2x2) on every 4x4 stride-2 layer it can take
    /// and F(2x2, 4x4) on the PatchGAN's stride-1 one (forward, input and weight gradients;
    /// thresholds lowered to reach this tiny network:
    /// 4 channels, planes from 4 tiles, where the default is 32 channels and 256 tiles),
    /// against the same PyTorch fixtures and tolerances. (From a single tile - 2x2 planes
    /// of a batch of 2 before a BatchNorm - Adam turns rounding differences in near-zero
    /// gradients into moves of about lr in one weight, as with any other summation order.)
    func testWinogradS2Training() throws {
        let policy = ConvPolicy().with { $0.winogradMinChannels = 1; $0.winogradS2TrainMinTiles = 4 }
        let plans = try policy.run { try ConvTrace.trace { try check(.lsgan) }.plans }
        XCTAssertGreaterThan(plans.filter { $0.forward == .winogradS2 && $0.weightGradient != nil }.count, 3 * 10, "Winograd s2 ran in training")
        // PatchGAN's 4x4 stride-1 layer: 3 forward passes per step, 2 of them with an input gradient
        XCTAssertGreaterThanOrEqual(plans.filter { $0.forward == .winograd4x4 }.count, 3 * 3, "Winograd 4x4 ran in training")
        XCTAssertGreaterThanOrEqual(plans.filter { $0.inputGradient == .gradientConvWinograd4x4 }.count, 3 * 2, "its input gradients too")
        try policy.run { try check(.vanilla) }
    }

    func testGANLossValues() throws {
        let p = try Tensor(shape: [2], data: [0, 2])
        XCTAssertEqual(try ganLoss(p, targetIsReal: true, mode: .lsgan).item, (1 + 1) / 2, accuracy: 1e-6)
        XCTAssertEqual(try ganLoss(p, targetIsReal: false, mode: .lsgan).item, (0 + 4) / 2, accuracy: 1e-6)
        XCTAssertEqual(try ganLoss(p, targetIsReal: true, mode: .vanilla).item,
                       Float((log(2.0) + log(1 + exp(-2.0))) / 2), accuracy: 1e-6)
    }
}
