import Foundation
import Tensors
import NN
import Datasets

/// Everything a pix2pix training run is made of; stored in every checkpoint (`config`).
public struct Pix2PixTrainOptions: TrainingRunOptions {
    public var dataroot: String
    public var phase = "train"
    public var name: String
    public var checkpointsDir = "models"
    public var model = Pix2PixConfig()
    public var data = DataOptions(mode: .auto)
    public var batchSize = 1
    public var epochs = 100
    public var epochsDecay = 100
    public var lrPolicy = LRPolicy.linear
    public var lrDecayIters = 50
    public var seed: UInt64 = 0
    public var saveEpochFreq = 5
    public var maxItems: Int?
    public var samples = 4
    public var testMode = TestMode.paper

    public init(dataroot: String, name: String) { self.dataroot = dataroot; self.name = name }

    /// Trains on `task` (its settings, e.g. `data.layout`, already in `data`): the data
    /// options the task fixes, and the generator's channels to match.
    public mutating func setTask(_ task: ImageTask) {
        data = data.with(task: task)
        model.inputNc = data.inputNc
        model.outputNc = data.outputNc
    }

    public var baseLR: Float { model.lr }

    public func validateMethod() throws {
        try GANChecks.common(model)
        try GANChecks.finite(model.lambdaL1, "--lambda-l1", in: 0...1e6)
        try GANChecks.penalties(model.penalties, mode: model.ganMode, norm: model.norm)
        try GANChecks.memory(loadSize: data.loadSize, cropSize: data.cropSize, batchSize: batchSize, ngf: model.ngf)
        // auto is resolved by the trainer from the folders; the command may still hold it.
        if ![.auto, .aligned, .paired].contains(data.mode) && data.task == .translation {
            throw TranslateError.invalidFlag(flag: "--dataset-mode", reason: "pix2pix needs pairs: aligned or paired, got \(data.mode.rawValue)")
        }
    }
    public var channels: (input: Int, output: Int) { (model.inputNc, model.outputNc) }
}

public typealias Pix2PixTrainer = GANTrainer<Pix2Pix>

extension Pix2Pix: TrainableModel {
    public static var method: Method { .pix2pix }
    public static var lossNames: [String] { Losses.names }
    public var lossNamesInUse: [String] { Losses.names(for: config) }

    public convenience init(options: Pix2PixTrainOptions, rng: inout RNG) throws {
        try options.validateMethod()
        try self.init(config: options.model, rng: &rng)
    }

    public func trainStep(_ batch: Batch, rng: inout RNG) throws -> [Float] {
        guard let target = batch.target else {
            throw TranslateError.invalidFlag(flag: "--dataset-mode", reason: "pix2pix needs paired data (aligned or paired), got items without targets")
        }
        return try trainStep(input: batch.input, target: target, rng: &rng).values
    }

    public func reportImages(_ sample: Sample, mode: TestMode) throws -> [(String, Tensor)] {
        var out = [("input", sample.input), ("output", try netG.translate(sample.input, mode: mode))]
        if let t = sample.target { out.append(("target", t)) }
        return out
    }

    /// With `--n-critic` > 1: the generator's last losses, which critic-only steps report, so
    /// that a resumed run logs the same values as an uninterrupted one.
    public var extraState: [(String, Tensor)] {
        (config.penalties?.nCritic ?? 1) > 1 ? [(Self.lastGeneratorLossesKey, Tensor(vector: [lastGeneratorLosses.gan, lastGeneratorLosses.l1]))] : []
    }
    public func restoreExtraState(_ tensors: [String: Tensor]) throws {
        guard let t = tensors[Self.lastGeneratorLossesKey] else { return }
        guard t.shape == [2] else { throw NetworkError.invalidOption("\(Self.lastGeneratorLossesKey): shape \(t.shape), expected [2]") }
        let v = t.data
        lastGeneratorLosses = (v[0], v[1])
    }
    static let lastGeneratorLossesKey = "last_generator_losses"
}
