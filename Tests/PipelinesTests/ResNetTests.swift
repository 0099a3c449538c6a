import XCTest
import Tensors
import NN
import TestSupport
@testable import Pipelines

final class ResNetTests: XCTestCase {
    func testReferenceParameterCounts() throws {
        var rng = RNG(seed: 0)
        // resnet_9blocks / resnet_6blocks, ngf 64, InstanceNorm (REFERENCE.md section 3).
        let g9 = try ResnetGenerator(inputNc: 3, outputNc: 3, ngf: 64, norm: .instance, nBlocks: 9, initType: nil, rng: &rng)
        XCTAssertEqual(g9.parameterCount, 11_378_179)
        let g6 = try ResnetGenerator(inputNc: 3, outputNc: 3, ngf: 64, norm: .instance, nBlocks: 6, initType: nil, rng: &rng)
        XCTAssertEqual(g6.parameterCount, 7_837_699)
        // Dropout adds no parameters; resize-convolution has the same count (3x3 kernels both).
        let gd = try ResnetGenerator(ngf: 8, useDropout: true, nBlocks: 3, initType: nil, rng: &rng)
        let gr = try ResnetGenerator(ngf: 8, nBlocks: 3, upsampling: .resizeConv, initType: nil, rng: &rng)
        let g = try ResnetGenerator(ngf: 8, nBlocks: 3, initType: nil, rng: &rng)
        XCTAssertEqual(gd.parameterCount, g.parameterCount)
        XCTAssertEqual(gr.parameterCount, g.parameterCount)
    }

    func testKeyLayoutOfTheReference() throws {
        var rng = RNG(seed: 0)
        let g = try ResnetGenerator(ngf: 2, nBlocks: 9, rng: &rng)
        let keys = g.stateDict().map(\.0)
        // 0 pad, 1 conv 7x7, 2 norm, 3 relu, 4/7 down convs, 10...18 blocks, 19/22 up, 25 pad, 26 conv, 27 tanh
        var expected = ["model.1.weight", "model.1.bias", "model.4.weight", "model.4.bias", "model.7.weight", "model.7.bias"]
        for b in 10...18 {
            expected += ["model.\(b).conv_block.1.weight", "model.\(b).conv_block.1.bias",
                         "model.\(b).conv_block.5.weight", "model.\(b).conv_block.5.bias"]
        }
        expected += ["model.19.weight", "model.19.bias", "model.22.weight", "model.22.bias", "model.26.weight", "model.26.bias"]
        XCTAssertEqual(keys, expected)
        XCTAssertEqual(g.model.layers.count, 28)
        XCTAssertTrue(g.model.layers[27] is Tanh)
        XCTAssertEqual((g.model.layers[19] as? ConvTranspose2d)?.weight.shape, [8, 4, 3, 3])
        XCTAssertEqual((g.model.layers[19] as? ConvTranspose2d)?.outputPadding, Size2(1))

        // Dropout shifts the second conv of each block to index 6; BatchNorm removes the
        // biases (except the last conv's) and adds running stats.
        let gd = try ResnetGenerator(ngf: 2, norm: .batch, useDropout: true, nBlocks: 1, rng: &rng)
        let dkeys = Set(gd.stateDict().map(\.0))
        for k in ["model.10.conv_block.1.weight", "model.10.conv_block.2.running_mean", "model.10.conv_block.6.weight",
                  "model.10.conv_block.7.running_var", "model.2.weight", "model.18.bias"] {
            XCTAssertTrue(dkeys.contains(k), "missing \(k)")
        }
        for k in ["model.1.bias", "model.10.conv_block.1.bias", "model.10.conv_block.6.bias", "model.11.bias"] {
            XCTAssertFalse(dkeys.contains(k), "unexpected \(k)")
        }
        XCTAssertEqual(gd.namedModules().filter { $0.1 is Dropout }.map(\.0), ["model.10.conv_block.4"])

        // resize-convolution: a nested Sequential at the up index.
        let gr = try ResnetGenerator(ngf: 2, nBlocks: 1, upsampling: .resizeConv, rng: &rng)
        let rkeys = Set(gr.stateDict().map(\.0))
        XCTAssertTrue(rkeys.isSuperset(of: ["model.11.2.weight", "model.11.2.bias", "model.14.2.weight"]))
        XCTAssertFalse(rkeys.contains("model.11.weight"))
    }

    func testReferenceInitialisationAndSeeds() throws {
        var rng = RNG(seed: 3)
        let g = try ResnetGenerator(ngf: 16, nBlocks: 2, rng: &rng)
        let w = (g.model.layers[4] as! Conv2d).weight
        let mean = w.data.reduce(0, +) / Float(w.count)
        let std = (w.data.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(w.count)).squareRoot()
        XCTAssertEqual(std, 0.02, accuracy: 0.002)
        for (k, p) in g.namedParameters() where k.hasSuffix(".bias") { XCTAssertTrue(p.data.allSatisfy { $0 == 0 }, k) }
        var rng2 = RNG(seed: 3)
        let g2 = try ResnetGenerator(ngf: 16, nBlocks: 2, rng: &rng2)
        for ((k, a), (_, b)) in zip(g.stateDict(), g2.stateDict()) { XCTAssertEqual(a.data, b.data, k) }
    }

    /// tools/make_cyclegan_fixtures.py, `make_resnet_small`: the reference ResnetGenerator
    /// (ngf 4, 2 blocks, InstanceNorm) with N(0, 0.02) weights and randn * 0.1 biases:
    ///
    ///     out = G(x); loss = (out * r).sum(); loss.backward()      # x: (1, 3, 20, 20)
    ///
    /// Keys load strictly; out, grad x and every parameter gradient within 1e-4 of max |ref|.
    /// Also x_odd (1, 3, 19, 23) against the reflect-pad / crop done in PyTorch.
    func testResnetSmallMatchesPyTorch() throws {
        let f = try Fixture("cyclegan/resnet_small")
        XCTAssertEqual(f.args["norm"] as? String, "instance")
        var rng = RNG(seed: 0)
        let G = try ResnetGenerator(inputNc: f.int("input_nc"), outputNc: f.int("output_nc"), ngf: f.int("ngf"),
                                    norm: .instance, useDropout: false, nBlocks: f.int("n_blocks"), initType: nil, rng: &rng)
        XCTAssertEqual(String(G.parameterCount), f.metadata["g_params"])
        var state: [String: Tensor] = [:]
        for (k, t) in f.tensors where k.hasPrefix("G.") { state[String(k.dropFirst(2))] = t }
        try G.loadStateDict(state, strict: true)
        G.train()

        let x = try f.tensor("x", requiresGrad: true)      // (1, 3, 20, 20)
        let out = try G(x)                                 // (1, 3, 20, 20)
        try sum(out * f.tensor("r")).backward()
        var worst: (rel: Float, what: String) = (0, "")
        func check(_ actual: [Float], _ key: String, shape: [Int]) {
            guard let ref = f.tensors[key] else { XCTFail("fixture has no '\(key)'"); return }
            XCTAssertEqual(shape, ref.shape, "\(key): shape")
            assertClose(actual, ref.data, rtol: 1e-4, atol: 0, key)
            let (d, s) = maxAbsDiff(actual, ref.data)
            if s > 0, d / s > worst.rel { worst = (d / s, key) }
        }
        check(out.data, "out", shape: out.shape)
        check(x.grad ?? [], "grad.x", shape: x.shape)
        let params = G.namedParameters()
        XCTAssertEqual(Set(params.map { "grad.G.\($0.0)" }), Set(f.tensors.keys.filter { $0.hasPrefix("grad.G.") }))
        // The bias of a conv followed by InstanceNorm has a gradient of exactly 0 in exact
        // arithmetic (the norm removes per-channel constants): PyTorch's values there are
        // float32 rounding noise (~1e-5 where the weight gradients are ~100). Those are checked
        // against the scale of their conv's weight gradient instead: both must be noise.
        var normedBiases = Set<String>()
        for (path, m) in G.namedModules() {
            guard let seq = m as? Sequential else { continue }
            for i in seq.layers.indices.dropLast()
            where (seq.layers[i] is Conv2d || seq.layers[i] is ConvTranspose2d) && seq.layers[i + 1] is InstanceNorm2d {
                normedBiases.insert("\(path).\(i).bias")
            }
        }
        XCTAssertEqual(normedBiases.count, 2 + 2 * f.int("n_blocks") + 3, "every conv but the last feeds an InstanceNorm")
        for (k, p) in params {
            XCTAssertNotNil(p.grad, "\(k) got no gradient")
            let g = p.grad ?? [Float](repeating: 0, count: p.count)
            if normedBiases.contains(k) {
                let w = "grad.G." + k.dropLast("bias".count) + "weight"
                let scale = f.tensors[w]!.data.map(abs).max()!
                let ours = g.map(abs).max()!, ref = f.tensors["grad.G.\(k)"]!.data.map(abs).max()!
                print("  grad.G.\(k): mathematically 0; max |ours| \(ours), max |ref| \(ref) (weight grad scale \(scale))")
                XCTAssertLessThanOrEqual(ours, 1e-5 * scale, k)
                XCTAssertLessThanOrEqual(ref, 1e-5 * scale, k)
            } else {
                check(g, "grad.G.\(k)", shape: p.shape)
            }
        }
        let xOdd = try f.tensor("x_odd")                   // (1, 3, 19, 23)
        let outOdd = try withNoGrad { try G(xOdd) }
        XCTAssertEqual(outOdd.shape, [1, 3, 19, 23])
        check(outOdd.data, "out_odd", shape: outOdd.shape)
        print("  largest relative diff (max abs diff / max |ref|): \(worst.rel) (\(worst.what))")
    }

    func testAnySizeKeepsItsSize() throws {
        var rng = RNG(seed: 1)
        for (inC, outC) in [(3, 3), (1, 3)] {
            for up in Upsampling.allCases {
                let g = try ResnetGenerator(inputNc: inC, outputNc: outC, ngf: 2, nBlocks: 1, upsampling: up, rng: &rng)
                for (h, w) in [(19, 23), (8, 8), (1, 1), (3, 5), (12, 30)] {
                    let x = Tensor.randn([2, inC, h, w], rng: &rng, requiresGrad: true)
                    let y = try g(x)
                    XCTAssertEqual(y.shape, [2, outC, h, w], "\(up) \(h)x\(w)")
                    XCTAssertTrue(y.data.allSatisfy { $0.isFinite && abs($0) < 1 })
                    try sum(y).backward()
                    XCTAssertEqual(x.grad?.count, x.count)
                }
            }
        }
        XCTAssertEqual([1, 4, 5, 8, 9, 19, 20].map(ResnetGenerator.paddedSide), [8, 8, 8, 8, 12, 20, 20])
    }

    func testCropMatchesManualReflectPadding() throws {
        var rng = RNG(seed: 2)
        let g = try ResnetGenerator(inputNc: 2, outputNc: 2, ngf: 2, nBlocks: 1, rng: &rng)
        let x = Tensor.randn([1, 2, 18, 13], rng: &rng)
        // 18 -> 20 (1 above, 1 below), 13 -> 16 (1 left, 2 right)
        let p = try pad(x, left: 1, right: 2, top: 1, bottom: 1, mode: .reflect)
        let full = try g.model(p)
        let expected = try narrow(narrow(full, dim: 2, start: 1, length: 18), dim: 3, start: 1, length: 13)
        XCTAssertEqual(try g(x).data, expected.data)
        // A multiple of 4 (>= 8) is not padded.
        let y = Tensor.randn([1, 2, 8, 12], rng: &rng)
        XCTAssertEqual(try g(y).data, try g.model(y).data)
    }

    func testWrongChannelsAndBadOptionsThrow() throws {
        var rng = RNG(seed: 0)
        let g = try ResnetGenerator(inputNc: 3, outputNc: 3, ngf: 2, nBlocks: 1, rng: &rng)
        XCTAssertThrowsError(try g(Tensor(zeros: [1, 1, 16, 16]))) { e in
            XCTAssertEqual(e as? NetworkError,
                           .channelMismatch(network: "ResnetGenerator", expected: 3, found: 1, shape: [1, 1, 16, 16]))
        }
        XCTAssertThrowsError(try g(Tensor(zeros: [3, 16, 16]))) { e in
            XCTAssertEqual(e as? NetworkError, .badInputShape(network: "ResnetGenerator", shape: [3, 16, 16]))
        }
        XCTAssertThrowsError(try ResnetGenerator(nBlocks: -1, rng: &rng)) { e in
            XCTAssertTrue("\(e)".contains("nBlocks"), "\(e)")
        }
        XCTAssertThrowsError(try ResnetGenerator(ngf: 0, rng: &rng))
    }

    func testDropoutIsOnlyInTraining() throws {
        var rng = RNG(seed: 4)
        let g = try ResnetGenerator(ngf: 2, useDropout: true, nBlocks: 2, rng: &rng)
        let x = Tensor.randn([1, 3, 16, 16], rng: &rng)
        g.eval()
        let a = try withNoGrad { try g(x) }, b = try withNoGrad { try g(x) }
        XCTAssertEqual(a.data, b.data)
        g.train()
        let c = try withNoGrad { try g(x) }, d = try withNoGrad { try g(x) }
        XCTAssertNotEqual(c.data, d.data)
    }
}
