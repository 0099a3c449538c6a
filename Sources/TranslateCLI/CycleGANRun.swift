import ArgumentParser
import Foundation
import Tensors
import NN
import Datasets
import Pipelines

extension CycleGANGeneratorArch: ReferenceSpelled {}

/// Everything a CycleGAN training run is made of; stored in every checkpoint (`config`).
public struct CycleGANTrainOptions: TrainingRunOptions {
    public var dataroot: String
    public var phase = "train"
    public var name: String
    public var checkpointsDir = "models"
    public var model = CycleGANConfig()
    public var data = DataOptions(mode: .unaligned)
    public var batchSize = 1
    public var epochs = 100
    public var epochsDecay = 100
    public var lrPolicy = LRPolicy.linear
    public var lrDecayIters = 50
    public var seed: UInt64 = 0
    public var saveEpochFreq = 5
    public var maxItems: Int?
    public var samples = 4
    public var testMode = TestMode.eval

    public init(dataroot: String, name: String) { self.dataroot = dataroot; self.name = name }

    public var baseLR: Float { model.lr }
    public var channels: (input: Int, output: Int) { (model.inputNc, model.outputNc) }
}

public typealias CycleGANTrainer = GANTrainer<CycleGAN>

extension CycleGAN: TrainableModel {
    public static var kind: String { "cyclegan" }
    public static var lossNames: [String] { Losses.names }

    public convenience init(options: CycleGANTrainOptions, rng: inout RNG) throws {
        try GANChecks.common(options.model)
        try GANChecks.finite(options.model.lambdaA, "--lambda-a", in: 0...1e6)
        try GANChecks.finite(options.model.lambdaB, "--lambda-b", in: 0...1e6)
        try GANChecks.finite(options.model.lambdaIdentity, "--lambda-identity", in: 0...1e6)
        try GANChecks.int(options.model.poolSize, "--pool-size", in: 0...10_000)
        try GANChecks.memory(loadSize: options.data.loadSize, cropSize: options.data.cropSize, batchSize: options.batchSize, ngf: options.model.ngf)
        try self.init(config: options.model, rng: &rng)
    }

    public func trainStep(_ batch: Batch, rng: inout RNG) throws -> [Float] {
        guard let b = batch.target else {
            throw CLIError.invalidFlag(flag: "--dataset-mode", reason: "cyclegan needs two domains (unaligned trainA/ and trainB/)")
        }
        return try trainStep(realA: batch.input, realB: b, rng: &rng).values
    }

    public func reportImages(_ sample: Sample, mode: TestMode) throws -> [(String, Tensor)] {
        var out: [(String, Tensor)] = [("real_A", sample.input)]
        let fakeB = try netGA.translate(sample.input, mode: mode)
        out += [("fake_B", fakeB), ("rec_A", try netGB.translate(fakeB, mode: mode))]
        if let b = sample.target {
            let fakeA = try netGB.translate(b, mode: mode)
            out += [("real_B", b), ("fake_A", fakeA), ("rec_B", try netGA.translate(fakeA, mode: mode))]
        }
        return out
    }

    public var extraState: [(String, Tensor)] { (try? poolState) ?? [] }
    public func restoreExtraState(_ tensors: [String: Tensor]) throws { try restorePools(tensors) }
}

public struct TrainCycleGAN: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cyclegan",
        abstract: "Train CycleGAN (two generators, two PatchGANs) on unpaired images.",
        discussion: """
        --dataroot holds trainA/ and trainB/. Writes <checkpoints-dir>/<name>/ like pix2pix: \
        latest.safetensors, epoch_N.safetensors, loss_log.jsonl, config.json, images/, index.html. \
        --resume continues exactly (weights, Adam states, history buffers, random state).
        """)
    public init() {}

    @OptionGroup var common: TrainingFlags
    @Option(help: "Generator.") var netG = CycleGANGeneratorArch.resnet9
    @Option(help: "Normalisation layers.") var norm = Norm.instance
    @Flag(help: "Dropout in the generators (off by default, as the reference's CycleGAN).") var dropout = false
    @Option(help: "GAN objective.") var ganMode = GANMode.lsgan
    @Option(help: "Weight of the A -> B -> A cycle loss.") var lambdaA: Float = 10
    @Option(help: "Weight of the B -> A -> B cycle loss.") var lambdaB: Float = 10
    @Option(help: "Identity loss weight, relative to lambda A/B (0 disables it).") var lambdaIdentity: Float = 0.5
    @Option(help: "Fakes kept in each history buffer for the discriminator updates.") var poolSize = 50
    @Flag(help: "Take B images in order instead of at random.") var serialBatches = false

    public func validate() throws {
        if poolSize < 0 { throw ValidationError("--pool-size must be at least 0, got \(poolSize)") }
        if lambdaIdentity < 0 { throw ValidationError("--lambda-identity must be at least 0, got \(lambdaIdentity)") }
    }

    public var trainOptions: CycleGANTrainOptions {
        var o = CycleGANTrainOptions(dataroot: common.dataroot, name: common.name)
        common.fillRun(&o)
        common.fill(&o.model)
        o.model.netG = netG; o.model.norm = norm; o.model.dropout = dropout; o.model.ganMode = ganMode
        o.model.lambdaA = lambdaA; o.model.lambdaB = lambdaB; o.model.lambdaIdentity = lambdaIdentity; o.model.poolSize = poolSize
        o.data = common.dataOptions(mode: .unaligned)
        o.data.serialB = serialBatches
        return o
    }

    public func run() throws {
        let defaults = try Self.parse(["--dataroot", common.dataroot, "--name", common.name]).trainOptions
        let t = try CycleGANTrainer(options: trainOptions, resume: common.resume, defaults: defaults)
        try runTraining(t, quiet: common.quiet, resume: common.resume, saveLatestFreq: common.saveLatestFreq, command: "cyclegan",
                        describe: "training cyclegan on \(t.dataset.count) items per epoch; each G \(t.model.netGA.parameterCount) parameters, each D \(t.model.netDA.parameterCount)")
    }
}
