import ArgumentParser
import Foundation
import NN
import Datasets
import Pipelines

/// Flags shared by `train pix2pix` and `train cyclegan`, with the reference's defaults.
public struct TrainingFlags: ParsableArguments {
    public init() {}
    @OptionGroup var run: RunFlags
    @Option(help: "a-to-b translates A into B.") var direction = Direction.aToB
    @Option(help: "Discriminator.") var netD = DiscriminatorArch.basic
    @Option(help: "Conv layers of the n-layers discriminator.") var nLayersD = 3
    @Option(help: "Generator filters in the first conv layer.") var ngf = 64
    @Option(help: "Discriminator filters in the first conv layer.") var ndf = 64
    @Option(help: "Generator upsampling: transposed conv, or resize-conv against checkerboard artifacts.") var upsampling = Upsampling.transposed
    @OptionGroup var schedule: ScheduleFlags
    @Option(help: "Images per step (per rank under mpirun: N ranks step on N x this many; the learning rate is not scaled).") var batchSize = 1
    @OptionGroup var preprocessing: PreprocessFlags
    @Option(help: "Input (domain A) channels, 1 or 3.") var inputNc = 3
    @Option(help: "Output (domain B) channels, 1 or 3.") var outputNc = 3
    @Option(help: "Weight initialisation.") var initType = InitType.normal
    @Option(help: "Scale of the initialisation.") var initGain: Float = 0.02
    @Option(help: "Also write latest.safetensors every this many steps within an epoch (0: only at the end of epochs); Ctrl-C always writes one.") var saveLatestFreq = 5000

    /// The options these flags make are checked by the command with the trainer's own
    /// check (`TrainingRunOptions.validate`); only what is not an option is checked here.
    public func validate() throws {
        if saveLatestFreq < 0 { throw ValidationError("--save-latest-freq must not be negative, got \(saveLatestFreq)") }
    }

    /// The model settings these flags set.
    func fill<C: GANConfigCommon>(_ c: inout C) {
        c.inputNc = inputNc; c.outputNc = outputNc; c.ngf = ngf; c.ndf = ndf; c.netD = netD; c.nLayersD = nLayersD
        c.upsampling = upsampling; c.lr = schedule.lr; c.beta1 = schedule.beta1; c.initType = initType; c.initGain = initGain
    }

    /// The data options these flags set, for `mode`.
    func dataOptions(mode: DatasetMode) -> DataOptions {
        var d = preprocessing.dataOptions(mode: mode, direction: direction, inputNc: inputNc, outputNc: outputNc)
        d.maxItems = maxItems
        d.phase = phase
        return d
    }

    /// The run settings these flags set.
    func fillRun<O: TrainingRunOptions>(_ o: inout O) {
        run.fill(&o)
        schedule.fill(&o)
        o.batchSize = batchSize
    }

    var dataroot: String { run.dataroot }
    var name: String { run.name }
    var phase: String { run.phase }
    var maxItems: Int? { run.maxItems }
    var resume: Bool { run.resume }
    var quiet: Bool { run.quiet }
}

/// The GAN optimisers' Adam settings and learning-rate schedule (pix2pix, CycleGAN, BicycleGAN).
public struct ScheduleFlags: ParsableArguments {
    public init() {}
    @Option(help: "Initial Adam learning rate.") var lr: Float = 0.0002
    @Option(help: "Adam beta1.") var beta1: Float = 0.5
    @Option(help: "Epochs at the initial learning rate.") var epochs = 100
    @Option(help: "Epochs of linear decay to zero (linear policy).") var epochsDecay = 100
    @Option(help: "Learning-rate policy.") var lrPolicy = LRPolicy.linear
    @Option(help: "Step policy: multiply the rate by 0.1 every this many epochs.") var lrDecayIters = 50

    /// The schedule of a run (the learning rate and beta1 live in each model's config).
    func fill<O: TrainingRunOptions>(_ o: inout O) {
        o.epochs = epochs; o.epochsDecay = epochsDecay; o.lrPolicy = lrPolicy; o.lrDecayIters = lrDecayIters
    }
}

/// The reference's preprocessing of training images, for every method that reads images
/// (pix2pix, CycleGAN, colorization, cIMLE on pairs and photos).
public struct PreprocessFlags: ParsableArguments {
    public init() {}
    @Option(help: "Scale images to this size (resize-and-crop, scale-width...).") var loadSize = 286
    @Option(help: "Then crop to this size.") var cropSize = 256
    @Option(help: "Preprocessing.") var preprocess = Preprocess.resizeAndCrop
    @Flag(help: "No random horizontal flips.") var noFlip = false

    func dataOptions(mode: DatasetMode, direction: Direction, inputNc: Int, outputNc: Int) -> DataOptions {
        DataOptions(mode: mode, direction: direction, preprocess: preprocess, loadSize: loadSize, cropSize: cropSize,
                    flip: !noFlip, inputNc: inputNc, outputNc: outputNc)
    }
}

/// What every training command takes: the data, the run folder, the seed, checkpoints,
/// samples, resume and progress. Declared once; each method adds its own flags.
public struct RunFlags: ParsableArguments {
    public init() {}
    @Option(help: "Dataset folder (pix2pix and cIMLE pairs: a <phase>/ split or the folder itself, aligned [A|B] files or A/ and B/ folders; cyclegan: <phase>A/ and <phase>B/; layouts, colorization, super-resolution: see the discussion).")
    var dataroot: String
    @Option(help: "Run name: the folder under --checkpoints-dir.") var name: String
    @Option(help: "Where runs are written.") var checkpointsDir = "models"
    @Option(help: "Phase: the <phase>/ split (or the <phase>A/ <phase>B/ prefix of unpaired data).") var phase = "train"
    @Option(help: "Random seed: the same seed and flags give the same bits.") var seed: UInt64 = 0
    @Option(help: "Keep a numbered checkpoint every this many epochs (cIMLE: rounds).") var saveEpochFreq = 5
    @Option(help: "Use at most this many training images (per domain).") var maxItems: Int?
    @Option(help: "Samples shown per epoch in index.html.") var samples = 4
    @Flag(help: "Continue the run in <checkpoints-dir>/<name> from its latest checkpoint (its saved configuration wins).") var resume = false
    @Flag(help: "No progress bar.") var quiet = false
    @Flag(help: "Under mpirun: after every epoch, compare a checksum of every rank's parameters and stop with an error naming the ranks that differ (a debugging aid; one all-gather per epoch).") var checkReplicas = false
    @Flag(name: .customLong("sync-bn"), help: "Under mpirun: BatchNorm layers normalise over the batches of all ranks together (as PyTorch's SyncBatchNorm; three all-reduces per layer and step), so that N ranks x --batch-size train as one process with N x the batch. Without it each rank uses its own batch's statistics (as DDP). Needs --norm batch.") var syncBN = false
    @Option(help: "Stop after this many minutes of training (a cluster job's limit, or equal wall time for a comparison): the step running at the limit completes, latest.safetensors is written, exit status 0; --resume continues. cIMLE stops at the end of the round running at the limit.") var timeLimit: Double?

    public func validate() throws {
        if let t = timeLimit, !(t > 0 && t <= 1e7) { throw ValidationError("--time-limit must be a positive number of minutes, got \(t)") }
    }

    func fill<O: TrainingRunOptions>(_ o: inout O) {
        o.checkpointsDir = checkpointsDir; o.phase = phase
        o.seed = seed; o.saveEpochFreq = saveEpochFreq; o.maxItems = maxItems; o.samples = samples
    }
}

extension TrainingFlags {
    /// --input-nc / --output-nc given for a task that fixes its channels are refused.
    func refuseChannels(fixedBy task: ImageTask, layout: LayoutOptions? = nil) throws {
        var d = DataOptions(mode: .single)
        d.layout = layout
        guard let c = task.definition.fixedChannels(d), inputNc != 3 || outputNc != 3 else { return }
        throw ValidationError("--input-nc and --output-nc are fixed for \(task.title) (\(c.input) channel(s) in, \(c.output) out); leave them out")
    }
}
