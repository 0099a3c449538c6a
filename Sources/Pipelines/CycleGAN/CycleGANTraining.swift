import Foundation
import Tensors
import NN
import Datasets

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

extension CycleGANTrainOptions {
    public func validateMethod() throws {
        try GANChecks.common(model)
        try GANChecks.finite(model.lambdaA, "--lambda-a", in: 0...1e6)
        try GANChecks.finite(model.lambdaB, "--lambda-b", in: 0...1e6)
        try GANChecks.finite(model.lambdaIdentity, "--lambda-identity", in: 0...1e6)
        try GANChecks.int(model.poolSize, "--pool-size", in: 0...10_000)
        try GANChecks.penalties(model.penalties, mode: model.ganMode, norm: model.norm)
        try GANChecks.memory(loadSize: data.loadSize, cropSize: data.cropSize, batchSize: batchSize, ngf: model.ngf)
    }
}

public typealias CycleGANTrainer = GANTrainer<CycleGAN>

extension CycleGAN: TrainableModel {
    public static var method: Method { .cyclegan }
    public static var lossNames: [String] { Losses.names }
    public var lossNamesInUse: [String] { Losses.names(for: config) }

    public convenience init(options: CycleGANTrainOptions, rng: inout RNG) throws {
        try options.validateMethod()
        try self.init(config: options.model, rng: &rng)
    }

    public func trainStep(_ batch: Batch, rng: inout RNG) throws -> [Float] {
        guard let b = batch.target else {
            throw TranslateError.invalidFlag(flag: "--dataset-mode", reason: "cyclegan needs two domains (unaligned trainA/ and trainB/)")
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

    /// The history buffers; with `--n-critic` > 1 also the generators' last losses, which
    /// critic-only steps report, so that a resumed run logs what an uninterrupted one does.
    public var extraState: [(String, Tensor)] {
        poolState + ((config.penalties?.nCritic ?? 1) > 1 ? [(Self.lastGeneratorLossesKey, Tensor(vector: lastGeneratorLosses))] : [])
    }
    public func restoreExtraState(_ tensors: [String: Tensor]) throws {
        try restorePools(tensors)
        guard let t = tensors[Self.lastGeneratorLossesKey] else { return }
        guard t.shape == [lastGeneratorLosses.count] else {
            throw NetworkError.invalidOption("\(Self.lastGeneratorLossesKey): shape \(t.shape), expected [\(lastGeneratorLosses.count)]")
        }
        lastGeneratorLosses = t.data
    }
    static let lastGeneratorLossesKey = "last_generator_losses"
}
