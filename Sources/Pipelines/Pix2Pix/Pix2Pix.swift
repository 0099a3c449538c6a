import Foundation
import Tensors
import NN

/// Generator architectures (`--net-g`): U-Nets by the input side they are made for.
/// Discriminator architectures (`--net-d`): `basic` = 3-layer PatchGAN (70x70 receptive
/// field), `n-layers` = PatchGAN with `--n-layers-d`, `pixel` = 1x1 PixelGAN.
public enum DiscriminatorArch: String, CaseIterable, Codable {
    case basic, nLayers = "n-layers", pixel
}

/// How BatchNorm and dropout behave when translating (`--test-mode`).
public enum TestMode: String, CaseIterable, Codable {
    /// The pix2pix paper's protocol: batch statistics of each image and dropout on.
    case paper
    /// Running statistics, dropout off (PyTorch's `.eval()`).
    case eval
}

/// Everything that defines a pix2pix model and its optimisation; saved in checkpoints.
public struct Pix2PixConfig: Codable, Equatable {
    public var inputNc = 3, outputNc = 3
    public var netG = GeneratorArch.unet256
    /// Residual blocks of a ResNet generator when not the architecture's 9 or 6.
    public var nBlocks: Int?
    public var ngf = 64
    public var netD = DiscriminatorArch.basic
    public var nLayersD = 3
    public var ndf = 64
    public var norm = Norm.batch
    public var dropout = true
    public var upsampling = Upsampling.transposed
    public var ganMode = GANMode.vanilla
    /// `--lambda-gp`, `--n-critic`, `--r1-gamma`; nil (older files, defaults) is `GANPenalties()`.
    public var penalties: GANPenalties?
    public var lambdaL1: Float = 100
    public var lr: Float = 2e-4
    public var beta1: Float = 0.5
    public var initType = InitType.normal
    public var initGain: Float = 0.02
    public init() {}

    /// The generator (inputNc -> outputNc).
    public var generator: GeneratorSpec {
        GeneratorSpec(arch: netG, inputNc: inputNc, outputNc: outputNc, ngf: ngf, norm: norm, dropout: dropout,
                      upsampling: upsampling, blocks: nBlocks, initType: initType, initGain: initGain)
    }

    /// The conditional discriminator: it sees cat(input, output).
    public var discriminator: DiscriminatorSpec {
        DiscriminatorSpec(arch: netD, inputNc: inputNc + outputNc, ndf: ndf, nLayers: nLayersD, norm: norm, initType: initType, initGain: initGain)
    }
}

/// pix2pix (Isola et al. 2017): a generator G (U-Net by default, or ResNet) and a conditional PatchGAN D that sees
/// cat(input, output). One training step is the reference's `optimize_parameters`: D update
/// on (input, G(input)) as fake and (input, target) as real, loss halved; then G update with
/// D frozen on GAN(D(input, G(input)), real) + lambdaL1 * |G(input) - target|.
public final class Pix2Pix {
    public let config: Pix2PixConfig
    public let netG: Module
    public let netD: Module
    public let optG: Adam, optD: Adam

    public struct Losses: Equatable, Codable {
        public var gGAN: Float, gL1: Float, dReal: Float, dFake: Float
        /// wgangp: the penalty (unweighted) and the Wasserstein estimate mean D(real) - mean D(fake);
        /// with `--r1-gamma`: R1's mean squared gradient norm (unweighted).
        public var gp: Float?, wDistance: Float?, r1: Float?
        public static let names = ["G_GAN", "G_L1", "D_real", "D_fake"]
        public var values: [Float] { [gGAN, gL1, dReal, dFake] + [gp, wDistance, r1].compactMap { $0 } }
        /// The names of `values` for a configuration.
        public static func names(for c: Pix2PixConfig) -> [String] {
            names + (c.ganMode == .wgangp ? ["D_gp", "W_dist"] : []) + ((c.penalties?.r1Gamma ?? 0) > 0 ? ["D_R1"] : [])
        }
    }
    /// The generator's losses of its last update (reported on critic-only steps, `--n-critic`).
    var lastGeneratorLosses: (gan: Float, l1: Float) = (0, 0)

    public init(config: Pix2PixConfig, rng: inout RNG) throws {
        self.config = config
        netG = try config.generator.make(rng: &rng)
        netD = try config.discriminator.make(rng: &rng)
        optG = Adam(netG.namedParameters(), lr: config.lr, betas: (config.beta1, 0.999))
        optD = Adam(netD.namedParameters(), lr: config.lr, betas: (config.beta1, 0.999))
    }

    /// Checkpoint names: `netG.*`, `netD.*`, `optim.G.*`, `optim.D.*`.
    public var modules: [(String, Module)] { [("netG", netG), ("netD", netD)] }
    public var optimizers: [(String, Adam)] { [("G", optG), ("D", optD)] }

    public func setLearningRate(_ lr: Float) { optG.lr = lr; optD.lr = lr }

    /// One optimisation step for modes that draw nothing (not wgangp): a generator of seed 0.
    @discardableResult
    public func trainStep(input: Tensor, target: Tensor) throws -> Losses {
        var rng = RNG(seed: 0)
        return try trainStep(input: input, target: target, rng: &rng)
    }

    /// One optimisation step on a batch: input (N, inputNc, H, W), target (N, outputNc, H, W);
    /// `rng` draws WGAN-GP's interpolation weights. With `--n-critic` n, the generator is
    /// updated on every n-th step (the critic on every step, each on its own batch).
    @discardableResult
    public func trainStep(input: Tensor, target: Tensor, rng: inout RNG) throws -> Losses {
        guard input.rank == 4, target.rank == 4, input.shape[0] == target.shape[0],
              input.shape[2] == target.shape[2], input.shape[3] == target.shape[3] else {
            throw TensorError.shapeMismatch(op: "pix2pix step (input vs target)", shapes: [input.shape, target.shape])
        }
        netG.train(); netD.train()
        let fake = try netG(input)
        // D update: fake pairs (G's output detached) and real pairs.
        netD.requiresGrad(true)
        optD.zeroGrad()
        // The loss is 0.5 * (fake + real); each half is back-propagated as soon as it is
        // computed, so that only one of D's two graphs is alive at a time. The gradients are
        // the same bits: D's parameters get one term from each half, and a + b == b + a.
        // WGAN-GP's critic loss is not halved: D(fake) - D(real) + lambda_gp * penalty.
        let wgan = config.ganMode == .wgangp, penalties = config.penalties ?? GANPenalties()
        let fakePair = try cat([input, fake.detach()], dim: 1), realPair = try cat([input, target], dim: 1)
        let lossDFake = try ganLoss(try netD(fakePair), targetIsReal: false, mode: config.ganMode)
        try (wgan ? lossDFake : lossDFake * 0.5).backward()
        let lossDReal = try ganLoss(try netD(realPair), targetIsReal: true, mode: config.ganMode)
        try (wgan ? lossDReal : lossDReal * 0.5).backward()
        var losses = Losses(gGAN: lastGeneratorLosses.gan, gL1: lastGeneratorLosses.l1, dReal: lossDReal.item, dFake: lossDFake.item)
        let critic: (Tensor) throws -> Tensor = { [netD] in try netD($0) }
        if wgan {
            // On the conditional pair: the input half is the same in both, so only the output half moves.
            let gp = try gradientPenalty(critic, at: try interpolate(real: realPair, fake: fakePair, rng: &rng))
            try (gp * penalties.lambdaGP).backward()
            losses.gp = gp.item
            losses.wDistance = -(lossDReal.item + lossDFake.item)
        }
        if penalties.r1Gamma > 0 {
            let r1 = try r1Penalty(critic, at: realPair)
            try (r1 * (penalties.r1Gamma / 2)).backward()
            losses.r1 = r1.item
        }
        optD.step()
        optD.zeroGrad(setToNone: true)
        guard penalties.updatesGenerator(afterCriticSteps: optD.steps.max() ?? 0) else { return losses }
        // G update with D frozen: gradients flow through D to G only.
        netD.requiresGrad(false)
        optG.zeroGrad()
        let predFakeG = try netD(try cat([input, fake], dim: 1))
        let lossGGAN = try ganLoss(predFakeG, targetIsReal: true, mode: config.ganMode)
        let lossGL1 = try l1Loss(fake, target) * config.lambdaL1
        let lossG = try lossGGAN + lossGL1
        try lossG.backward()
        optG.step()
        // Free G's gradients now rather than at the next step's zeroGrad: otherwise they
        // (218 MB for U-Net-256) are held through the next generator forward and D update,
        // the step's memory peak.
        optG.zeroGrad(setToNone: true)
        netD.requiresGrad(true)
        lastGeneratorLosses = (lossGGAN.item, lossGL1.item)
        losses.gGAN = lossGGAN.item
        losses.gL1 = lossGL1.item
        return losses
    }
}

extension Module {
    /// Translates a batch without recording gradients. `.paper` keeps dropout on and uses
    /// each image's own batch statistics (the same output as one image at a time in train
    /// mode); `.eval` uses running statistics without dropout. Running statistics are never
    /// changed; the dropout generators advance only in `.paper` mode.
    public func translate(_ x: Tensor, mode: TestMode) throws -> Tensor {
        let wasTraining = training
        defer { train(wasTraining); setPerSampleBatchStatistics(false) }
        switch mode {
        case .paper: train(); setPerSampleBatchStatistics(true)
        case .eval: eval()
        }
        return try withNoGrad { try self(x) }
    }
}
