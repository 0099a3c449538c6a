import Foundation
import Tensors
import NN
import ImageIO
import Datasets
import Perceptual

/// Data settings of the cIMLE pipelines.
public struct CIMLEData: Codable, Equatable {
    /// Super-resolution: side of the high-resolution training patches.
    public var patchSize = 64
    /// Layout to image: how labels are stored, classes, the working size.
    public var labelFormat = LabelFormat.ids
    public var numClasses = 12
    public var width = 128, height = 96
    /// Palette format: one RGB colour per class, fitted on the training labels.
    public var palette: [[Int]] = []
    /// Class-id format: labels of `<phase>/x.jpg` are `<phase><suffix>/x.png` (CamVid: trainannot/).
    public var labelsSuffix = "annot"
    public var flip = true
    public init() {}
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

    public var baseLR: Float { model.lr }
    public var channels: (input: Int, output: Int) { (3, 3) }
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
        do { try options.model.validate() } catch { throw TranslateError.invalidFlag(flag: "--levels/--widths/--scale", reason: "\(error)") }
        if options.model.task == .layout {
            let d = options.cimleData, m = 1 << (options.model.levels - 1)
            if d.width % m != 0 || d.height % m != 0 {
                throw TranslateError.invalidFlag(flag: "--width/--height", reason: "\(d.width)x\(d.height) must be divisible by \(m) for \(options.model.levels) levels")
            }
        } else if options.cimleData.patchSize % options.model.scale != 0 || options.cimleData.patchSize < 32 {
            throw TranslateError.invalidFlag(flag: "--patch-size", reason: "must be at least 32 and a multiple of --scale \(options.model.scale), got \(options.cimleData.patchSize)")
        }
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

    /// A random high-resolution patch (random position and one of the 8 flips/rotations)
    /// and its bicubic downscale.
    static func srPair(_ hr: Image, patch p: Int, scale: Int, rng: inout RNG) throws -> (x: Tensor, y: Tensor) {
        var img = hr.converted(toChannels: 3)
        if img.width < p || img.height < p {
            let f = Double(p) / Double(min(img.width, img.height))
            img = img.resized(width: max(p, Int((Double(img.width) * f).rounded(.up))), height: max(p, Int((Double(img.height) * f).rounded(.up))))
        }
        let x0 = rng.nextInt(img.width - p + 1), y0 = rng.nextInt(img.height - p + 1)
        var patch = try img.cropped(x: x0, y: y0, width: p, height: p)
        let t = rng.nextInt(8)
        if t & 1 != 0 { patch = patch.flippedHorizontally() }
        if t & 2 != 0 { patch = patch.flippedVertically() }
        if t & 4 != 0 { patch = patch.transposed() }
        return (patch.resized(width: p / scale, height: p / scale, filter: .bicubic).tensor(), patch.tensor())
    }

    /// The label file of a class-id layout dataset for a photo.
    static func labelURL(photo: String, suffix: String) -> URL {
        let u = URL(fileURLWithPath: photo)
        let dir = u.deletingLastPathComponent()
        return dir.deletingLastPathComponent().appendingPathComponent(dir.lastPathComponent + suffix)
            .appendingPathComponent(u.deletingPathExtension().lastPathComponent + ".png")
    }

    /// Class ids (at the working size) and the photo (at the working size) of a loaded sample.
    public static func layoutPair(_ s: Sample, _ d: CIMLEData) throws -> (ids: [Int], photo: Image) {
        let labelImg: Image, photo: Image, labelPath: String
        switch d.labelFormat {
        case .ids:
            let u = labelURL(photo: s.inputPath, suffix: d.labelsSuffix)
            labelImg = try ImageFile.read(u).image
            labelPath = u.path
            photo = try Image(tensor: s.input)
        case .palette:
            labelImg = try Image(tensor: s.input)
            labelPath = s.inputPath
            guard let t = s.target else { throw TranslateError.io(path: s.inputPath, reason: "no photo paired with this label map") }
            photo = try Image(tensor: t)
        }
        // A label map must cover its photo pixel for pixel; resizing both silently would pair
        // labels with the wrong places.
        guard labelImg.width == photo.width, labelImg.height == photo.height else {
            throw TranslateError.io(path: labelPath, reason: "label map is \(labelImg.width) x \(labelImg.height), but its photo \(s.inputPath) is \(photo.width) x \(photo.height); a label map must have its photo's size")
        }
        let ids = try LayoutCodec.ids(labelImg, format: d.labelFormat, numClasses: d.numClasses, palette: d.palette, path: labelPath)
        let small = try LayoutCodec.resize(ids, width: labelImg.width, height: labelImg.height, toWidth: d.width, toHeight: d.height)
        return (small, photo.converted(toChannels: 3).resized(width: d.width, height: d.height, filter: .bicubic))
    }

    func poolItem(_ dataset: ImageDataset, rng: inout RNG) throws -> CIMLE.PoolItem {
        let i = rng.nextInt(dataset.count)
        let s = try dataset.load(i)
        switch options.model.task {
        case .superResolution:
            let p = try Self.srPair(try Image(tensor: s.input), patch: options.cimleData.patchSize, scale: options.model.scale, rng: &rng)
            return CIMLE.PoolItem(x: p.x, y: p.y)
        case .layout:
            let d = options.cimleData
            var (ids, photo) = try Self.layoutPair(s, d)
            if d.flip && rng.nextInt(2) == 1 {
                photo = photo.flippedHorizontally()
                ids = (0..<ids.count).map { ids[($0 / d.width) * d.width + d.width - 1 - $0 % d.width] }
            }
            return CIMLE.PoolItem(x: try LayoutCodec.oneHot(ids, width: d.width, height: d.height, numClasses: d.numClasses), y: photo.tensor())
        }
    }

    public func customEpochLength(dataset: ImageDataset, batchSize: Int) -> Int? {
        (options.model.visits * options.model.poolSize + batchSize - 1) / batchSize
    }

    public func customEpoch(_ epoch: Int, dataset: ImageDataset, batchSize: Int, rng: inout RNG, showProgress: Bool) throws -> EpochPlan? {
        let n = options.model.poolSize
        var items: [CIMLE.PoolItem] = []
        for _ in 0..<n { items.append(try poolItem(dataset, rng: &rng)) }
        let bar = ProgressBar(totalSteps: n)
        bar.label = "round \(epoch + 1): choosing codes"
        bar.enabled = showProgress
        let perItem = options.model.selection == .flat ? options.model.candidates : options.model.levelCandidates.reduce(0, +)
        try cimle.selectCodes(&items, rng: &rng) { done in
            bar.update(epoch: epoch + 1, epochs: 1, step: done, steps: n, images: perItem, losses: [])
        }
        pool = items
        let batches = cimle.roundBatches(poolCount: n, batchSize: batchSize, rng: &rng)
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
            let hr = try Image(tensor: sample.input).converted(toChannels: 3)
            let side = min(128, hr.width, hr.height) / s * s
            let crop = try hr.cropped(x: (hr.width - side) / 2, y: (hr.height - side) / 2, width: side, height: side)
            let lr = crop.resized(width: side / s, height: side / s, filter: .bicubic)
            let outs = try cimle.samples(lr.tensor(), count: 3, rng: &r)
            return [("input", lr.tensor()), ("bicubic", lr.resized(width: side, height: side, filter: .bicubic).tensor())]
                + outs.enumerated().map { ("sample\($0.offset)", $0.element) } + [("target", crop.tensor())]
        case .layout:
            let d = options.cimleData
            let (ids, photo) = try Self.layoutPair(sample, d)
            let outs = try cimle.samples(try LayoutCodec.oneHot(ids, width: d.width, height: d.height, numClasses: d.numClasses), count: 3, rng: &r)
            return [("input", try LayoutCodec.colorize(ids, width: d.width, height: d.height, palette: d.palette, numClasses: d.numClasses).tensor())]
                + outs.enumerated().map { ("sample\($0.offset)", $0.element) } + [("target", photo.tensor())]
        }
    }
}
