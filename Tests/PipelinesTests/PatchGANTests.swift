import XCTest
import Tensors
import NN
import TestSupport
@testable import Pipelines

final class PatchGANTests: XCTestCase {
    func testReferenceParameterCounts() throws {
        var rng = RNG(seed: 0)
        let d6 = try NLayerDiscriminator(inputNc: 6, ndf: 64, nLayers: 3, norm: .batch, initType: nil, rng: &rng)
        XCTAssertEqual(d6.parameterCount, 2_768_705)
        let d3 = try NLayerDiscriminator(inputNc: 3, ndf: 64, nLayers: 3, norm: .instance, initType: nil, rng: &rng)
        XCTAssertEqual(d3.parameterCount, 2_764_737)
        // pixel: 6*64+64, 64*128 (no bias with BatchNorm), BN 2*128, 128*1 (no bias).
        let p = try PixelDiscriminator(inputNc: 6, ndf: 64, norm: .batch, initType: nil, rng: &rng)
        XCTAssertEqual(p.parameterCount, 6 * 64 + 64 + 64 * 128 + 256 + 128)
    }

    func testKeysAndOutputSize() throws {
        var rng = RNG(seed: 0)
        let d = try NLayerDiscriminator(inputNc: 3, ndf: 2, nLayers: 3, norm: .batch, rng: &rng)
        XCTAssertEqual(d.stateDict().map(\.0),
                       ["model.0.weight", "model.0.bias", "model.2.weight", "model.3.weight", "model.3.bias",
                        "model.5.weight", "model.6.weight", "model.6.bias", "model.8.weight", "model.9.weight",
                        "model.9.bias", "model.11.weight", "model.11.bias",
                        "model.3.running_mean", "model.3.running_var", "model.6.running_mean", "model.6.running_var",
                        "model.9.running_mean", "model.9.running_var"])
        XCTAssertEqual(d.outputSide(256), 30)
        XCTAssertEqual(try d(Tensor.randn([2, 3, 32, 40], rng: &rng)).shape, [2, 1, 2, 3])
        XCTAssertThrowsError(try d(Tensor.randn([1, 3, 8, 8], rng: &rng))) { e in
            XCTAssertTrue("\(e)".contains("too small"), "\(e)")
        }
        XCTAssertThrowsError(try d(Tensor(zeros: [1, 6, 32, 32]))) { e in
            let msg = "\(e)"
            XCTAssertTrue(msg.contains("3 channels") && msg.contains("found 6"), msg)
        }
        // Receptive-field variants: nLayers 1 and 5 run (channel multiplier capped at 8).
        let d1 = try NLayerDiscriminator(inputNc: 3, ndf: 2, nLayers: 1, rng: &rng)
        XCTAssertEqual(try d1(Tensor.randn([1, 3, 16, 16], rng: &rng)).shape, [1, 1, 6, 6])
        let d5 = try NLayerDiscriminator(inputNc: 3, ndf: 1, nLayers: 5, norm: .instance, rng: &rng)
        XCTAssertEqual((d5.model.layers[14] as? Conv2d)?.weight.shape, [8, 8, 4, 4])
        XCTAssertEqual(try d5(Tensor.randn([1, 3, 128, 128], rng: &rng)).shape, [1, 1, 2, 2])
    }

    func testPixelDiscriminatorKeepsTheSpatialSize() throws {
        var rng = RNG(seed: 0)
        for norm in Norm.allCases {
            let p = try PixelDiscriminator(inputNc: 6, ndf: 4, norm: norm, rng: &rng)
            let x = Tensor.randn([2, 6, 7, 9], rng: &rng, requiresGrad: true)
            let y = try p(x)
            XCTAssertEqual(y.shape, [2, 1, 7, 9])
            try sum(y).backward()
            XCTAssertEqual(x.grad?.count, x.count)
            let keys = p.namedParameters().map(\.0)
            XCTAssertEqual(keys.first, "net.0.weight")
            XCTAssertEqual(keys.contains("net.5.bias"), norm != .batch)
        }
        let p = try PixelDiscriminator(inputNc: 3, rng: &rng)
        XCTAssertThrowsError(try p(Tensor(zeros: [1, 1, 4, 4]))) { e in
            XCTAssertTrue("\(e)".contains("3 channels") && "\(e)".contains("found 1"), "\(e)")
        }
    }
}
