import Foundation
import Tensors
import NN
import Datasets

/// Everything a BicycleGAN training run is made of; stored in every checkpoint (`config`).
/// Run defaults as the reference's: batch 2 (split in halves), 100 + 100 epochs with linear decay.
public struct BicycleGANTrainOptions: TrainingRunOptions {
    public var dataroot: String
    public var phase = "train"
    public var name: String
    public var checkpointsDir = "models"
    public var model = BicycleGANConfig()
    public var data = DataOptions(mode: .auto)
    public var batchSize = 2
    public var epochs = 100
    public var epochsDecay = 100
    public var lrPolicy = LRPolicy.linear
    public var lrDecayIters = 50
    public var seed: UInt64 = 0
    public var saveEpochFreq = 5
    public var maxItems: Int?
    public var samples = 4
    /// Test-time behaviour of the samples on the training page: the reference's test script
    /// calls `model.eval()` (no dropout; InstanceNorm has no running statistics).
    public var testMode = TestMode.eval

    public init(dataroot: String, name: String) { self.dataroot = dataroot; self.name = name }

    public var baseLR: Float { model.lr }
    public var channels: (input: Int, output: Int) { (model.inputNc, model.outputNc) }

    public func validateMethod() throws {
        let m = model
        try GANChecks.int(m.ngf, "--ngf", in: 1...1024)
        try GANChecks.int(m.nef, "--nef", in: 1...1024)
        try GANChecks.int(m.ndf, "--ndf", in: 2...1024)
        try GANChecks.int(m.nz, "--nz", in: 1...1024)
        try GANChecks.int(m.nLayersD, "--n-layers-d", in: 1...6)
        try GANChecks.int(m.numDs, "--num-ds", in: 1...4)
        try GANChecks.finite(m.lr, "--lr", in: 0...1, openLow: true)
        try GANChecks.finite(m.beta1, "--beta1", in: 0...0.9999)
        try GANChecks.finite(m.initGain, "--init-gain", in: 0...100, openLow: true)
        try GANChecks.finite(m.lambdaL1, "--lambda-l1", in: 0...1e6)
        try GANChecks.finite(m.lambdaKL, "--lambda-kl", in: 0...1e6)
        try GANChecks.finite(m.lambdaZ, "--lambda-z", in: 0...1e6)
        if m.ganMode == .wgangp {
            throw TranslateError.invalidFlag(flag: "--gan-mode", reason: "wgangp needs the gradient penalty, which BicycleGAN does not apply (only pix2pix and CycleGAN do), and a Wasserstein critic without it is unbounded; use vanilla or lsgan")
        }
        guard let downs = m.netG.numDowns else {
            throw TranslateError.invalidFlag(flag: "--net-g", reason: "BicycleGAN's generator is a U-Net (unet-256, unet-128, unet-64), got \(m.netG.rawValue)")
        }
        if m.whereAdd == .all && downs < 6 {
            throw TranslateError.invalidFlag(flag: "--net-g", reason: "--where-add all needs a U-Net of at least 6 levels (unet-64 or larger), got \(m.netG.rawValue)")
        }
        if batchSize < 2 || batchSize % 2 != 0 {
            throw TranslateError.invalidFlag(flag: "--batch-size", reason: "BicycleGAN splits each batch into an encoded and a random half, so it must be even and at least 2, got \(batchSize)")
        }
        // The encoder sees crops (and, at apply time, style images resized to the crop size).
        let side = data.cropSize
        if !m.netE.sides.contains(side) {
            let fitting = EncoderArch.allCases.first { $0.sides.contains(side) }
            throw TranslateError.invalidFlag(flag: "--net-e", reason: "\(m.netE.rawValue) encodes images of \(m.netE.sides.lowerBound) to \(m.netE.sides.upperBound) pixels a side, and --crop-size is \(side)" + (fitting.map { "; use --net-e \($0.rawValue)" } ?? "; use a --crop-size from 16 to 511"))
        }
        var probe = RNG(seed: 0)
        let d = try MultiscaleDiscriminator(inputNc: 1, ndf: m.ndf, nLayers: m.nLayersD, numD: m.numDs, initType: nil, rng: &probe)
        if side < d.minimumSide() {
            throw TranslateError.invalidFlag(flag: "--crop-size", reason: "\(m.numDs) discriminator scale(s) of \(m.nLayersD) layers need crops of at least \(d.minimumSide()) pixels, got \(side) (fewer --num-ds or --n-layers-d take smaller crops)")
        }
        try GANChecks.memory(loadSize: data.loadSize, cropSize: data.cropSize, batchSize: batchSize, ngf: m.ngf)
        if ![.auto, .aligned, .paired].contains(data.mode) || data.task != .translation {
            throw TranslateError.invalidFlag(flag: "--dataset-mode", reason: "BicycleGAN trains on image pairs (aligned or paired), got \(data.mode.rawValue) \(data.task.rawValue)")
        }
    }
}

public typealias BicycleGANTrainer = GANTrainer<BicycleGAN>

extension BicycleGAN: TrainableModel {
    public static var method: Method { .bicyclegan }
    public static var lossNames: [String] { Losses.names }
    public static var dropsPartialBatches: Bool { true }

    public convenience init(options: BicycleGANTrainOptions, rng: inout RNG) throws {
        try options.validateMethod()
        try self.init(config: options.model, rng: &rng)
    }

    public func trainStep(_ batch: Batch, rng: inout RNG) throws -> [Float] {
        guard let target = batch.target else {
            throw TranslateError.invalidFlag(flag: "--dataset-mode", reason: "BicycleGAN needs paired data (aligned or paired), got items without targets")
        }
        return try trainStep(input: batch.input, target: target, rng: &rng).values
    }

    /// The report: the input, its target, the reconstruction from the target's code
    /// (mean of E(target)) and two outputs from fixed random codes (the same for every
    /// sample and epoch, so a column follows one code through training).
    public func reportImages(_ sample: Sample, mode: TestMode) throws -> [(String, Tensor)] {
        var out: [(String, Tensor)] = [("input", sample.input)]
        if let t = sample.target {
            out.append(("target", t))
            out.append(("encoded", try generate(sample.input, z: try encode(t))))
        }
        var codes = RNG(seed: 0xB1C7)
        for k in 0..<2 {
            out.append(("random\(k)", try generate(sample.input, z: Tensor.randn([1, config.nz], rng: &codes))))
        }
        return out
    }

    public var extraState: [(String, Tensor)] { [] }
    public func restoreExtraState(_ tensors: [String: Tensor]) throws {}
}
