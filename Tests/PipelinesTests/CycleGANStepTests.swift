import XCTest
import Foundation
import Tensors
import NN
import Pipelines
import TestSupport

/// CycleGAN's first three training steps against PyTorch (tools/make_cyclegan_fixtures.py):
/// all eight losses of every step, and every parameter after step 3.
final class CycleGANStepTests: XCTestCase {
    /// Three steps and every parameter after them where OpenBLAS runs 8-wide (AVX2) kernels,
    /// whose sums round as the fixture's PyTorch run did (step 3 losses within 1e-6). The
    /// 16-wide AVX-512 kernels sum the same products in another order: step 1 still agrees to
    /// 6e-7, but Adam (beta1 0.5, and m/sqrt(v) = sign(g) at step 1) turns the rounding of
    /// near-zero gradients into steps of lr either way, and by step 3 losses differ by ~9e-4
    /// and parameters by up to 2 lr. There the check is the first two steps' losses, as in
    /// the Winograd variant below.
    func testFirstStepsMatchPyTorch() throws {
        let core = BLASInfo.coreName.lowercased()
        let avx2Family = ["haswell", "zen", "sandybridge"].contains { core.contains($0) }
        print("OpenBLAS core \(BLASInfo.coreName): \(avx2Family ? "3 steps and parameters" : "2 steps' losses")")
        try firstStepsMatchPyTorch(steps: avx2Family ? 3 : 2, compareParameters: avx2Family)
    }

    /// With the residual blocks' 3x3 convolutions (and their input gradients) through Winograd
    /// F(2x2, 3x3), as the full-size generator's 256-channel blocks run: the losses of the
    /// first two steps agree with PyTorch's to the same 1e-4. Winograd's rounding differs from
    /// a direct sum's by ~5e-7 relative; Adam (beta1 0.5) turns that into parameter differences
    /// of up to 2 lr by step 3, beyond the 3-step test above, which therefore runs the GEMM
    /// algorithm (the fixture's 16-channel blocks are below `winogradMinChannels`).
    func testFirstTwoStepsMatchPyTorchWithWinograd() throws {
        try ConvPolicy().with { $0.winogradMinChannels = 8 }.run { try firstStepsMatchPyTorch(steps: 2, compareParameters: false) }
    }

    /// Every parameter's gradient as step 1 leaves it (the generators' from their update, the
    /// discriminators' from theirs) against PyTorch's: a check of the whole step's backward
    /// pass that Adam's amplification of rounding cannot blur, so it holds on every OpenBLAS
    /// kernel family, with and without Winograd in the residual blocks.
    func testFirstStepGradientsMatchPyTorch() throws {
        for minChannels in [32, 8] { try ConvPolicy().with { $0.winogradMinChannels = minChannels }.run {
            let (fx, model, rng) = try loadedModel()
            var r = rng
            _ = try model.trainStep(realA: try fx.tensor("A1"), realB: try fx.tensor("B1"), rng: &r)
            for (name, net) in [("G_A", model.netGA), ("G_B", model.netGB), ("D_A", model.netDA), ("D_B", model.netDB)] {
                let params = net.namedParameters()
                XCTAssertFalse(params.isEmpty)
                let refs = try params.map { try fx.tensor("grad1.\(name).\($0.0)") }
                let scale = refs.map { $0.data.map(abs).max() ?? 0 }.max() ?? 0
                let cancelled = biasesCancelledByNorm(net)
                XCTAssertFalse(cancelled.isEmpty)
                var worst: Float = 0
                for ((k, p), ref) in zip(params, refs) {
                    guard let g = p.grad else { XCTFail("\(name).\(k): no gradient after step 1"); continue }
                    if cancelled.contains(k) {
                        // A conv bias feeding a non-affine InstanceNorm has an exact gradient of 0;
                        // both sides hold rounding noise around it, far below the net's gradients.
                        XCTAssertLessThanOrEqual(g.map(abs).max() ?? 0, 1e-4 * scale, "grad1.\(name).\(k): cancelled bias")
                        XCTAssertLessThanOrEqual(ref.data.map(abs).max() ?? 0, 1e-4 * scale, "grad1.\(name).\(k): cancelled bias (PyTorch)")
                        continue
                    }
                    worst = max(worst, maxAbsDiff(g, ref.data).0 / max(scale, 1e-30))
                    assertClose(g, ref.data, rtol: 1e-4, atol: 1e-6 * scale, "grad1.\(name).\(k) (Winograd from \(minChannels) channels)")
                }
                print("  \(name): step-1 gradients, largest diff / largest gradient \(worst) (Winograd from \(minChannels) channels)")
            }
        } }
    }

    /// The fixture's four networks loaded into a model built as the test's configuration.
    func loadedModel() throws -> (Fixture, CycleGAN, RNG) {
        let fx = try Fixture("cyclegan/cyclegan_steps")
        var config = CycleGANConfig()
        config.netG = .resnet9
        config.ngf = 4; config.ndf = 4
        var rng = RNG(seed: 0)
        // The fixture's generators have 2 residual blocks: build them directly.
        let model = try CycleGAN(config: config, rng: &rng, generatorBlocks: 2)
        for (name, net) in [("G_A", model.netGA), ("G_B", model.netGB), ("D_A", model.netDA), ("D_B", model.netDB)] {
            var state: [String: Tensor] = [:]
            for (k, v) in fx.tensors where k.hasPrefix(name + ".") { state[String(k.dropFirst(name.count + 1))] = v }
            try net.loadStateDict(state)
        }
        return (fx, model, rng)
    }

    func firstStepsMatchPyTorch(steps: Int, compareParameters: Bool) throws {
        let (fx, model, rng0) = try loadedModel()
        var rng = rng0
        print("cyclegan:")
        for t in 1...steps {
            let losses = try model.trainStep(realA: try fx.tensor("A\(t)"), realB: try fx.tensor("B\(t)"), rng: &rng)
            assertClose(losses.values, try fx.tensor("losses\(t)").data, rtol: 1e-4,
                        "step \(t) losses [D_A, G_A, cycle_A, idt_A, D_B, G_B, cycle_B, idt_B]")
        }
        guard compareParameters else { return }
        for (name, net) in [("G_A", model.netGA), ("G_B", model.netGB), ("D_A", model.netDA), ("D_B", model.netDB)] {
            var worst: Float = 0
            let cancelled = biasesCancelledByNorm(net)
            XCTAssertFalse(cancelled.isEmpty)
            for (k, t) in net.stateDict() {
                let ref = try fx.tensor("after.\(name).\(k)")
                if cancelled.contains(k) {
                    // A conv bias feeding a non-affine InstanceNorm has an exact gradient of 0: it
                    // cannot change any output. Adam turns the rounding noise of that 0 into steps
                    // of up to lr, in either direction, in both implementations.
                    let (d, _) = maxAbsDiff(t.data, ref.data)
                    XCTAssertLessThanOrEqual(d, 2 * 3 * model.config.lr * 1.01, "after.\(name).\(k): moved further than Adam can")
                    continue
                }
                worst = max(worst, maxAbsDiff(t.data, ref.data).diff)
                // See Pix2PixStepTests: Adam turns near-zero gradients' rounding noise into steps of up to lr.
                assertClose(t.data, ref.data, rtol: 1e-4, atol: 2e-5, "after.\(name).\(k)", report: false)
            }
            print("  \(name): largest abs diff after 3 steps \(worst)")
        }
    }

    /// Keys of conv biases directly followed by an InstanceNorm2d without affine parameters.
    func biasesCancelledByNorm(_ net: Module) -> Set<String> {
        var keys = Set<String>()
        for (path, m) in net.namedModules() {
            guard let seq = m as? Sequential else { continue }
            for (i, layer) in seq.layers.enumerated() where i + 1 < seq.layers.count {
                guard let norm = seq.layers[i + 1] as? InstanceNorm2d, norm.weight == nil else { continue }
                if (layer as? Conv2d)?.bias != nil || (layer as? ConvTranspose2d)?.bias != nil {
                    keys.insert((path.isEmpty ? "" : path + ".") + "\(i).bias")
                }
            }
        }
        return keys
    }

    /// Winograd F(4x4, 3x3) inside a whole CycleGAN step (residual blocks of 32 channels on
    /// 32x32 planes, every pass): the plan uses it, and two steps log the losses of the same
    /// steps with F(2x2, 3x3) to float rounding.
    func testFourByFourTileWinogradInAWholeStep() throws {
        var c = CycleGANConfig()
        c.ngf = 8; c.ndf = 8; c.netG = .resnet6
        func run(_ tile4: Int) throws -> (plans: [ConvPlanRecord], losses: [[Float]]) {
            try ConvPolicy.current.with { $0.winogradTile4MinPositions = tile4 }.run {
                var rng = RNG(seed: 9)
                let m = try CycleGAN(config: c, rng: &rng, generatorBlocks: 2)
                let a = Tensor.rand([1, 3, 128, 128], low: -1, high: 1, rng: &rng), b = Tensor.rand([1, 3, 128, 128], low: -1, high: 1, rng: &rng)
                let (first, plans) = try ConvTrace.trace { try m.trainStep(realA: a, realB: b, rng: &rng) }
                let second = try m.trainStep(realA: b, realB: a, rng: &rng)
                return (plans, [first.values, second.values])
            }
        }
        let tile4 = try run(1024), tile2 = try run(.max)
        let blocks = tile4.plans.filter { $0.kernel == 3 && $0.stride == 1 && $0.channels == 32 && $0.height == 34 }
        XCTAssertFalse(blocks.isEmpty)
        for p in blocks {
            XCTAssertEqual(p.forward, .winograd3x3Tile4, "\(p)")
            if p.weightGradient != nil { XCTAssertEqual(p.weightGradient, .winograd3x3Tile4, "\(p)") }
            if p.inputGradient != nil { XCTAssertEqual(p.inputGradient, .gradientConvWinograd3x3Tile4, "\(p)") }
        }
        XCTAssertTrue(tile2.plans.allSatisfy { $0.forward != .winograd3x3Tile4 })
        for (step, (x, y)) in zip(tile4.losses, tile2.losses).enumerated() {
            assertClose(x, y, rtol: 1e-4, atol: 1e-5, "CycleGAN step \(step + 1) losses, F(4x4, 3x3) vs F(2x2, 3x3)")
        }
    }

    func testIdentityLossSkippedWhenChannelsDiffer() throws {
        var c = CycleGANConfig()
        c.ngf = 2; c.ndf = 2; c.netG = .resnet6; c.inputNc = 1; c.outputNc = 3
        XCTAssertFalse(c.usesIdentity)
        var rng = RNG(seed: 1)
        let m = try CycleGAN(config: c, rng: &rng, generatorBlocks: 1)
        let l = try m.trainStep(realA: Tensor.rand([1, 1, 32, 32], low: -1, high: 1, rng: &rng),
                                realB: Tensor.rand([1, 3, 32, 32], low: -1, high: 1, rng: &rng), rng: &rng)
        XCTAssertEqual(l.idtA, 0); XCTAssertEqual(l.idtB, 0)
        XCTAssertGreaterThan(l.cycleA, 0)
        XCTAssertEqual(m.poolA.images.count, 1)
        XCTAssertEqual(m.poolA.images[0].shape, [1, 1, 32, 32])
    }

    /// History buffers of images of different sizes survive a checkpoint (one tensor per
    /// image); the older single-tensor form still loads; a gap or an overfull buffer is refused.
    func testHistoryBuffersRoundTripWhateverTheirSizes() throws {
        var c = CycleGANConfig()
        c.ngf = 2; c.ndf = 2; c.netG = .resnet6; c.poolSize = 4
        var rng = RNG(seed: 3)
        let m = try CycleGAN(config: c, rng: &rng, generatorBlocks: 1)
        m.poolA.images = [Tensor.randn([1, 3, 8, 8], rng: &rng), Tensor.randn([1, 3, 12, 10], rng: &rng)]
        m.poolB.images = []
        let state = Dictionary(uniqueKeysWithValues: m.poolState)
        XCTAssertEqual(state.keys.sorted(), ["pool_A.0", "pool_A.1"])
        let n = try CycleGAN(config: c, rng: &rng, generatorBlocks: 1)
        n.poolB.images = [Tensor.randn([1, 3, 8, 8], rng: &rng)]
        try n.restorePools(state)
        XCTAssertEqual(n.poolA.images.map(\.shape), [[1, 3, 8, 8], [1, 3, 12, 10]])
        XCTAssertEqual(n.poolA.images.map(\.data), m.poolA.images.map(\.data))
        XCTAssertTrue(n.poolB.images.isEmpty, "an empty buffer is restored empty")
        // The older form: one [count, C, H, W] tensor.
        try n.restorePools(["pool_A": try cat([m.poolA.images[0], m.poolA.images[0]], dim: 0)])
        XCTAssertEqual(n.poolA.images.count, 2)
        XCTAssertThrowsError(try n.restorePools(["pool_A.0": m.poolA.images[0], "pool_A.2": m.poolA.images[0]])) {
            XCTAssertTrue("\($0)".contains("image 1 of 2"), "\($0)")
        }
        let five = Dictionary(uniqueKeysWithValues: (0..<5).map { ("pool_B.\($0)", m.poolA.images[0]) })
        XCTAssertThrowsError(try n.restorePools(five)) { XCTAssertTrue("\($0)".contains("--pool-size"), "\($0)") }
    }
}
