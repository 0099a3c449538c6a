import ArgumentParser
import Foundation
import Tensors
import NN
import Datasets
import Pipelines

extension CycleGANGeneratorArch: ExpressibleByArgument {}

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
        if options.model.ngf < 1 { throw CLIError.invalidFlag(flag: "--ngf", reason: "must be positive") }
        if options.model.ndf < 1 { throw CLIError.invalidFlag(flag: "--ndf", reason: "must be positive") }
        if options.model.poolSize < 0 { throw CLIError.invalidFlag(flag: "--pool-size", reason: "must be at least 0") }
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

    @Option(help: "Dataset folder with trainA/ and trainB/ (testA/, testB/ for evaluation).") var dataroot: String
    @Option(help: "Run name: the folder under --checkpoints-dir.") var name: String
    @Option(help: "Where runs are written.") var checkpointsDir = "models"
    @Option(help: "Phase folder prefix: <phase>A and <phase>B.") var phase = "train"
    @Option(help: "a-to-b: G_A translates A into B.") var direction = Direction.aToB
    @Option(help: "Generator.") var netG = CycleGANGeneratorArch.resnet9
    @Option(help: "Discriminator.") var netD = DiscriminatorArch.basic
    @Option(help: "Conv layers of the n-layers discriminator.") var nLayersD = 3
    @Option(help: "Generator filters in the first conv layer.") var ngf = 64
    @Option(help: "Discriminator filters in the first conv layer.") var ndf = 64
    @Option(help: "Normalisation layers.") var norm = Norm.instance
    @Flag(help: "Dropout in the generators (off by default, as the reference's CycleGAN).") var dropout = false
    @Option(help: "Generator upsampling.") var upsampling = Upsampling.transposed
    @Option(help: "GAN objective.") var ganMode = GANMode.lsgan
    @Option(help: "Weight of the A -> B -> A cycle loss.") var lambdaA: Float = 10
    @Option(help: "Weight of the B -> A -> B cycle loss.") var lambdaB: Float = 10
    @Option(help: "Identity loss weight, relative to lambda A/B (0 disables it).") var lambdaIdentity: Float = 0.5
    @Option(help: "Fakes kept in each history buffer for the discriminator updates.") var poolSize = 50
    @Option(help: "Initial Adam learning rate.") var lr: Float = 0.0002
    @Option(help: "Adam beta1.") var beta1: Float = 0.5
    @Option(help: "Epochs at the initial learning rate.") var epochs = 100
    @Option(help: "Epochs of linear decay to zero.") var epochsDecay = 100
    @Option(help: "Learning-rate policy.") var lrPolicy = LRPolicy.linear
    @Option(help: "Step policy: multiply the rate by 0.1 every this many epochs.") var lrDecayIters = 50
    @Option(help: "Images per step.") var batchSize = 1
    @Option(help: "Scale images to this size.") var loadSize = 286
    @Option(help: "Then crop to this size.") var cropSize = 256
    @Option(help: "Preprocessing.") var preprocess = Preprocess.resizeAndCrop
    @Flag(help: "No random horizontal flips.") var noFlip = false
    @Flag(help: "Take B images in order instead of at random.") var serialBatches = false
    @Option(help: "Channels of domain A (1 or 3).") var inputNc = 3
    @Option(help: "Channels of domain B (1 or 3).") var outputNc = 3
    @Option(help: "Weight initialisation.") var initType = InitType.normal
    @Option(help: "Scale of the initialisation.") var initGain: Float = 0.02
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Keep a numbered checkpoint every this many epochs.") var saveEpochFreq = 5
    @Option(help: "Use at most this many images per domain.") var maxItems: Int?
    @Option(help: "Samples shown per epoch in index.html.") var samples = 4
    @Flag(help: "Continue the run from its latest checkpoint.") var resume = false
    @Flag(help: "No progress bar.") var quiet = false

    public func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if cropSize < 1 || loadSize < 1 { throw ValidationError("--crop-size and --load-size must be positive") }
        if ![1, 3].contains(inputNc) { throw ValidationError("--input-nc must be 1 or 3, got \(inputNc)") }
        if ![1, 3].contains(outputNc) { throw ValidationError("--output-nc must be 1 or 3, got \(outputNc)") }
        if epochs < 0 || epochsDecay < 0 || epochs + epochsDecay < 1 { throw ValidationError("--epochs + --epochs-decay must be at least 1") }
        if lr <= 0 { throw ValidationError("--lr must be positive, got \(lr)") }
        if poolSize < 0 { throw ValidationError("--pool-size must be at least 0, got \(poolSize)") }
        if lambdaIdentity < 0 { throw ValidationError("--lambda-identity must be at least 0, got \(lambdaIdentity)") }
    }

    public var trainOptions: CycleGANTrainOptions {
        var o = CycleGANTrainOptions(dataroot: dataroot, name: name)
        o.checkpointsDir = checkpointsDir; o.phase = phase
        var m = CycleGANConfig()
        m.inputNc = inputNc; m.outputNc = outputNc; m.netG = netG; m.ngf = ngf; m.netD = netD; m.nLayersD = nLayersD; m.ndf = ndf
        m.norm = norm; m.dropout = dropout; m.upsampling = upsampling; m.ganMode = ganMode; m.lambdaA = lambdaA; m.lambdaB = lambdaB
        m.lambdaIdentity = lambdaIdentity; m.poolSize = poolSize; m.lr = lr; m.beta1 = beta1; m.initType = initType; m.initGain = initGain
        o.model = m
        var d = DataOptions(mode: .unaligned, direction: direction, preprocess: preprocess, loadSize: loadSize, cropSize: cropSize,
                            flip: !noFlip, inputNc: inputNc, outputNc: outputNc, maxItems: maxItems)
        d.serialB = serialBatches
        d.phase = phase
        o.data = d
        o.batchSize = batchSize; o.epochs = epochs; o.epochsDecay = epochsDecay; o.lrPolicy = lrPolicy; o.lrDecayIters = lrDecayIters
        o.seed = seed; o.saveEpochFreq = saveEpochFreq; o.maxItems = maxItems; o.samples = samples
        return o
    }

    public func run() throws {
        let trainer = try CycleGANTrainer(options: trainOptions, resume: resume)
        trainer.progressEnabled = !quiet
        if resume { stderrLine("resuming \(trainer.runDir.path) after epoch \(trainer.startEpoch) of \(trainer.options.totalEpochs)") }
        stderrLine("training cyclegan on \(trainer.dataset.count) items per epoch; each G \(trainer.model.netGA.parameterCount) parameters, each D \(trainer.model.netDA.parameterCount)")
        try trainer.run()
        print("done: \(trainer.runDir.path)/index.html")
    }
}
