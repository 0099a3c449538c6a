import ArgumentParser
import Foundation
import NN
import Datasets
import Pipelines

extension WhereAdd: ExpressibleByArgument {}
extension EncoderArch: ExpressibleByArgument {}

/// `translate train bicyclegan`: BicycleGAN on paired images, with the reference's defaults
/// (junyanz/BicycleGAN options). The run flags and preprocessing are pix2pix's.
public struct TrainBicycleGAN: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bicyclegan",
        abstract: "Train BicycleGAN (U-Net generator with a latent code, encoder, two PatchGANs) on paired images.",
        discussion: """
        Data as pix2pix: a <phase>/ split or the folder itself, aligned [A | B] files or A/ and B/ folders. \
        Each batch (even, default 2) is split in halves: the first is reconstructed from its target's \
        encoded code (L1, KL, GAN against D), the second half's targets are D2's real images for \
        outputs from random codes, whose codes the encoder must recover (latent L1, reaching G only). \
        Epochs whose last batch is smaller are cut there, as the reference. Writes \
        <checkpoints-dir>/<name>/ like pix2pix; --resume continues exactly. translate apply --samples, \
        --sync-z, --style and --interpolate draw from the trained model.
        """)
    public init() {}

    @OptionGroup var common: RunFlags
    @Option(help: "a-to-b translates A into B.") var direction = Direction.aToB
    @Option(help: "How pairs are stored: auto detects A/ + B/ folders (paired) or [A | B] images about twice as wide as high (aligned).") var datasetMode = DatasetMode.auto
    @OptionGroup var preprocessing: PreprocessFlags
    @Option(help: "Input (A) channels, 1 or 3.") var inputNc = 3
    @Option(help: "Output (B) channels, 1 or 3.") var outputNc = 3
    @Option(help: "Length of the latent code.") var nz = 8
    @Option(help: "Generator: a U-Net (unet-256, unet-128, unet-64).") var netG = GeneratorArch.unet256
    @Option(help: "Where the code enters the generator: every down-sampling level, or the input only.") var whereAdd = WhereAdd.all
    @Option(help: "Encoder: resnet-256 takes 256-511 pixel crops, resnet-128 128-255, resnet-64 64-127, resnet-32 32-63.") var netE = EncoderArch.resnet256
    @Option(help: "Generator filters in the first conv layer.") var ngf = 64
    @Option(help: "Encoder filters in the first conv layer.") var nef = 64
    @Option(help: "Discriminator filters in the first conv layer (the second scale has half).") var ndf = 64
    @Option(help: "Conv layers of each PatchGAN (basic_256_multi: 3, basic_128_multi: 2).") var nLayersD = 3
    @Option(help: "Scales of each discriminator.") var numDs = 2
    @Option(help: "Normalisation layers.") var norm = Norm.instance
    @Flag(help: "Dropout in the generator (off by default, as the reference).") var dropout = false
    @Option(help: "Generator upsampling: transposed conv, or resize-conv against checkerboard artifacts.") var upsampling = Upsampling.transposed
    @Option(help: "GAN objective (vanilla or lsgan; wgangp is pix2pix and CycleGAN only).") var ganMode = GANMode.lsgan
    @Option(help: "Weight of |G(A, E(B)) - B|.") var lambdaL1: Float = 10
    @Option(help: "Weight of the KL divergence of E(B) from N(0, I).") var lambdaKl: Float = 0.01
    @Option(help: "Weight of |E(G(A, z)) - z| (updates G only).") var lambdaZ: Float = 0.5
    @OptionGroup var schedule: ScheduleFlags
    @Option(help: "Images per step, even: the encoded half and the random half.") var batchSize = 2
    @Option(help: "Weight initialisation.") var initType = InitType.xavier
    @Option(help: "Scale of the initialisation.") var initGain: Float = 0.02
    @Option(help: "Also write latest.safetensors every this many steps within an epoch (0: only at the end of epochs); Ctrl-C always writes one.") var saveLatestFreq = 5000

    public func validate() throws {
        if saveLatestFreq < 0 { throw ValidationError("--save-latest-freq must not be negative, got \(saveLatestFreq)") }
        if ![.auto, .aligned, .paired].contains(datasetMode) {
            throw ValidationError("--dataset-mode must be auto, aligned or paired for BicycleGAN (it needs pairs), got \(datasetMode.rawValue)")
        }
        try trainOptions.validate()
    }

    public var trainOptions: BicycleGANTrainOptions {
        var o = BicycleGANTrainOptions(dataroot: common.dataroot, name: common.name)
        common.fill(&o)
        schedule.fill(&o)
        o.batchSize = batchSize
        var m = BicycleGANConfig()
        m.inputNc = inputNc; m.outputNc = outputNc; m.nz = nz; m.netG = netG; m.whereAdd = whereAdd; m.netE = netE
        m.ngf = ngf; m.nef = nef; m.ndf = ndf; m.nLayersD = nLayersD; m.numDs = numDs; m.norm = norm; m.dropout = dropout
        m.upsampling = upsampling; m.ganMode = ganMode; m.lambdaL1 = lambdaL1; m.lambdaKL = lambdaKl; m.lambdaZ = lambdaZ
        m.lr = schedule.lr; m.beta1 = schedule.beta1; m.initType = initType; m.initGain = initGain
        o.model = m
        var d = preprocessing.dataOptions(mode: datasetMode, direction: direction, inputNc: inputNc, outputNc: outputNc)
        d.maxItems = common.maxItems
        d.phase = common.phase
        o.data = d
        return o
    }

    public func run() throws {
        let defaults = try Self.parse(["--dataroot", common.dataroot, "--name", common.name]).trainOptions
        let t = try BicycleGANTrainer(options: trainOptions, resume: common.resume, defaults: defaults)
        let m = t.model
        try runTraining(t, flags: common, saveLatestFreq: saveLatestFreq, command: "bicyclegan",
                        describe: "training bicyclegan on \(t.dataset.count) pairs (\(t.options.data.direction.rawValue)); G \(m.netG.parameterCount) parameters (code of \(t.options.model.nz) added at \(t.options.model.whereAdd == .all ? "every level" : "the input")), E \(m.netE.parameterCount), D and D2 \(m.netD.parameterCount) each")
    }
}
