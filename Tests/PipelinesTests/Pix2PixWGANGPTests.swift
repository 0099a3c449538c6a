import XCTest
import Tensors
import NN
import Pipelines
import TestSupport

/// pix2pix's first three steps with --gan-mode wgangp --norm instance against PyTorch
/// (tools/make_wgangp_fixtures.py; the interpolation weights are our RNG's draws, which the
/// script reproduces): the six losses of every step and every parameter after step 3, with
/// the tolerances of Pix2PixStepTests. Then the schedule (--n-critic) and R1.
final class Pix2PixWGANGPTests: XCTestCase {
    func model(_ fx: Fixture, penalties: GANPenalties? = nil) throws -> Pix2Pix {
        var config = Pix2PixConfig()
        config.netG = .unet32
        config.ngf = fx.int("ngf"); config.ndf = fx.int("ndf")
        config.norm = .instance
        config.dropout = false
        config.ganMode = .wgangp
        config.penalties = penalties
        config.lambdaL1 = fx.float("lambda_l1"); config.lr = fx.float("lr"); config.beta1 = fx.float("beta1")
        var rng = RNG(seed: 0)
        let m = try Pix2Pix(config: config, rng: &rng)
        var gState: [String: Tensor] = [:], dState: [String: Tensor] = [:]
        for (k, v) in fx.tensors {
            if k.hasPrefix("G.") { gState[String(k.dropFirst(2))] = v }
            if k.hasPrefix("D.") { dState[String(k.dropFirst(2))] = v }
        }
        try m.netG.loadStateDict(gState)
        try m.netD.loadStateDict(dState)
        return m
    }

    func testFirstThreeStepsMatchPyTorch() throws {
        let fx = try Fixture("wgangp/pix2pix_steps_wgangp")
        let m = try model(fx)
        XCTAssertEqual(Pix2Pix.Losses.names(for: m.config), ["G_GAN", "G_L1", "D_real", "D_fake", "D_gp", "W_dist"])
        var rng = RNG(seed: UInt64(fx.int("eps_seed")))
        print("pix2pix wgangp:")
        for t in 1...3 {
            let losses = try m.trainStep(input: try fx.tensor("A\(t)"), target: try fx.tensor("B\(t)"), rng: &rng)
            // The penalty of step 2 is ~3e-4: its absolute error is that of the gradient norm near 1.
            assertClose(losses.values, try fx.tensor("losses\(t)").data, rtol: 1e-4, atol: 2e-6, "step \(t) losses [G_GAN, G_L1, D_real, D_fake, D_gp, W_dist]")
        }
        // A bias right before an instance norm has no effect (the norm removes per-channel
        // constants): its gradient is exactly 0, computed as cancelling terms on both sides, and
        // Adam turns that noise into moves of up to lr per step in either direction. Those
        // biases are held to 2 * 3 steps * lr; every other parameter to Pix2PixStepTests' tolerances.
        for (prefix, net) in [("G", m.netG as Module), ("D", m.netD)] {
            let inert = biasesBeforeInstanceNorm(net)
            XCTAssertFalse(inert.isEmpty)
            for (k, t) in net.stateDict() {
                assertClose(t.data, try fx.tensor("after.\(prefix).\(k)").data, rtol: 1e-4, atol: inert.contains(k) ? 6 * fx.float("lr") : 2e-5,
                            "after.\(prefix).\(k)", report: false)
            }
        }
    }

    /// Keys of the biases of layers directly followed by an InstanceNorm2d in a Sequential.
    func biasesBeforeInstanceNorm(_ m: Module, prefix: String = "") -> Set<String> {
        var keys = Set<String>()
        let kids = m.children
        for (i, (name, child)) in kids.enumerated() {
            if i + 1 < kids.count, kids[i + 1].1 is InstanceNorm2d, child.localParameters.contains(where: { $0.0 == "bias" }) {
                keys.insert(prefix + name + ".bias")
            }
            keys.formUnion(biasesBeforeInstanceNorm(child, prefix: prefix + name + "."))
        }
        return keys
    }

    /// --n-critic 2: the critic moves every step, the generator every second one; R1 adds its term.
    func testCriticScheduleAndR1() throws {
        let fx = try Fixture("wgangp/pix2pix_steps_wgangp")
        let m = try model(fx, penalties: GANPenalties(nCritic: 2, r1Gamma: 1))
        XCTAssertEqual(Pix2Pix.Losses.names(for: m.config).suffix(3), ["D_gp", "W_dist", "D_R1"])
        var rng = RNG(seed: 1)
        let g0 = m.netG.stateDict().map { $0.1.data }, d0 = m.netD.stateDict().map { $0.1.data }
        let first = try m.trainStep(input: try fx.tensor("A1"), target: try fx.tensor("B1"), rng: &rng)
        XCTAssertEqual(m.netG.stateDict().map { $0.1.data }, g0, "no generator step after 1 critic step of 2")
        XCTAssertNotEqual(m.netD.stateDict().map { $0.1.data }, d0)
        XCTAssertEqual(first.values.count, 7)
        XCTAssertGreaterThan(first.r1 ?? 0, 0)
        _ = try m.trainStep(input: try fx.tensor("A2"), target: try fx.tensor("B2"), rng: &rng)
        XCTAssertNotEqual(m.netG.stateDict().map { $0.1.data }, g0, "the generator moves on the second step")
    }
}

/// CycleGAN with --gan-mode wgangp: the penalty changes the critics' update, each critic
/// reports its terms, and --n-critic holds the generators.
final class CycleGANWGANGPTests: XCTestCase {
    func step(_ penalties: GANPenalties) throws -> (CycleGAN, CycleGAN.Losses, before: [[Float]]) {
        var c = CycleGANConfig()
        c.ngf = 2; c.ndf = 2; c.netG = .resnet6; c.ganMode = .wgangp; c.penalties = penalties
        var rng = RNG(seed: 1)
        let m = try CycleGAN(config: c, rng: &rng, generatorBlocks: 1)
        let before = m.netGA.stateDict().map { $0.1.data }
        let l = try m.trainStep(realA: Tensor.rand([2, 3, 32, 32], low: -1, high: 1, rng: &rng),
                                realB: Tensor.rand([2, 3, 32, 32], low: -1, high: 1, rng: &rng), rng: &rng)
        return (m, l, before)
    }

    func testPenaltyTermsAndSchedule() throws {
        let (m, l, before) = try step(GANPenalties(lambdaGP: 10, nCritic: 2, r1Gamma: 0.5))
        XCTAssertEqual(CycleGAN.Losses.names(for: m.config).suffix(6), ["gp_A", "W_dist_A", "R1_A", "gp_B", "W_dist_B", "R1_B"])
        XCTAssertEqual(l.values.count, CycleGAN.Losses.names(for: m.config).count)
        XCTAssertTrue(l.values.allSatisfy(\.isFinite))
        XCTAssertGreaterThan(l.penaltyA?.gp ?? 0, 0)
        XCTAssertEqual(l.penaltyA?.wDistance ?? .nan, -(l.dA - 10 * (l.penaltyA?.gp ?? 0) - 0.25 * (l.penaltyA?.r1 ?? 0)), accuracy: 1e-4,
                       "D_A = D(fake) - D(real) + 10 gp + 0.5/2 R1")
        XCTAssertEqual(m.netGA.stateDict().map { $0.1.data }, before, "--n-critic 2: no generator step on the first")
        let (plain, _, _) = try step(GANPenalties(lambdaGP: 0, nCritic: 2))
        XCTAssertNotEqual(plain.netDA.stateDict().map { $0.1.data }, m.netDA.stateDict().map { $0.1.data }, "the penalty moved the critic")
    }
}
