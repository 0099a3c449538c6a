// The template of a new method (the reference's template_model.py): a generator trained by
// L1 regression alone, complete and tested (TemplateMethodTests trains it). To add a method:
// copy this folder to Sources/Pipelines/<Name>/, rename the types, add a case to `Method`
// (Sources/Pipelines/Registry/ModelFile.swift) and its translator to `ModelFile.translator`
// (Registry/Translator.swift), and a `train <name>` command that declares only the method's
// own flags (the run, preprocessing and layout flags exist: RunFlags, PreprocessFlags,
// LayoutFlags). docs/ARCHITECTURE.md says the rest.
import Foundation
import Tensors
import NN
import Datasets
@testable import Pipelines

/// 1. The method's options: the network and its recipe. Stored in every checkpoint's
///    `config`, so defaults must decode from older files (decodeIfPresent).
struct TemplateConfig: Codable, Equatable {
    var netG = GeneratorArch.unet32
    var inputNc = 3, outputNc = 3
    var ngf = 8
    var lr: Float = 0.0002
    var beta1: Float = 0.5
    /// The networks factory builds it (Pipelines/Networks/Factory.swift).
    var generator: GeneratorSpec { GeneratorSpec(arch: netG, inputNc: inputNc, outputNc: outputNc, ngf: ngf, norm: .instance, dropout: false) }
}

/// 2. The run options: every field the trainer needs (`TrainingRunOptions`), the method's
///    config, and the data of its task (`DataOptions`: pairs, colorization, layouts).
struct TemplateTrainOptions: TrainingRunOptions {
    var dataroot: String
    var phase = "train"
    var name: String
    var checkpointsDir = "models"
    var model = TemplateConfig()
    var data = DataOptions(mode: .auto)
    var batchSize = 1
    var epochs = 1
    var epochsDecay = 0
    var lrPolicy = LRPolicy.linear
    var lrDecayIters = 50
    var seed: UInt64 = 0
    var saveEpochFreq = 5
    var maxItems: Int?
    var samples = 1
    var testMode = TestMode.eval

    var baseLR: Float { model.lr }
    var channels: (input: Int, output: Int) { (model.inputNc, model.outputNc) }

    /// The method's own checks, errors naming the flag; the command and the trainer call
    /// them through `validate()` after the checks every run shares.
    func validateMethod() throws {
        try GANChecks.int(model.ngf, "--ngf", in: 1...1024)
        try GANChecks.finite(model.beta1, "--beta1", in: 0...0.9999)
    }
}

/// 3. The model: its networks and optimisers (named: checkpoints use the names), one
///    training step, the report's images. Resume, progress, loss log, pages, signals and
///    thread-count-independent bits come from the trainer (`GANTrainer<TemplateModel>`).
final class TemplateModel: TrainableModel {
    typealias Options = TemplateTrainOptions
    static var method: Method { .pix2pix }  // a new method returns its own case
    static var lossNames: [String] { ["L1"] }
    let netG: Module
    let optG: Adam

    init(options: TemplateTrainOptions, rng: inout RNG) throws {
        netG = try options.model.generator.make(rng: &rng)
        optG = Adam(netG.namedParameters(), lr: options.model.lr, betas: (options.model.beta1, 0.999))
    }

    var modules: [(String, Module)] { [("netG", netG)] }
    var optimizers: [(String, Adam)] { [("G", optG)] }
    func setLearningRate(_ lr: Float) { optG.lr = lr }
    var extraState: [(String, Tensor)] { [] }
    func restoreExtraState(_ tensors: [String: Tensor]) throws {}

    func trainStep(_ batch: Batch, rng: inout RNG) throws -> [Float] {
        guard let target = batch.target else { throw TranslateError.invalidFlag(flag: "--dataroot", reason: "this method needs pairs") }
        netG.train()
        optG.zeroGrad()
        let loss = try l1Loss(try netG(batch.input), target)
        try loss.backward()
        optG.step()
        optG.zeroGrad(setToNone: true)
        return [loss.item]
    }

    func reportImages(_ sample: Sample, mode: TestMode) throws -> [(String, Tensor)] {
        [("input", sample.input), ("output", try netG.translate(sample.input, mode: mode))] + (sample.target.map { [("target", $0)] } ?? [])
    }
}
