import XCTest
import Foundation
import Tensors
import NN
import Pipelines
import TestSupport

/// BicycleGAN's first three training steps against PyTorch (tools/make_bicycle_fixtures.py,
/// the reference's networks and `optimize_parameters` at small width): the seven losses of
/// every step and every parameter of G, E, D and D2 after step 3, for both places the code
/// enters the generator.
final class BicycleGANStepTests: XCTestCase {
    /// The fixture's configuration: unet-64 (num_downs 6), resnet-64 encoder (3 levels), 64x64.
    static func config(_ fx: Fixture) -> BicycleGANConfig {
        var c = BicycleGANConfig()
        c.netG = .unet64
        c.netE = .resnet64
        c.whereAdd = WhereAdd(rawValue: fx.args["where_add"] as? String ?? "") ?? .all
        c.ngf = fx.int("ngf"); c.nef = fx.int("nef"); c.ndf = fx.int("ndf"); c.nz = fx.int("nz")
        c.lambdaL1 = fx.float("lambda_l1"); c.lambdaKL = fx.float("lambda_kl"); c.lambdaZ = fx.float("lambda_z")
        c.lr = fx.float("lr"); c.beta1 = fx.float("beta1")
        return c
    }

    func check(_ whereAdd: WhereAdd) throws {
        let fx = try Fixture("pipelines/bicycle_steps_\(whereAdd.rawValue)")
        var rng = RNG(seed: 0)
        let model = try BicycleGAN(config: Self.config(fx), rng: &rng)
        XCTAssertEqual(model.config.whereAdd, whereAdd)
        let nets: [(String, Module)] = [("G", model.netG), ("E", model.netE), ("D", model.netD), ("D2", model.netD2)]
        for (prefix, net) in nets {
            var state: [String: Tensor] = [:]
            for (k, v) in fx.tensors where k.hasPrefix(prefix + ".") { state[String(k.dropFirst(prefix.count + 1))] = v }
            // Strict: the same keys and shapes as the reference's modules.
            try net.loadStateDict(state)
        }
        // Step 1's gradients, just before each optimiser steps: which loss reaches which network.
        var gradChecks = 0, zeroGradients = 0
        model.beforeOptimizerStep = { name in
            guard let net = nets.first(where: { $0.0 == name })?.1 else { return }
            for (k, p) in net.namedParameters() {
                guard let ref = try? fx.tensor("grad1.\(name).\(k)") else { XCTFail("no grad1.\(name).\(k)"); continue }
                let g = p.grad ?? [Float](repeating: 0, count: p.count)
                gradChecks += 1
                // The bias of a conv followed by InstanceNorm has a true gradient of zero (the norm
                // removes each channel's mean): both sides hold rounding noise, far below the
                // gradient of the conv's weight. Those are checked to be that small, not equal.
                let scale = ref.data.map { Swift.abs($0) }.max() ?? 0
                if k.hasSuffix(".bias"), let w = try? fx.tensor("grad1.\(name).\(k.dropLast(4))weight") {
                    let bound = 1e-4 * (w.data.map { Swift.abs($0) }.max() ?? 0)
                    if scale <= bound {
                        XCTAssertLessThanOrEqual(g.map { Swift.abs($0) }.max() ?? 0, bound, "grad1.\(name).\(k): should be zero up to rounding")
                        zeroGradients += 1
                        continue
                    }
                }
                assertClose(g, ref.data, rtol: 1e-3, atol: 1e-8, "grad1.\(name).\(k)", report: false)
            }
        }
        let a = try fx.tensor("A"), b = try fx.tensor("B")
        print("BicycleGAN where-add \(whereAdd.rawValue):")
        for t in 1...3 {
            let losses = try model.trainStep(input: a, target: b, eps: try fx.tensor("eps\(t)"), zRandom: try fx.tensor("z\(t)"))
            if t == 1 {
                XCTAssertEqual(gradChecks, nets.reduce(0) { $0 + $1.1.namedParameters().count }, "every gradient compared")
                print("  step 1: \(gradChecks) gradients compared, \(zeroGradients) of them biases before InstanceNorm (zero up to rounding)")
                XCTAssertLessThan(zeroGradients, gradChecks / 3)
                model.beforeOptimizerStep = nil
            }
            assertClose(losses.values, try fx.tensor("losses\(t)").data, rtol: 1e-4, atol: 1e-6, "step \(t) losses \(BicycleGAN.Losses.names)")
        }
        // After three steps. Adam's first steps move a weight by about lr whatever the size of
        // its gradient, so weights whose true gradient is zero or nearly so (the biases of convs
        // followed by InstanceNorm, code channels on constant planes) move by rounding noise, up
        // to 3 lr either way; those are a few percent of G's. Every value must be within that
        // bound, and nearly all within 2e-5.
        let lr = model.config.lr
        for (prefix, net) in nets {
            var total = 0, close = 0
            var worst: Float = 0
            for (k, t) in net.stateDict() {
                let ref = try fx.tensor("after.\(prefix).\(k)")
                worst = max(worst, maxAbsDiff(t.data, ref.data).diff)
                assertClose(t.data, ref.data, rtol: 0, atol: 6 * lr + 1e-6, "after.\(prefix).\(k)", report: false)
                total += t.count
                close += zip(t.data, ref.data).filter { Swift.abs($0 - $1) <= 2e-5 }.count
            }
            let fraction = Double(close) / Double(total)
            print("  \(prefix): \(close)/\(total) values within 2e-5 after 3 steps, largest abs diff \(worst)")
            XCTAssertGreaterThanOrEqual(fraction, 0.95, "\(prefix): values within 2e-5 of PyTorch's after 3 steps")
        }
    }

    func testAddAll() throws { try check(.all) }
    func testAddInput() throws { try check(.input) }

    func testOddBatchIsRefused() throws {
        var c = BicycleGANConfig()
        c.netG = .unet64; c.netE = .resnet64; c.ngf = 1; c.nef = 1; c.ndf = 2
        var rng = RNG(seed: 1)
        let model = try BicycleGAN(config: c, rng: &rng)
        let x = Tensor.randn([3, 3, 64, 64], rng: &rng)
        XCTAssertThrowsError(try model.trainStep(input: x, target: x, rng: &rng)) { e in
            XCTAssertTrue("\(e)".contains("even"), "\(e)")
        }
    }
}

/// The new layers and networks: gradients by finite differences, shapes, the reference's
/// parameter counts at full size.
final class BicycleNetworkTests: XCTestCase {
    func testLinearGradients() throws {
        var rng = RNG(seed: 3)
        let lin = Linear(5, 3, rng: &rng)
        let x = Tensor.randn([2, 5], rng: &rng)
        try gradCheck([x, lin.weight, lin.bias!], "Linear") { _ in try lin(x) }
        // y = x W^T + b by hand
        let y = try lin(x)
        for n in 0..<2 { for o in 0..<3 {
            var s = lin.bias!.data[o]
            for i in 0..<5 { s += x.data[n * 5 + i] * lin.weight.data[o * 5 + i] }
            XCTAssertEqual(y.data[n * 3 + o], s, accuracy: 1e-5)
        } }
    }

    func testCodeBroadcastGradients() throws {
        // z reaches every level of the add-all U-Net: its gradient sums over the planes.
        var rng = RNG(seed: 4)
        let g = try UnetAddAllGenerator(inputNc: 2, outputNc: 1, nz: 2, numDowns: 6, ngf: 1, norm: .none, rng: &rng)
        let x = Tensor.randn([1, 2, 64, 64], rng: &rng)
        let z = Tensor.randn([1, 2], rng: &rng)
        try gradCheck([z], eps: 1e-2, rtol: 2e-2, atol: 1e-3, "UnetAddAllGenerator dL/dz") { ins in try g.forward(x, z: ins[0]) }
    }

    func testEncoderGradientsAndShapes() throws {
        var rng = RNG(seed: 5)
        let e = try ResNetEncoder(inputNc: 1, nz: 2, nef: 1, arch: .resnet32, norm: .instance, initType: .normal, initGain: 0.5, rng: &rng)
        let x = Tensor.randn([2, 1, 32, 32], rng: &rng)
        let (mu, logvar) = try e.forward(x)
        XCTAssertEqual(mu.shape, [2, 2]); XCTAssertEqual(logvar.shape, [2, 2])
        let w = e.conv.layers[0] as! Conv2d
        try gradCheck([w.weight], eps: 1e-2, rtol: 2e-2, atol: 2e-3, "ResNetEncoder dmu/dW") { _ in try e.forward(x).mu }
        XCTAssertThrowsError(try e.forward(Tensor.randn([1, 1, 64, 64], rng: &rng))) { err in
            XCTAssertTrue("\(err)".contains("32 to 63"), "\(err)")
        }
    }

    func testMultiscaleDiscriminator() throws {
        var rng = RNG(seed: 6)
        let d = try MultiscaleDiscriminator(inputNc: 3, ndf: 5, nLayers: 3, numD: 2, rng: &rng)
        // round(5 / 2) = 2 (half to even, as Python)
        XCTAssertEqual((d.models[1].layers[0] as! Conv2d).weight.shape, [2, 3, 4, 4])
        XCTAssertEqual(d.children.map(\.0), ["model_0", "model_1"])
        let out = try d.forward(Tensor.randn([1, 3, 64, 64], rng: &rng))
        XCTAssertEqual(out.map(\.shape), [[1, 1, 6, 6], [1, 1, 2, 2]])
        XCTAssertEqual(d.minimumSide(), 47)
        XCTAssertThrowsError(try d.forward(Tensor.randn([1, 3, 40, 40], rng: &rng)))
    }

    /// Parameter counts of the reference's default networks (3 -> 3 channels, nz 8, ngf = nef =
    /// ndf = 64, InstanceNorm), as PyTorch counts them for the reference's define_G / define_E /
    /// define_D (junyanz/BicycleGAN models/networks.py).
    func testReferenceParameterCounts() throws {
        var rng = RNG(seed: 0)
        let c = BicycleGANConfig()
        XCTAssertEqual(try c.makeGenerator(initType: nil, rng: &rng).parameterCount, 54_794_627)
        XCTAssertEqual(try c.makeEncoder(initType: nil, rng: &rng).parameterCount, 2_590_032)
        XCTAssertEqual(try c.makeDiscriminator(rng: &rng).parameterCount, 3_458_978)
        var input = c
        input.whereAdd = .input
        XCTAssertEqual(try input.makeGenerator(initType: nil, rng: &rng).parameterCount, 54_417_795)
    }
}
