import Foundation
import Tensors
import NN
import ImageIO

/// Everything that defines a BicycleGAN model and its optimisation; saved in checkpoints.
/// Defaults are the reference's (junyanz/BicycleGAN, options/base_options.py and
/// train_options.py): unet_256 with the code added at every level, resnet_256 encoder,
/// two basic_256_multi discriminators (2 scales), InstanceNorm, no dropout, xavier init with
/// gain 0.02, LSGAN, lambda L1 10, KL 0.01, latent L1 0.5, Adam lr 2e-4 beta1 0.5.
public struct BicycleGANConfig: Codable, Equatable {
    public var inputNc = 3, outputNc = 3
    /// Length of the latent code.
    public var nz = 8
    /// A U-Net of `GeneratorArch` (the reference's unet_256 / unet_128; ours down to unet-64).
    public var netG = GeneratorArch.unet256
    public var whereAdd = WhereAdd.all
    public var netE = EncoderArch.resnet256
    public var ngf = 64, nef = 64, ndf = 64
    /// Conv layers of each PatchGAN (basic_256_multi: 3, basic_128_multi: 2) and the scales.
    public var nLayersD = 3
    public var numDs = 2
    public var norm = Norm.instance
    public var dropout = false
    public var upsampling = Upsampling.transposed
    public var ganMode = GANMode.lsgan
    public var lambdaL1: Float = 10
    public var lambdaKL: Float = 0.01
    public var lambdaZ: Float = 0.5
    public var lr: Float = 2e-4
    public var beta1: Float = 0.5
    public var initType = InitType.xavier
    public var initGain: Float = 0.02
    public init() {}

    /// The generator G(A, z); `initType` nil: no initialisation (weights about to be loaded).
    public func makeGenerator(initType: InitType?, rng: inout RNG) throws -> Module & CodeConditionedGenerator {
        guard let downs = netG.numDowns else {
            throw NetworkError.invalidOption("BicycleGAN: --net-g must be a U-Net (unet-256, unet-128, unet-64), got \(netG.rawValue)")
        }
        switch whereAdd {
        case .all:
            return try UnetAddAllGenerator(inputNc: inputNc, outputNc: outputNc, nz: nz, numDowns: downs, ngf: ngf, norm: norm,
                                           useDropout: dropout, upsampling: upsampling, initType: initType, initGain: initGain, rng: &rng)
        case .input:
            return try UnetAddInputGenerator(inputNc: inputNc, outputNc: outputNc, nz: nz, numDowns: downs, ngf: ngf, norm: norm,
                                             useDropout: dropout, upsampling: upsampling, initType: initType, initGain: initGain, rng: &rng)
        }
    }

    /// The encoder E(B) -> (mu, logvar).
    public func makeEncoder(initType: InitType?, rng: inout RNG) throws -> ResNetEncoder {
        try ResNetEncoder(inputNc: outputNc, nz: nz, nef: nef, arch: netE, norm: norm, initType: initType, initGain: initGain, rng: &rng)
    }

    /// One of the two discriminators: it sees output-side images only (the reference's
    /// default, conditional_D off).
    public func makeDiscriminator(rng: inout RNG) throws -> MultiscaleDiscriminator {
        try MultiscaleDiscriminator(inputNc: outputNc, ndf: ndf, nLayers: nLayersD, numD: numDs, norm: norm,
                                    initType: initType, initGain: initGain, rng: &rng)
    }
}

/// BicycleGAN (Zhu et al. 2017): a generator G(A, z), an encoder E(B) -> (mu, logvar) and two
/// discriminators, D for the cVAE-GAN half of each batch and D2 for the cLR-GAN half. One
/// step is the reference's `optimize_parameters` (models/bicycle_gan_model.py):
/// 1. The batch is split in halves (A1, B1), (A2, B2). z_encoded = mu + eps * exp(logvar / 2)
///    with (mu, logvar) = E(B1); z_random ~ N(0, I). fake_encoded = G(A1, z_encoded),
///    fake_random = G(A1, z_random) (A1 in both, as the reference).
/// 2. G and E update, D and D2 frozen: GAN(D(fake_encoded)) + GAN(D2(fake_random)) +
///    lambdaL1 * |fake_encoded - B1| + KL, with KL = -lambdaKL / 2 * sum(1 + logvar - mu^2 - e^logvar),
///    reaching G and E; then, with E frozen, lambdaZ * |mu(E(fake_random)) - z_random| reaching G only.
/// 3. D update on (B1 real, fake_encoded fake) and D2 on (B2 real, fake_random fake), each
///    loss fake + real (not halved), on the fakes of step 1 (before G's update).
/// GAN losses sum over the discriminators' scales.
public final class BicycleGAN {
    public let config: BicycleGANConfig
    public let netG: Module & CodeConditionedGenerator
    public let netE: ResNetEncoder
    public let netD: MultiscaleDiscriminator, netD2: MultiscaleDiscriminator
    public let optG: Adam, optE: Adam, optD: Adam, optD2: Adam
    /// Called with "G", "E", "D" or "D2" just before that optimiser steps, while the gradients
    /// are in place (the golden test compares them with PyTorch's).
    public var beforeOptimizerStep: ((String) -> Void)?

    /// The reference's loss names, in its order.
    public struct Losses: Equatable, Codable {
        public var gGAN: Float, d: Float, gGAN2: Float, d2: Float, gL1: Float, zL1: Float, kl: Float
        public static let names = ["G_GAN", "D", "G_GAN2", "D2", "G_L1", "z_L1", "kl"]
        public var values: [Float] { [gGAN, d, gGAN2, d2, gL1, zL1, kl] }
    }

    public init(config: BicycleGANConfig, rng: inout RNG) throws {
        self.config = config
        netG = try config.makeGenerator(initType: config.initType, rng: &rng)
        netD = try config.makeDiscriminator(rng: &rng)
        netD2 = try config.makeDiscriminator(rng: &rng)
        netE = try config.makeEncoder(initType: config.initType, rng: &rng)
        let betas = (config.beta1, Float(0.999))
        optG = Adam(netG.namedParameters(), lr: config.lr, betas: betas)
        optE = Adam(netE.namedParameters(), lr: config.lr, betas: betas)
        optD = Adam(netD.namedParameters(), lr: config.lr, betas: betas)
        optD2 = Adam(netD2.namedParameters(), lr: config.lr, betas: betas)
    }

    /// Checkpoint names: `netG.*`, `netE.*`, `netD.*`, `netD2.*`, `optim.G.*`, ...
    public var modules: [(String, Module)] { [("netG", netG), ("netE", netE), ("netD", netD), ("netD2", netD2)] }
    public var optimizers: [(String, Adam)] { [("G", optG), ("E", optE), ("D", optD), ("D2", optD2)] }

    public func setLearningRate(_ lr: Float) { for (_, o) in optimizers { o.lr = lr } }

    /// z = mu + eps * exp(logvar / 2), the reparameterisation; eps (N, nz).
    static func reparameterise(mu: Tensor, logvar: Tensor, eps: Tensor) throws -> Tensor {
        try eps * exp(logvar * 0.5) + mu
    }

    /// One step drawing eps and z_random from `rng` (eps first, as the reference).
    @discardableResult
    public func trainStep(input: Tensor, target: Tensor, rng: inout RNG) throws -> Losses {
        let half = input.shape[0] / 2
        let eps = Tensor.randn([half, config.nz], rng: &rng)
        let zRandom = Tensor.randn([half, config.nz], rng: &rng)
        return try trainStep(input: input, target: target, eps: eps, zRandom: zRandom)
    }

    /// One optimisation step on a batch of an even size N: input (N, inputNc, H, W), target
    /// (N, outputNc, H, W); eps and zRandom (N/2, nz).
    @discardableResult
    public func trainStep(input: Tensor, target: Tensor, eps: Tensor, zRandom: Tensor) throws -> Losses {
        guard input.rank == 4, target.rank == 4, input.shape[0] == target.shape[0],
              input.shape[2] == target.shape[2], input.shape[3] == target.shape[3] else {
            throw TensorError.shapeMismatch(op: "BicycleGAN step (input vs target)", shapes: [input.shape, target.shape])
        }
        let n = input.shape[0], half = n / 2
        guard n >= 2, n % 2 == 0 else {
            throw NetworkError.invalidOption("BicycleGAN step: the batch is split in two halves, so its size must be even, got \(n)")
        }
        guard eps.shape == [half, config.nz], zRandom.shape == [half, config.nz] else {
            throw TensorError.shapeMismatch(op: "BicycleGAN step (eps, z_random vs [N/2, nz])", shapes: [eps.shape, zRandom.shape, [half, config.nz]])
        }
        for (_, m) in modules { m.train() }
        // (N, C, H, W) -> two (N/2, C, H, W) halves: A1, B1 for the encoded code, B2 real for D2.
        let a1 = try narrow(input, dim: 0, start: 0, length: half)
        let b1 = try narrow(target, dim: 0, start: 0, length: half)
        let b2 = try narrow(target, dim: 0, start: half, length: half)
        let (mu, logvar) = try netE.forward(b1)
        let zEncoded = try Self.reparameterise(mu: mu, logvar: logvar, eps: eps)
        let fakeEncoded = try netG.forward(a1, z: zEncoded)
        let fakeRandom = try netG.forward(a1, z: zRandom)

        // G and E, with D and D2 frozen. fake_random's graph is needed by two losses that reach
        // different networks (GAN2: G; latent L1: G but not E), so both are taken at a leaf copy
        // of it and its gradient is sent through G once afterwards.
        netD.requiresGrad(false); netD2.requiresGrad(false)
        optG.zeroGrad(); optE.zeroGrad()
        let fakeRandomLeaf = try Tensor(shape: fakeRandom.shape, data: fakeRandom.data, requiresGrad: true)
        let lossGGAN = try ganLoss(try netD.forward(fakeEncoded), targetIsReal: true, mode: config.ganMode)
        let lossGGAN2 = try ganLoss(try netD2.forward(fakeRandomLeaf), targetIsReal: true, mode: config.ganMode)
        // KL(N(mu, sigma^2) || N(0, 1)) summed over the half-batch and the code.
        let kl = try sum(try 1 + logvar - mu * mu - exp(logvar)) * (-0.5 * config.lambdaKL)
        let lossGL1 = try l1Loss(fakeEncoded, b1) * config.lambdaL1
        try (try lossGGAN + lossGGAN2 + lossGL1 + kl).backward()
        // The latent regression updates G alone: E is frozen while it is recorded and run.
        netE.requiresGrad(false)
        let mu2 = try netE.forward(fakeRandomLeaf).mu
        let lossZL1 = try l1Loss(mu2, zRandom) * config.lambdaZ
        try lossZL1.backward()
        netE.requiresGrad(true)
        if let g = fakeRandomLeaf.grad { try fakeRandom.backward(gradient: try Tensor(shape: fakeRandom.shape, data: g)) }
        beforeOptimizerStep?("G"); beforeOptimizerStep?("E")
        optE.step(); optG.step()
        optE.zeroGrad(setToNone: true); optG.zeroGrad(setToNone: true)

        // D on the encoded half, D2 on the random half, with the fakes made before G's update.
        netD.requiresGrad(true); netD2.requiresGrad(true)
        let lossD = try updateDiscriminator(netD, optD, "D", real: b1, fake: fakeEncoded.detach())
        let lossD2 = try updateDiscriminator(netD2, optD2, "D2", real: b2, fake: fakeRandom.detach())
        return Losses(gGAN: lossGGAN.item, d: lossD, gGAN2: lossGGAN2.item, d2: lossD2, gL1: lossGL1.item, zL1: lossZL1.item, kl: kl.item)
    }

    /// One discriminator step on loss GAN(D(fake), fake) + GAN(D(real), real); returns the loss.
    func updateDiscriminator(_ d: MultiscaleDiscriminator, _ opt: Adam, _ name: String, real: Tensor, fake: Tensor) throws -> Float {
        opt.zeroGrad()
        // Each term is back-propagated as soon as it is computed (one graph alive at a time).
        let lossFake = try ganLoss(try d.forward(fake), targetIsReal: false, mode: config.ganMode)
        try lossFake.backward()
        let lossReal = try ganLoss(try d.forward(real), targetIsReal: true, mode: config.ganMode)
        try lossReal.backward()
        beforeOptimizerStep?(name)
        opt.step()
        opt.zeroGrad(setToNone: true)
        return lossFake.item + lossReal.item
    }

    /// G(x, z) without gradients, in eval mode (no norm statistics are kept: InstanceNorm; with
    /// BatchNorm the running statistics are used). x (N, inputNc, H, W), z (N, nz).
    public func generate(_ x: Tensor, z: Tensor) throws -> Tensor {
        try Self.generate(netG, x, z: z)
    }

    static func generate(_ g: Module & CodeConditionedGenerator, _ x: Tensor, z: Tensor) throws -> Tensor {
        let was = g.training
        defer { g.train(was) }
        g.eval()
        return try withNoGrad { try g.forward(x, z: z) }
    }

    /// The encoder's mean code of images y (N, outputNc, side, side) (what the reference's
    /// test-time encoding uses), without gradients.
    public func encode(_ y: Tensor) throws -> Tensor { try Self.encode(netE, y) }

    /// Images whose sides the encoder does not take are first resized (bicubic, as PIL) to the
    /// nearest side it does, e.g. a 200-pixel example to 256 for resnet-256.
    static func encode(_ e: ResNetEncoder, _ y: Tensor) throws -> Tensor {
        let was = e.training
        defer { e.train(was) }
        e.eval()
        let r = e.arch.sides
        func fit(_ s: Int) -> Int { min(max(s, r.lowerBound), r.upperBound) }
        var x = y
        if fit(y.shape[2]) != y.shape[2] || fit(y.shape[3]) != y.shape[3] {
            x = try stack((0..<y.shape[0]).map { i in
                try Image(tensor: y, index: i).resized(width: fit(y.shape[3]), height: fit(y.shape[2]), filter: .bicubic).tensor()
            })
        }
        return try withNoGrad { try e.forward(x).mu }
    }
}
