import XCTest
import Tensors
import NN
import TestSupport
@testable import Pipelines

final class UNetTests: XCTestCase {
    func testReferenceParameterCounts() throws {
        var rng = RNG(seed: 0)
        // unet_256 and unet_128 (ngf 64, BatchNorm); dropout adds no parameters.
        let g256 = try UnetGenerator(inputNc: 3, outputNc: 3, numDowns: 8, ngf: 64, norm: .batch, useDropout: true,
                                     initType: nil, rng: &rng)
        XCTAssertEqual(g256.parameterCount, 54_413_955)
        let g128 = try UnetGenerator(inputNc: 3, outputNc: 3, numDowns: 7, ngf: 64, norm: .batch, useDropout: true,
                                     initType: nil, rng: &rng)
        XCTAssertEqual(g128.parameterCount, 41_828_995)
    }

    func testKeyLayoutOfTheReference() throws {
        var rng = RNG(seed: 0)
        let g = try UnetGenerator(numDowns: 6, ngf: 2, norm: .batch, useDropout: true, rng: &rng)
        let keys = Set(g.stateDict().map(\.0))
        for k in ["model.model.0.weight", "model.model.3.weight", "model.model.3.bias",
                  "model.model.1.model.1.weight", "model.model.1.model.2.weight", "model.model.1.model.2.running_mean",
                  "model.model.1.model.5.weight", "model.model.1.model.6.running_var",
                  // innermost: [LeakyReLU, down, ReLU, up, norm]
                  "model.model.1.model.3.model.3.model.3.model.3.model.1.weight",
                  "model.model.1.model.3.model.3.model.3.model.3.model.3.weight",
                  "model.model.1.model.3.model.3.model.3.model.3.model.4.running_mean"] {
            XCTAssertTrue(keys.contains(k), "missing \(k)")
        }
        // BatchNorm => no bias on inner convs.
        XCTAssertFalse(keys.contains("model.model.0.bias"))
        XCTAssertFalse(keys.contains("model.model.1.model.1.bias"))
        XCTAssertFalse(keys.contains("model.model.1.model.5.bias"))
    }

    func testNormNoneAndInstanceHaveConvBiasesAndKeepIndices() throws {
        var rng = RNG(seed: 0)
        for norm in [Norm.none, .instance] {
            let g = try UnetGenerator(numDowns: 5, ngf: 2, norm: norm, rng: &rng)
            let keys = Set(g.stateDict().map(\.0))
            // 1 (innermost up) + 2 in each of the 3 middle blocks
            XCTAssertTrue(keys.contains("model.model.0.bias"), "\(norm)")
            XCTAssertTrue(keys.contains("model.model.1.model.1.bias"), "\(norm)")
            XCTAssertTrue(keys.contains("model.model.1.model.5.bias"), "\(norm)")
            XCTAssertFalse(keys.contains { $0.contains("running") }, "\(norm)")
            XCTAssertTrue(g.namedModules().allSatisfy { !($0.1 is BatchNorm2d) })
            XCTAssertEqual(g.namedModules().filter { $0.1 is InstanceNorm2d }.count, norm == .instance ? 7 : 0)
            XCTAssertEqual(g.namedModules().filter { $0.1 is NoNorm }.count, norm == .none ? 7 : 0)
        }
    }

    func testReferenceInitialisation() throws {
        var rng = RNG(seed: 3)
        let g = try UnetGenerator(numDowns: 5, ngf: 16, norm: .batch, rng: &rng)
        let w = g.model.model.layers[0] as! Conv2d
        let mean = w.weight.data.reduce(0, +) / Float(w.weight.count)
        let std = (w.weight.data.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(w.weight.count)).squareRoot()
        XCTAssertEqual(std, 0.02, accuracy: 0.003)
        XCTAssertNil(w.bias)   // BatchNorm: no bias, even on the first conv (as the reference)
        let up = g.model.model.layers[3] as! ConvTranspose2d
        XCTAssertEqual(up.bias!.data, [Float](repeating: 0, count: 3))
        let bns = g.namedModules().compactMap { $0.1 as? BatchNorm2d }
        XCTAssertFalse(bns.isEmpty)
        for bn in bns {
            XCTAssertTrue(bn.weight!.data.allSatisfy { abs($0 - 1) < 0.2 })
            XCTAssertTrue(bn.bias!.data.allSatisfy { $0 == 0 })
        }
        // Same seed, same bits.
        var rng2 = RNG(seed: 3)
        let g2 = try UnetGenerator(numDowns: 5, ngf: 16, norm: .batch, rng: &rng2)
        for ((k, a), (_, b)) in zip(g.stateDict(), g2.stateDict()) { XCTAssertEqual(a.data, b.data, k) }
    }

    func testArbitrarySizesArePaddedAndCroppedBack() throws {
        var rng = RNG(seed: 1)
        for (inC, outC) in [(3, 3), (1, 1)] {
            let g = try UnetGenerator(inputNc: inC, outputNc: outC, numDowns: 5, ngf: 4, norm: .batch, rng: &rng)
            let x = Tensor.randn([1, inC, 37, 50], rng: &rng, requiresGrad: true)
            let y = try g(x)
            XCTAssertEqual(y.shape, [1, outC, 37, 50])
            XCTAssertTrue(y.data.allSatisfy { $0.isFinite && abs($0) < 1 })
            try sum(y).backward()
            XCTAssertEqual(x.grad?.count, x.count)
        }
        // Sides smaller than the pad (reflection impossible): replicate padding.
        let g = try UnetGenerator(inputNc: 1, outputNc: 1, numDowns: 5, ngf: 2, rng: &rng)
        XCTAssertEqual(try g(Tensor.randn([2, 1, 3, 1], rng: &rng)).shape, [2, 1, 3, 1])
        // A side that is already a multiple is not padded: the block runs directly.
        g.eval()
        let x = Tensor.randn([1, 1, 32, 64], rng: &rng)
        XCTAssertEqual(try g(x).data, try g.model(x).data)
    }

    func testCropMatchesManualReflectPadding() throws {
        var rng = RNG(seed: 2)
        let g = try UnetGenerator(inputNc: 2, outputNc: 2, numDowns: 5, ngf: 2, rng: &rng)
        g.eval()
        let x = Tensor.randn([1, 2, 30, 20], rng: &rng)
        // 30 -> 32 (1 above, 1 below), 20 -> 32 (6 left, 6 right)
        let p = try pad(x, left: 6, right: 6, top: 1, bottom: 1, mode: .reflect)
        let full = try g.model(p)
        let expected = try narrow(narrow(full, dim: 2, start: 1, length: 30), dim: 3, start: 6, length: 20)
        XCTAssertEqual(try g(x).data, expected.data)
    }

    func testWrongChannelCountThrowsNamingBothNumbers() throws {
        var rng = RNG(seed: 0)
        let g = try UnetGenerator(inputNc: 3, outputNc: 3, numDowns: 5, ngf: 2, rng: &rng)
        XCTAssertThrowsError(try g(Tensor(zeros: [1, 5, 32, 32]))) { e in
            XCTAssertEqual(e as? NetworkError,
                           .channelMismatch(network: "UnetGenerator", expected: 3, found: 5, shape: [1, 5, 32, 32]))
            let msg = "\(e)"
            XCTAssertTrue(msg.contains("expected an input with 3 channels"), msg)
            XCTAssertTrue(msg.contains("found 5"), msg)
        }
        XCTAssertThrowsError(try g(Tensor(zeros: [3, 32, 32]))) { e in
            XCTAssertTrue("\(e)".contains("4-d"), "\(e)")
        }
    }

    func testTooFewDownsamplingsIsAnError() {
        var rng = RNG(seed: 0)
        XCTAssertThrowsError(try UnetGenerator(numDowns: 4, ngf: 2, rng: &rng)) { e in
            XCTAssertTrue("\(e)".contains("at least 5"), "\(e)")
            XCTAssertTrue("\(e)".contains("got 4"), "\(e)")
        }
        XCTAssertThrowsError(try UnetGenerator(inputNc: 0, numDowns: 5, ngf: 2, rng: &rng))
    }

    func testDropoutOnlyInTheMiddle8ngfBlocks() throws {
        var rng = RNG(seed: 0)
        let g = try UnetGenerator(numDowns: 7, ngf: 2, useDropout: true, rng: &rng)
        let paths = g.namedModules().filter { $0.1 is Dropout }.map(\.0)
        let block8a = "model.model.1.model.3.model.3.model.3"   // first 8ngf middle block (level 4)
        XCTAssertEqual(Set(paths), [block8a + ".model.7", block8a + ".model.3.model.7"])
        XCTAssertEqual(paths.count, 2)
        for (d, (downs, on)) in [(0, (8, false)), (0, (5, true)), (3, (8, true))] {
            let h = try UnetGenerator(numDowns: downs, ngf: 1, useDropout: on, initType: nil, rng: &rng)
            XCTAssertEqual(h.namedModules().filter { $0.1 is Dropout }.count, d, "numDowns \(downs), useDropout \(on)")
        }
    }

    func testEvalIsDeterministicAndTrainDropoutIsNot() throws {
        var rng = RNG(seed: 4)
        let g = try UnetGenerator(numDowns: 6, ngf: 2, useDropout: true, rng: &rng)
        let x = Tensor.randn([1, 3, 64, 64], rng: &rng)
        g.eval()
        let a = try withNoGrad { try g(x) }, b = try withNoGrad { try g(x) }
        XCTAssertEqual(a.data, b.data)
        g.train()
        let c = try withNoGrad { try g(x) }, d = try withNoGrad { try g(x) }
        XCTAssertNotEqual(c.data, d.data)
        // Without dropout, train mode (BatchNorm batch statistics) is deterministic too,
        // so the difference above is the dropout masks.
        let plain = try UnetGenerator(numDowns: 6, ngf: 2, useDropout: false, rng: &rng)
        XCTAssertEqual(try withNoGrad { try plain(x) }.data, try withNoGrad { try plain(x) }.data)
    }

    func testResizeConvUpsampling() throws {
        var rng = RNG(seed: 5)
        let g = try UnetGenerator(inputNc: 3, outputNc: 2, numDowns: 5, ngf: 4, norm: .instance,
                                  upsampling: .resizeConv, rng: &rng)
        XCTAssertTrue(g.namedModules().allSatisfy { !($0.1 is ConvTranspose2d) })
        let keys = Set(g.stateDict().map(\.0))
        XCTAssertTrue(keys.contains("model.model.3.2.weight"))
        XCTAssertTrue(keys.contains("model.model.3.2.bias"))
        XCTAssertEqual((g.model.model.layers[3] as? Sequential)?.layers.count, 3)
        for (h, w) in [(32, 32), (21, 45)] {
            let x = Tensor.randn([2, 3, h, w], rng: &rng, requiresGrad: true)
            let y = try g(x)
            XCTAssertEqual(y.shape, [2, 2, h, w])
            try sum(y).backward()
            XCTAssertEqual(x.grad?.count, x.count)
        }
    }
}
