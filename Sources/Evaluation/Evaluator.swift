import Foundation
import Tensors
import NN
import ImageIO
import Perceptual

/// One evaluated input: its samples (one or more outputs for the same input) and, when the
/// split is paired, its target.
public struct EvalItem {
    public var name: String
    public var input: Image?
    public var target: Image?
    public var samples: [Image]
    /// Super-resolution: the low-resolution input, for the consistency check (each sample
    /// downscaled by `srScale` with bicubic, PSNR against it) and the bicubic baseline.
    public var lowRes: Image?
    public init(name: String, input: Image? = nil, target: Image? = nil, samples: [Image], lowRes: Image? = nil) {
        self.name = name; self.input = input; self.target = target; self.samples = samples; self.lowRes = lowRes
    }
}

public struct EvalConfig {
    /// Images are resized to nnSize x nnSize (bicubic) for comparisons across inputs
    /// (birthday test over the output set, nearest training neighbours).
    public var nnSize = 128
    /// A fixed duplicate threshold (LPIPS) instead of the calibrated one.
    public var duplicateThreshold: Float?
    /// Which quantile of the real-image near-duplicate distances becomes the threshold.
    public var thresholdQuantile = 0.5
    /// Super-resolution scale: adds PSNR on the Y channel with this border cropped.
    public var srScale: Int?
    public var ks = [1, 2, 5, 10, 20]
    /// Random batches per batch size in the birthday test.
    public var trials = 200
    public var seed: UInt64 = 0
    /// Which LPIPS (v0.1, or v0.0 as BicycleGAN's published diversity numbers) every
    /// LPIPS value of the report is.
    public var lpipsVersion: LPIPSVersion = .v0_1
    public init() {}
}

/// Everything measured for one input.
public struct ItemResult {
    public var name: String
    /// Per sample, against the target (empty without a target).
    public var l1: [Double] = [], mse: [Double] = [], psnr: [Double] = [], ssim: [Double] = [], lpips: [Double] = []
    public var psnrY: [Double] = []
    /// Super-resolution: PSNR (RGB, dB) of each sample's bicubic downscale against the input,
    /// and the PSNR-Y of plain bicubic upscaling.
    public var lrConsistency: [Double] = []
    public var bicubicPSNRY: Double?
    /// Diversity among this input's samples (nil for one sample).
    public var pairLPIPS: Double?, pairL1: Double?
    public var stdMean: Double?
    /// Super-resolution: the per-pixel std between samples of their high-frequency band.
    public var hfStdMean: Double?
    public var birthday: BirthdayTest.Curve?
    public var closest: (i: Int, j: Int, distance: Float)?
    /// LPIPS between every two samples of this input.
    public var withinDistances: [Float] = []
    public init(name: String) { self.name = name }
}

/// Statistics over the whole output set, filled in by `finish`.
public struct SetResult {
    public var acrossOutputs: BirthdayTest.Curve?
    public var acrossReals: BirthdayTest.Curve?
    /// Closest pairs among the outputs (indices into the items) and among the real images.
    public var closestOutputs: [(i: Int, j: Int, distance: Float)] = []
    public var closestReals: [(i: Int, j: Int, distance: Float)] = []
    /// Nearest-training-neighbour LPIPS of each output (sample 0) and of each held-out real.
    public var nnOutputs: [(distance: Float, train: Int)] = []
    public var nnReals: [(distance: Float, train: Int)] = []
    public var trainCount = 0
    public init() {}
}

/// Fidelity, diversity and mode-collapse statistics over a stream of `EvalItem`s.
/// Call `calibrate` with real images first (it sets the duplicate thresholds), then
/// `evaluate` for each item, then `finish`.
public final class Evaluator {
    public let lpips: LPIPS
    public let config: EvalConfig
    /// Duplicate thresholds (LPIPS) at the images' own size and at nnSize.
    public private(set) var threshold: Float = 0
    public private(set) var thresholdNN: Float = 0
    /// The calibration distances: real image vs a near-duplicate of itself.
    public private(set) var calibration: [Double] = []
    public private(set) var calibrationNN: [Double] = []
    /// Per-input results, in order.
    public private(set) var items: [ItemResult] = []
    /// Sample 0 of every item, and every real image, at nnSize.
    public private(set) var firstOutputs: [Image] = []
    public private(set) var reals: [Image] = []
    var rng: RNG

    public init(lpips: LPIPS, config: EvalConfig = EvalConfig()) {
        self.lpips = lpips; self.config = config
        rng = RNG(seed: config.seed)
    }

    /// An image as the set-level comparisons see it (RGB, nnSize x nnSize).
    public func thumbnail(_ img: Image) -> Image {
        let s = config.nnSize
        let rgb = img.converted(toChannels: 3)
        return rgb.width == s && rgb.height == s ? rgb : rgb.resized(width: s, height: s, filter: .bicubic)
    }

    /// LPIPS between two same-size images.
    public func distance(_ a: Image, _ b: Image) throws -> Double {
        try ImageMetrics.check(a, b)
        return Double(try withNoGrad { try lpips.distance(a.tensor(), b.tensor()) }.data[0])
    }

    /// Sets the duplicate thresholds from real images: each is compared with a near-duplicate
    /// of itself (one-pixel shift, 2 % brightness, noise of 2/255), at its own size and at
    /// nnSize; the threshold is the configured quantile of those distances. With `srScale`
    /// the own-size comparison (the per-input test, between samples of one input) uses a
    /// near-copy at SR scale instead (`NearDuplicate.perturbDetail`: the same low band, a
    /// near-copy's detail); the set-level one, across inputs, stays the photo near-copy. The
    /// real images are also kept (at nnSize) for the birthday test over the real set.
    public func calibrate(reals images: [Image]) throws {
        guard !images.isEmpty else { throw MetricsError.mismatch("no real images to calibrate the duplicate threshold on") }
        var prng = RNG(seed: config.seed ^ 0x5eed_ca1b)
        calibration = []; calibrationNN = []; reals = []
        for img in images {
            let copy = try config.srScale.map { try NearDuplicate.perturbDetail(img, scale: $0, rng: &prng) } ?? NearDuplicate.perturb(img, rng: &prng)
            calibration.append(try distance(img, copy))
            let t = thumbnail(img)
            reals.append(t)
            calibrationNN.append(try distance(t, try NearDuplicate.perturb(t, rng: &prng)))
        }
        threshold = config.duplicateThreshold ?? Float(SampleStatistics.quantile(calibration, config.thresholdQuantile))
        thresholdNN = config.duplicateThreshold ?? Float(SampleStatistics.quantile(calibrationNN, config.thresholdQuantile))
    }

    /// Measures one input's samples (and their fidelity to its target). `index` is the
    /// input's position in the evaluated split: the birthday test's random batches are drawn
    /// from (seed, index), so the result does not depend on which inputs came before (or on
    /// which rank evaluated it).
    @discardableResult
    public func evaluate(_ item: EvalItem, index: Int) throws -> ItemResult {
        let r = try measure(item, index: index)
        firstOutputs.append(thumbnail(item.samples[0]))
        items.append(r)
        return r
    }

    /// `evaluate` without recording the result (a rank of a sharded evaluation measures its
    /// inputs, rank 0 `adopt`s everyone's).
    public func measure(_ item: EvalItem, index: Int) throws -> ItemResult {
        guard let first = item.samples.first else { throw MetricsError.mismatch("\(item.name): no samples") }
        for s in item.samples { do { try ImageMetrics.check(first, s) } catch { throw MetricsError.mismatch("\(item.name): samples differ in size") } }
        var r = ItemResult(name: item.name)
        var images = item.samples
        if let t = item.target {
            do { try ImageMetrics.check(first, t) } catch {
                throw MetricsError.mismatch("\(item.name): output is \(first.width)x\(first.height)x\(first.channels), target \(t.width)x\(t.height)x\(t.channels)")
            }
            images.append(t)
        }
        let k = item.samples.count
        let f = try lpips.embed(images.map { $0.tensor() })
        let d = try f.selfDistances()
        let n = images.count
        if let t = item.target {
            for (i, s) in item.samples.enumerated() {
                let m = try ImageMetrics.mse(s, t)
                r.mse.append(m); r.psnr.append(ImageMetrics.psnr(mse: m))
                r.l1.append(try ImageMetrics.l1(s, t))
                r.ssim.append(try ImageMetrics.ssim(s, t))
                r.lpips.append(Double(d[i * n + k]))
                if let sc = config.srScale { r.psnrY.append(try ImageMetrics.psnrY(s, t, border: sc)) }
            }
            if let lr = item.lowRes, let sc = config.srScale {
                r.bicubicPSNRY = try ImageMetrics.psnrY(lr.resized(width: t.width, height: t.height, filter: .bicubic), t, border: sc)
            }
        }
        if let lr = item.lowRes {
            for s in item.samples {
                r.lrConsistency.append(try ImageMetrics.psnr(s.resized(width: lr.width, height: lr.height, filter: .bicubic), lr))
            }
        }
        if k >= 2 {
            var sub = [Float](repeating: 0, count: k * k)
            for i in 0..<k { for j in 0..<k { sub[i * k + j] = d[i * n + j] } }
            let dm = DistanceMatrix(count: k, values: sub)
            let l1 = try DistanceMatrix.l1(item.samples)
            r.pairLPIPS = dm.consecutiveMean
            r.pairL1 = l1.consecutiveMean
            r.withinDistances = dm.upperTriangle
            r.closest = dm.closestPair
            var itemRNG = RNG(seed: config.seed ^ 0xb1d7_4da7_0000_0000 &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
            r.birthday = BirthdayTest.run(dm, threshold: threshold, sizes: BirthdayTest.sizes(upTo: k), trials: config.trials, rng: &itemRNG)
            r.stdMean = try SampleStatistics.stdImage(item.samples).mean
            if let sc = config.srScale { r.hfStdMean = try SampleStatistics.highFrequencyStd(item.samples, scale: sc) }
        }
        return r
    }

    /// Records measured inputs in order, each with its first sample at nnSize (`thumbnail`),
    /// as if `evaluate` had been called for each.
    public func adopt(_ results: [(ItemResult, Image)]) {
        for (r, t) in results {
            items.append(r)
            firstOutputs.append(t)
        }
    }

    /// The birthday test over the whole output set (sample 0 of each input) and over the real
    /// images, and, with training images, nearest-neighbour distances of outputs and of
    /// held-out reals to the training set. `train(i)` returns training image i.
    public func finish(trainCount: Int = 0, train: (Int) throws -> Image = { _ in fatalError() },
                       progress: ((Int) -> Void)? = nil) throws -> SetResult {
        var s = SetResult()
        let fo = try lpips.embed(firstOutputs.map { $0.tensor() })
        let fr = try lpips.embed(reals.map { $0.tensor() })
        func closestPairs(_ dm: DistanceMatrix, _ n: Int) -> [(i: Int, j: Int, distance: Float)] {
            var all: [(i: Int, j: Int, distance: Float)] = []
            for i in 0..<dm.count { for j in (i + 1)..<max(i + 1, dm.count) { all.append((i, j, dm[i, j])) } }
            return Array(all.sorted { $0.distance < $1.distance }.prefix(n))
        }
        if firstOutputs.count >= 2 {
            let dm = DistanceMatrix(count: fo.count, values: try fo.selfDistances())
            s.acrossOutputs = BirthdayTest.run(dm, threshold: thresholdNN, sizes: BirthdayTest.sizes(upTo: dm.count), trials: config.trials, rng: &rng)
            s.closestOutputs = closestPairs(dm, 5)
        }
        if reals.count >= 2 {
            let dm = DistanceMatrix(count: fr.count, values: try fr.selfDistances())
            s.acrossReals = BirthdayTest.run(dm, threshold: thresholdNN, sizes: BirthdayTest.sizes(upTo: dm.count), trials: config.trials, rng: &rng)
            s.closestReals = closestPairs(dm, 5)
        }
        if trainCount > 0 {
            s.trainCount = trainCount
            s.nnOutputs = Array(repeating: (Float.infinity, -1), count: fo.count)
            s.nnReals = Array(repeating: (Float.infinity, -1), count: fr.count)
            var start = 0
            while start < trainCount {
                let end = min(start + 16, trainCount)
                let ft = try lpips.embed(try (start..<end).map { thumbnail(try train($0)).tensor() })
                for (f, isOut) in [(fo, true), (fr, false)] where f.count > 0 {
                    let d = try f.distances(to: ft)
                    for q in 0..<f.count { for j in 0..<(end - start) {
                        let v = d[q * (end - start) + j]
                        if isOut { if v < s.nnOutputs[q].distance { s.nnOutputs[q] = (v, start + j) } }
                        else if v < s.nnReals[q].distance { s.nnReals[q] = (v, start + j) }
                    } }
                }
                start = end
                progress?(end)
            }
        }
        return s
    }
}
