import ArgumentParser
import Foundation
import Tensors
import NN
import Datasets
import Pipelines


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
    @Option(help: "Generator.") var netG = GeneratorArch.resnet9
    @Option(help: "Normalisation layers.") var norm = Norm.instance
    @Flag(help: "Dropout in the generators (off by default, as the reference's CycleGAN).") var dropout = false
    @Option(help: "GAN objective (wgangp: Wasserstein critic with gradient penalty; needs --norm instance or none).") var ganMode = GANMode.lsgan
    @OptionGroup var penalty: GANPenaltyFlags
    @Option(help: "Weight of the A -> B -> A cycle loss.") var lambdaA: Float = 10
    @Option(help: "Weight of the B -> A -> B cycle loss.") var lambdaB: Float = 10
    @Option(help: "Identity loss weight, relative to lambda A/B (0 disables it).") var lambdaIdentity: Float = 0.5
    @Option(help: "Fakes kept in each history buffer for the discriminator updates.") var poolSize = 50
    @Flag(help: "Take B images in order instead of at random.") var serialBatches = false

    public func validate() throws { try trainOptions.validate() }

    public var trainOptions: CycleGANTrainOptions {
        var o = CycleGANTrainOptions(dataroot: common.dataroot, name: common.name)
        common.fillRun(&o)
        common.fill(&o.model)
        o.model.netG = netG; o.model.norm = norm; o.model.dropout = dropout; o.model.ganMode = ganMode
        o.model.lambdaA = lambdaA; o.model.lambdaB = lambdaB; o.model.lambdaIdentity = lambdaIdentity; o.model.poolSize = poolSize
        o.model.penalties = penalty.penalties
        o.data = common.dataOptions(mode: .unaligned)
        o.data.serialB = serialBatches
        return o
    }

    public func run() throws {
        let defaults = try Self.parse(["--dataroot", common.dataroot, "--name", common.name]).trainOptions
        let t = try CycleGANTrainer(options: trainOptions, resume: common.resume, defaults: defaults)
        try runTraining(t, flags: common.run, saveLatestFreq: common.saveLatestFreq, command: "cyclegan",
                        describe: "training cyclegan on \(t.dataset.count) items per epoch; each G \(t.model.netGA.parameterCount) parameters, each D \(t.model.netDA.parameterCount)")
    }
}
