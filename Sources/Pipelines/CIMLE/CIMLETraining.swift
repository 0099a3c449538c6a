import Foundation
import Tensors
import NN
import ImageIO
import Datasets
import Perceptual

/// Data settings of cIMLE super-resolution (the other tasks' live in `DataOptions`).
public struct CIMLEData: Codable, Equatable {
    /// Super-resolution: side of the high-resolution training patches.
    public var patchSize = 64
    /// Super-resolution: crops whose detail (`SuperResolution.detail`) is below this are
    /// drawn again (at most `SuperResolution.detailTries` crops, the most detailed kept); 0
    /// keeps every crop.
    public var minPatchDetail: Float = 0
    public init() {}
    enum CodingKeys: String, CodingKey { case patchSize, minPatchDetail }
    /// Checkpoints written before `minPatchDetail` existed decode with its default.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? 64
        minPatchDetail = try c.decodeIfPresent(Float.self, forKey: .minPatchDetail) ?? 0
    }
}

/// Everything a cIMLE training run is made of; stored in every checkpoint (`config`).
/// An "epoch" is one round: a fresh pool, code selection, then `visits` passes over the pool.
public struct CIMLETrainOptions: TrainingRunOptions {
    public var dataroot: String
    public var phase = "train"
    public var name: String
    public var checkpointsDir = "models"
    public var model: CIMLEConfig
    public var cimleData = CIMLEData()
    /// The data of the task: pairs (translation), photos (colorization), labels and photos
    /// (layout), or single high-resolution images (super-resolution, cut into patches).
    public var data = DataOptions(mode: .single, preprocess: .none, flip: false)
    public var batchSize = 8
    public var epochs = 20
    public var epochsDecay = 0
    public var lrPolicy = LRPolicy.constant
    public var lrDecayIters = 50
    public var seed: UInt64 = 0
    public var saveEpochFreq = 5
    public var maxItems: Int?
    public var samples = 4
    public var testMode = TestMode.eval

    public init(dataroot: String, name: String, model: CIMLEConfig) { self.dataroot = dataroot; self.name = name; self.model = model }

    /// The layout task's data: class ids beside photos (single mode) or palette maps in
    /// aligned files (`direction` b-to-a when the labels are the right half, as facades).
    public mutating func setLayout(_ l: LayoutOptions, direction: Direction = .bToA, flip: Bool = true) {
        var d = DataOptions(mode: l.labelFormat == .ids ? .single : .aligned, direction: direction, preprocess: .none, flip: flip)
        d.layout = l
        data = d.with(task: .layout)
    }

    public var baseLR: Float { model.lr }
    public var channels: (input: Int, output: Int) {
        model.task.upsamples ? (3, 3) : (model.inputNc, model.outputNc)
    }

    private enum CodingKeys: String, CodingKey {
        case dataroot, phase, name, checkpointsDir, model, cimleData, data, batchSize, epochs, epochsDecay, lrPolicy, lrDecayIters
        case seed, saveEpochFreq, maxItems, samples, testMode
    }

    /// Layout models written before the layout task moved into `DataOptions` kept its
    /// settings (label format, classes, working size, palette, flip) in `cimleData`: they are
    /// read from there into `data.layout`, so those files load and sample as before.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dataroot = try c.decode(String.self, forKey: .dataroot)
        name = try c.decode(String.self, forKey: .name)
        model = try c.decode(CIMLEConfig.self, forKey: .model)
        phase = try c.decodeIfPresent(String.self, forKey: .phase) ?? phase
        checkpointsDir = try c.decodeIfPresent(String.self, forKey: .checkpointsDir) ?? checkpointsDir
        cimleData = try c.decodeIfPresent(CIMLEData.self, forKey: .cimleData) ?? cimleData
        data = try c.decodeIfPresent(DataOptions.self, forKey: .data) ?? data
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? epochs
        epochsDecay = try c.decodeIfPresent(Int.self, forKey: .epochsDecay) ?? epochsDecay
        lrPolicy = try c.decodeIfPresent(LRPolicy.self, forKey: .lrPolicy) ?? lrPolicy
        lrDecayIters = try c.decodeIfPresent(Int.self, forKey: .lrDecayIters) ?? lrDecayIters
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        saveEpochFreq = try c.decodeIfPresent(Int.self, forKey: .saveEpochFreq) ?? saveEpochFreq
        maxItems = try c.decodeIfPresent(Int.self, forKey: .maxItems)
        samples = try c.decodeIfPresent(Int.self, forKey: .samples) ?? samples
        testMode = try c.decodeIfPresent(TestMode.self, forKey: .testMode) ?? testMode
        if model.task == .image(.layout) && data.task != .layout {
            struct Legacy: Decodable { var flip: Bool? }
            data.layout = try c.decodeIfPresent(LayoutOptions.self, forKey: .cimleData) ?? LayoutOptions()
            data.flip = try c.decodeIfPresent(Legacy.self, forKey: .cimleData)?.flip ?? true
            data.task = .layout
            data.inputNc = model.inputNc
            data.outputNc = 3
        }
    }
}

extension CIMLETrainOptions {
    /// The generator's geometry against the task's data; errors name the flag.
    public func validateMethod() throws {
        try model.validate()
        let m = 1 << (model.levels - 1)
        if let task = model.task.imageTask {
            guard data.task == task else {
                throw TranslateError.invalidFlag(flag: "--task", reason: "a cIMLE \(model.task.rawValue) model needs \(task.rawValue) data, got \(data.task.rawValue)")
            }
            let size = task.definition.workingSize(data)
            if size.width % m != 0 || size.height % m != 0 {
                throw TranslateError.invalidFlag(flag: size.flag, reason: "\(size.width)x\(size.height) must be divisible by \(m) for \(model.levels) levels")
            }
        } else if cimleData.patchSize % model.scale != 0 || cimleData.patchSize < 32 {
            throw TranslateError.invalidFlag(flag: "--patch-size", reason: "must be at least 32 and a multiple of --scale \(model.scale), got \(cimleData.patchSize)")
        } else if !(cimleData.minPatchDetail >= 0 && cimleData.minPatchDetail < 1) {
            throw TranslateError.invalidFlag(flag: "--min-patch-detail", reason: "must be in [0, 1), got \(cimleData.minPatchDetail)")
        }
    }
}

public typealias CIMLETrainer = GANTrainer<CIMLEModel>

/// The cIMLE pipelines as a trainable model: pool rounds with code selection, report samples.
public final class CIMLEModel: TrainableModel {
    public typealias Options = CIMLETrainOptions
    public static var method: Method { .cimle }
    public static var lossNames: [String] { CIMLE.lossNames }
    public let options: CIMLETrainOptions
    public let cimle: CIMLE
    var pool: [CIMLE.PoolItem] = []

    public init(options: CIMLETrainOptions, rng: inout RNG) throws {
        try options.validateMethod()
        let lp: LPIPS? = options.model.lpipsWeight > 0 ? try LPIPS.shipped() : nil
        self.options = options
        cimle = try CIMLE(config: options.model, lpips: lp, rng: &rng)
    }

    public var modules: [(String, Module)] { [("netG", cimle.netG)] }
    public var optimizers: [(String, Adam)] { [("G", cimle.optimizer)] }
    public func setLearningRate(_ lr: Float) { cimle.optimizer.lr = lr }
    public var extraState: [(String, Tensor)] { [] }
    public func restoreExtraState(_ tensors: [String: Tensor]) throws {}
    public var fixedReportColumns: Set<String> { ["input", "target", "bicubic"] }

    // MARK: data

    func poolItem(_ dataset: ImageDataset, rng: inout RNG) throws -> CIMLE.PoolItem {
        let i = rng.nextInt(dataset.count)
        guard options.model.task.upsamples else {
            // The task's sample: its preprocessing (resize, crop, flip) with this round's generator.
            let s = try dataset.sample(i, rng: &rng)
            guard let y = s.target else { throw TranslateError.io(path: s.inputPath, reason: "no target for this input") }
            return CIMLE.PoolItem(x: s.input, y: y)
        }
        let s = try dataset.load(i)
        let p = try SuperResolution.trainingPair(try Image(tensor: s.input), patch: options.cimleData.patchSize, scale: options.model.scale, minDetail: options.cimleData.minPatchDetail, rng: &rng)
        return CIMLE.PoolItem(x: p.x, y: p.y)
    }

    /// With N ranks a round's batches are N x `batchSize` pool items, each rank taking its
    /// shard of every batch (the trainer's per-rank step count).
    public func customEpochLength(dataset: ImageDataset, batchSize: Int) -> Int? {
        let global = batchSize * Distribution.current.size
        return (options.model.visits * options.model.poolSize + global - 1) / global
    }

    public func customEpoch(_ epoch: Int, dataset: ImageDataset, batchSize: Int, rng: inout RNG, showProgress: Bool) throws -> EpochPlan? {
        let n = options.model.poolSize
        var items: [CIMLE.PoolItem] = []
        for _ in 0..<n { items.append(try poolItem(dataset, rng: &rng)) }
        let bar = ProgressBar(totalSteps: n)
        bar.label = "round \(epoch + 1): choosing codes"
        bar.enabled = showProgress
        let perItem = options.model.selection == .flat ? options.model.candidates : options.model.levelCandidates.reduce(0, +)
        let comm = Distribution.current
        if comm.size > 1 {
            try cimle.selectCodes(&items, rng: &rng, over: comm) { done in
                bar.update(epoch: epoch + 1, epochs: 1, step: done, steps: n, images: perItem * comm.size, losses: [])
            }
        } else {
            try cimle.selectCodes(&items, rng: &rng) { done in
                bar.update(epoch: epoch + 1, epochs: 1, step: done, steps: n, images: perItem, losses: [])
            }
        }
        pool = items
        // Every rank draws the same pool, codes and global batches (the shared generator);
        // rank r trains on positions r, r + N, ... of each.
        let batches = cimle.roundBatches(poolCount: n, batchSize: batchSize * comm.size, rng: &rng)
            .map { Distribution.shard($0, rank: comm.rank, size: comm.size) }
        var k = 0
        return EpochPlan(count: batches.count) { [unowned self] in
            guard k < batches.count else { return nil }
            let b = batches[k]; k += 1
            return Batch(input: try cat(b.map { self.pool[$0].x }, dim: 0), target: nil, paths: [], indices: b)
        }
    }

    public func trainStep(_ batch: Batch, rng: inout RNG) throws -> [Float] {
        try cimle.trainStep(pool: pool, indices: batch.indices)
    }

    /// Report: the input, three samples (fixed codes per item) and the target.
    public func reportImages(_ sample: Sample, mode: TestMode) throws -> [(String, Tensor)] {
        // Fixed codes, so that the report's epochs are comparable; training's RNG is untouched.
        var r = RNG(seed: 0x5a11)
        switch options.model.task {
        case .superResolution:
            let s = options.model.scale
            let (lr, crop) = try SuperResolution.centredPair(try Image(tensor: sample.input), side: 128, scale: s)
            let side = crop.width
            let outs = try cimle.samples(lr.tensor(), count: 3, rng: &r)
            return [("input", lr.tensor()), ("bicubic", lr.resized(width: side, height: side, filter: .bicubic).tensor())]
                + outs.enumerated().map { ("sample\($0.offset)", $0.element) } + [("target", crop.tensor())]
        case .image(let task):
            // The task's sample at its working size (layouts have it; images are resized to the
            // crop size); the trainer shows it as the task does.
            var (x, y) = (sample.input, sample.target)
            if task.definition.resizes {
                let c = options.data.cropSize
                (x, y) = try withNoGrad { (try resizeBilinear(x, height: c, width: c), try y.map { try resizeBilinear($0, height: c, width: c) }) }
            }
            let outs = try cimle.samples(x, count: 3, rng: &r)
            return [("input", x)] + outs.enumerated().map { ("sample\($0.offset)", $0.element) } + (y.map { [("target", $0)] } ?? [])
        }
    }
}
