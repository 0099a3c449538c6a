import XCTest
import Foundation
import Tensors
import NN
import Perceptual
import TestSupport
@testable import Pipelines

/// Which algorithm every convolution of the networks we ship runs, under the default policy:
/// U-Net-256 (inference at batch 8 and a training step at batch 1), ResNet-9 (inference),
/// the PatchGAN (training), the LPIPS AlexNet (a distance without gradients) and the cascade
/// generator (x4 super-resolution sampling). The table is Tests/Fixtures/plans/<network>.txt;
/// after a deliberate change of the policy, regenerate with TRANSLATE_UPDATE_PLANS=1 and
/// review the diff (docs/BENCHMARKS.md has the measurements behind the thresholds).
final class ConvPlanTableTests: XCTestCase {
    func check(_ name: String, _ body: () throws -> Void) throws {
        let plans = try ConvPolicy.processDefault.run { try ConvTrace.trace(body).plans }
        XCTAssertFalse(plans.isEmpty, name)
        let text = plans.map(\.description).joined(separator: "\n") + "\n"
        let file = fixturesURL.appendingPathComponent("plans/\(name).txt")
        if ProcessInfo.processInfo.environment["TRANSLATE_UPDATE_PLANS"] == "1" {
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: file, atomically: true, encoding: .utf8)
            return
        }
        let want = try String(contentsOf: file, encoding: .utf8)
        if text != want {
            let a = text.split(separator: "\n"), b = want.split(separator: "\n")
            let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
            XCTFail("\(name): plan \(i + 1) differs from \(file.path):\n  now: \(i < a.count ? String(a[i]) : "<end>")\n  was: \(i < b.count ? String(b[i]) : "<end>")")
        }
    }

    func testUNet256() throws {
        var rng = RNG(seed: 1)
        let g = try GeneratorSpec(arch: .unet256, inputNc: 3, outputNc: 3, ngf: 64, norm: .batch, dropout: true).make(rng: &rng)
        try check("unet256_inference_b8") { _ = try g.translate(Tensor.rand([8, 3, 256, 256], low: -1, high: 1, rng: &rng), mode: .eval) }
        try check("unet256_training_b1") {
            let x = Tensor.rand([1, 3, 256, 256], low: -1, high: 1, rng: &rng)
            try sum(try g(x)).backward()
        }
    }

    func testResNet9() throws {
        var rng = RNG(seed: 2)
        let g = try GeneratorSpec(arch: .resnet9, inputNc: 3, outputNc: 3, ngf: 64, norm: .instance, dropout: false).make(rng: &rng)
        try check("resnet9_inference_b1") { _ = try g.translate(Tensor.rand([1, 3, 256, 256], low: -1, high: 1, rng: &rng), mode: .eval) }
    }

    func testPatchGAN() throws {
        var rng = RNG(seed: 3)
        let d = try DiscriminatorSpec(arch: .basic, inputNc: 6, ndf: 64, nLayers: 3, norm: .batch, initType: .normal, initGain: 0.02).make(rng: &rng)
        try check("patchgan_training_b1") {
            let x = Tensor.rand([1, 6, 256, 256], low: -1, high: 1, rng: &rng, requiresGrad: true)
            try sum(try d(x)).backward()
        }
    }

    func testLPIPSAlexNet() throws {
        var rng = RNG(seed: 4)
        let net = LPIPS(rng: &rng)
        try check("lpips_alexnet_distance_b4") {
            _ = try withNoGrad { try net.distance(Tensor.rand([4, 3, 128, 128], low: -1, high: 1, rng: &rng), Tensor.rand([4, 3, 128, 128], low: -1, high: 1, rng: &rng)) }
        }
    }

    func testCascadeGenerator() throws {
        var rng = RNG(seed: 5)
        var c = CIMLEConfig(task: .superResolution, inputNc: 3, levels: 3, widths: [64, 48, 32], noiseChannels: 5)
        c.resBlocks = 4; c.lpipsWeight = 0; c.levelCandidates = [16, 8, 4]
        let m = try CIMLE(config: c, lpips: nil, rng: &rng)
        try check("cascade_sr_x4_sampling") { _ = try m.samples(Tensor.rand([1, 3, 32, 32], low: -1, high: 1, rng: &rng), count: 2, rng: &rng) }
    }
}
