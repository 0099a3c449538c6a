import Foundation
import Tensors
import NN

/// CycleGAN generator architectures (`--net-g`).
/// Everything that defines a CycleGAN model and its optimisation; saved in checkpoints.
public struct CycleGANConfig: Codable, Equatable {
    public var inputNc = 3, outputNc = 3
    public var netG = GeneratorArch.resnet9
    /// Residual blocks, when not the architecture's 9 or 6 (imported models, small tests).
    public var nBlocks: Int?
    public var ngf = 64
    public var netD = DiscriminatorArch.basic
    public var nLayersD = 3
    public var ndf = 64
    public var norm = Norm.instance
    public var dropout = false
    public var upsampling = Upsampling.transposed
    public var ganMode = GANMode.lsgan
    /// `--lambda-gp`, `--n-critic`, `--r1-gamma`; nil (older files, defaults) is `GANPenalties()`.
    public var penalties: GANPenalties?
    public var lambdaA: Float = 10
    public var lambdaB: Float = 10
    public var lambdaIdentity: Float = 0.5
    public var poolSize = 50
    public var lr: Float = 2e-4
    public var beta1: Float = 0.5
    public var initType = InitType.normal
    public var initGain: Float = 0.02
    public init() {}

    /// The identity loss needs G_A: B -> B, so it only applies to equal channel counts.
    public var usesIdentity: Bool { lambdaIdentity > 0 && inputNc == outputNc }
}

/// CycleGAN (Zhu et al. 2017): G_A: A -> B, G_B: B -> A, D_A judges domain B, D_B domain A.
/// One step is the reference's `optimize_parameters`: generators first (GAN + cycle +
/// identity losses, discriminators frozen), then both discriminators on real images and on
/// fakes drawn from the history buffers, each loss halved.
public final class CycleGAN {
    public let config: CycleGANConfig
    public let netGA: Module, netGB: Module, netDA: Module, netDB: Module
    public let optG: Adam, optD: Adam
    public let poolA: ImagePool, poolB: ImagePool

    public struct Losses: Equatable, Codable {
        public var dA: Float, gA: Float, cycleA: Float, idtA: Float, dB: Float, gB: Float, cycleB: Float, idtB: Float
        /// wgangp: each critic's penalty (unweighted) and Wasserstein estimate; with `--r1-gamma`: R1's term.
        public var penaltyA: CriticTerms?, penaltyB: CriticTerms?
        public static let names = ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"]
        public var values: [Float] { [dA, gA, cycleA, idtA, dB, gB, cycleB, idtB] + (penaltyA?.values ?? []) + (penaltyB?.values ?? []) }
        /// The names of `values` for a configuration.
        public static func names(for c: CycleGANConfig) -> [String] {
            names + ["A", "B"].flatMap { side in
                (c.ganMode == .wgangp ? ["gp_\(side)", "W_dist_\(side)"] : []) + ((c.penalties?.r1Gamma ?? 0) > 0 ? ["R1_\(side)"] : [])
            }
        }
    }

    /// What a critic's update adds beyond its loss.
    public struct CriticTerms: Equatable, Codable {
        public var gp: Float?, wDistance: Float?, r1: Float?
        var values: [Float] { [gp, wDistance, r1].compactMap { $0 } }
    }
    /// The generators' losses of their last update (reported on critic-only steps, `--n-critic`).
    var lastGeneratorLosses: [Float] = [0, 0, 0, 0, 0, 0]

    /// The generator inputNc -> outputNc; `blocks` overrides the residual block count of
    /// the ResNet generators (small test models).
    public static func makeGenerator(_ c: CycleGANConfig, inputNc: Int, outputNc: Int, blocks: Int? = nil, rng: inout RNG) throws -> Module {
        try GeneratorSpec(arch: c.netG, inputNc: inputNc, outputNc: outputNc, ngf: c.ngf, norm: c.norm, dropout: c.dropout,
                          upsampling: c.upsampling, blocks: blocks ?? c.nBlocks, initType: c.initType, initGain: c.initGain).make(rng: &rng)
    }

    static func makeDiscriminator(_ c: CycleGANConfig, inputNc: Int, rng: inout RNG) throws -> Module {
        try DiscriminatorSpec(arch: c.netD, inputNc: inputNc, ndf: c.ndf, nLayers: c.nLayersD, norm: c.norm,
                              initType: c.initType, initGain: c.initGain).make(rng: &rng)
    }

    /// Networks are created in the reference's order: G_A, G_B, D_A, D_B.
    public init(config: CycleGANConfig, rng: inout RNG, generatorBlocks: Int? = nil) throws {
        guard config.poolSize >= 0 else { throw NetworkError.invalidOption("CycleGAN: --pool-size must be at least 0, got \(config.poolSize)") }
        self.config = config
        netGA = try Self.makeGenerator(config, inputNc: config.inputNc, outputNc: config.outputNc, blocks: generatorBlocks, rng: &rng)
        netGB = try Self.makeGenerator(config, inputNc: config.outputNc, outputNc: config.inputNc, blocks: generatorBlocks, rng: &rng)
        netDA = try Self.makeDiscriminator(config, inputNc: config.outputNc, rng: &rng)
        netDB = try Self.makeDiscriminator(config, inputNc: config.inputNc, rng: &rng)
        optG = Adam(netGA.namedParameters(prefix: "G_A.") + netGB.namedParameters(prefix: "G_B."), lr: config.lr, betas: (config.beta1, 0.999))
        optD = Adam(netDA.namedParameters(prefix: "D_A.") + netDB.namedParameters(prefix: "D_B."), lr: config.lr, betas: (config.beta1, 0.999))
        poolA = ImagePool(size: config.poolSize)
        poolB = ImagePool(size: config.poolSize)
    }

    /// Checkpoint names: `netG_A.*`, `netG_B.*`, `netD_A.*`, `netD_B.*`, `optim.G.*`, `optim.D.*`.
    public var modules: [(String, Module)] { [("netG_A", netGA), ("netG_B", netGB), ("netD_A", netDA), ("netD_B", netDB)] }
    public var optimizers: [(String, Adam)] { [("G", optG), ("D", optD)] }
    public func setLearningRate(_ lr: Float) { optG.lr = lr; optD.lr = lr }

    /// One step on real_A (N, inputNc, H, W) and real_B (N, outputNc, H', W'); `rng` drives
    /// the history buffers.
    @discardableResult
    public func trainStep(realA: Tensor, realB: Tensor, rng: inout RNG) throws -> Losses {
        for m in [netGA, netGB, netDA, netDB] { m.train() }
        let c = config
        // Generators, with both discriminators frozen. The loss is the reference's sum
        // GAN_A + GAN_B + cycle_A + cycle_B + idt_A + idt_B, but its gradient is accumulated
        // in independent parts, each graph released before the next is built: the A->B->A
        // chain, the B->A->B chain, then each identity term. The networks see the same
        // inputs in the same order as the reference's forward pass (per network: G_A on
        // real_A, fake_A, real_B; G_B on fake_B, real_B, real_A), so with dropout the noise
        // matches too; only the order in which parameter gradients are summed differs. Peak
        // memory holds two generator graphs instead of six.
        let penalties = c.penalties ?? GANPenalties()
        // The critics update after the generators here, so count this step's critic update (as pix2pix does).
        guard penalties.updatesGenerator(afterCriticSteps: (optD.steps.max() ?? 0) + 1) else {
            // A critic-only step (--n-critic): this batch's fakes without a generator update.
            let (fakeB, fakeA) = try withNoGrad { (try netGA(realA), try netGB(realB)) }
            return try discriminatorStep(realA: realA, realB: realB, fakeA: fakeA, fakeB: fakeB, generator: lastGeneratorLosses, rng: &rng)
        }
        netDA.requiresGrad(false); netDB.requiresGrad(false)
        optG.zeroGrad()
        let fakeB = try netGA(realA)
        let lossGA = try ganLoss(try netDA(fakeB), targetIsReal: true, mode: c.ganMode)
        let lossCycleA = try l1Loss(try netGB(fakeB), realA) * c.lambdaA
        try (lossGA + lossCycleA).backward()
        let fakeA = try netGB(realB)
        let lossGB = try ganLoss(try netDB(fakeA), targetIsReal: true, mode: c.ganMode)
        let lossCycleB = try l1Loss(try netGA(fakeA), realB) * c.lambdaB
        try (lossGB + lossCycleB).backward()
        var lossIdtA = Tensor(scalar: 0), lossIdtB = Tensor(scalar: 0)
        if c.usesIdentity {
            lossIdtA = try l1Loss(try netGA(realB), realB) * (c.lambdaB * c.lambdaIdentity)
            try lossIdtA.backward()
            lossIdtB = try l1Loss(try netGB(realA), realA) * (c.lambdaA * c.lambdaIdentity)
            try lossIdtB.backward()
        }
        optG.step()
        lastGeneratorLosses = [lossGA, lossCycleA, lossIdtA, lossGB, lossCycleB, lossIdtB].map(\.item)
        return try discriminatorStep(realA: realA, realB: realB, fakeA: fakeA, fakeB: fakeB, generator: lastGeneratorLosses, rng: &rng)
    }

    /// Both discriminators on real images and on fakes from the history buffers; `generator`
    /// is [G_A, cycle_A, idt_A, G_B, cycle_B, idt_B] for the report.
    func discriminatorStep(realA: Tensor, realB: Tensor, fakeA: Tensor, fakeB: Tensor, generator g: [Float], rng: inout RNG) throws -> Losses {
        netDA.requiresGrad(true); netDB.requiresGrad(true)
        optD.zeroGrad()
        let pooledB = try poolB.query(fakeB, rng: &rng)
        let (lossDA, termsA) = try discriminatorLoss(netDA, real: realB, fake: pooledB, rng: &rng)
        try lossDA.backward()
        let pooledA = try poolA.query(fakeA, rng: &rng)
        let (lossDB, termsB) = try discriminatorLoss(netDB, real: realA, fake: pooledA, rng: &rng)
        try lossDB.backward()
        optD.step()
        return Losses(dA: lossDA.item, gA: g[0], cycleA: g[1], idtA: g[2], dB: lossDB.item, gB: g[3], cycleB: g[4], idtB: g[5],
                      penaltyA: termsA, penaltyB: termsB)
    }

    /// 0.5 * (GAN(D(real), real) + GAN(D(fake), fake)), fake detached; wgangp: D(fake) -
    /// D(real) + lambda_gp * penalty at interpolates (not halved); plus gamma/2 * R1 with
    /// `--r1-gamma`. The loss includes the penalties; the terms are reported apart.
    func discriminatorLoss(_ d: Module, real: Tensor, fake: Tensor, rng: inout RNG) throws -> (Tensor, CriticTerms?) {
        let lossReal = try ganLoss(try d(real), targetIsReal: true, mode: config.ganMode)
        let lossFake = try ganLoss(try d(fake.detach()), targetIsReal: false, mode: config.ganMode)
        let penalties = config.penalties ?? GANPenalties()
        guard config.ganMode == .wgangp || penalties.r1Gamma > 0 else { return (try (lossReal + lossFake) * 0.5, nil) }
        var terms = CriticTerms()
        var loss = config.ganMode == .wgangp ? try lossReal + lossFake : try (lossReal + lossFake) * 0.5
        let critic: (Tensor) throws -> Tensor = { try d($0) }
        if config.ganMode == .wgangp {
            let gp = try gradientPenalty(critic, at: try interpolate(real: real, fake: fake.detach(), rng: &rng))
            loss = try loss + gp * penalties.lambdaGP
            terms.gp = gp.item
            terms.wDistance = -(lossReal.item + lossFake.item)
        }
        if penalties.r1Gamma > 0 {
            let r1 = try r1Penalty(critic, at: real)
            loss = try loss + r1 * (penalties.r1Gamma / 2)
            terms.r1 = r1.item
        }
        return (loss, terms)
    }

    /// The history buffers for checkpoints: one tensor per stored image (`pool_A.0`,
    /// `pool_A.1`, ..., each [1, C, H, W]), so images of different sizes (--preprocess none)
    /// are kept too. An empty buffer writes nothing.
    public var poolState: [(String, Tensor)] {
        [("pool_A", poolA), ("pool_B", poolB)].flatMap { name, pool in
            pool.images.enumerated().map { ("\(name).\($0.offset)", $0.element) }
        }
    }

    /// Restores `poolState`; also reads the older single-tensor form (`pool_A`: [count, C,
    /// H, W]). Refuses buffers that do not fit the pool or have gaps in their numbering.
    public func restorePools(_ tensors: [String: Tensor]) throws {
        for (name, pool) in [("pool_A", poolA), ("pool_B", poolB)] {
            var images: [Tensor] = []
            if let t = tensors[name] {
                guard t.rank == 4 else { throw NetworkError.invalidOption("history buffer \(name): shape \(t.shape) is not [count, C, H, W]") }
                images = try (0..<t.shape[0]).map { try narrow(t, dim: 0, start: $0, length: 1).detach() }
            } else {
                let keys = tensors.keys.filter { $0.hasPrefix(name + ".") }
                for i in 0..<keys.count {
                    guard let t = tensors["\(name).\(i)"], t.rank == 4, t.shape[0] == 1 else {
                        throw NetworkError.invalidOption("history buffer \(name): image \(i) of \(keys.count) is missing or not [1, C, H, W]")
                    }
                    images.append(t)
                }
            }
            guard images.count <= pool.size else {
                throw NetworkError.invalidOption("history buffer \(name): \(images.count) images do not fit a pool of \(pool.size) (--pool-size)")
            }
            pool.images = images
        }
    }
}
