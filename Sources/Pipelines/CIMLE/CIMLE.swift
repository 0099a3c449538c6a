import Foundation
import Tensors
import NN
import ImageIO
import Perceptual
import Datasets

/// The task a conditional IMLE model was trained on, which fixes its generator's geometry:
/// super-resolution (its own: the input is the low-resolution image and levels double its
/// size), or a data task (`ImageTask`: the condition at full size, levels go up to it).
/// Stored as the task's name ("sr", "layout", "translation", "colorization").
public enum CIMLETask: Equatable, Codable, Sendable {
    case superResolution
    case image(ImageTask)

    public var rawValue: String {
        switch self {
        case .superResolution: return "sr"
        case .image(let t): return t.rawValue
        }
    }

    public init?(rawValue: String) {
        if rawValue == "sr" { self = .superResolution } else if let t = ImageTask(rawValue: rawValue) { self = .image(t) } else { return nil }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let t = Self(rawValue: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown cIMLE task '\(s)' (sr, \(ImageTask.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self = t
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    /// Whether the levels upsample the input (super-resolution) rather than go up to its size.
    public var upsamples: Bool { self == .superResolution }

    /// The data task (nil for super-resolution, which cuts its pairs from single images).
    public var imageTask: ImageTask? {
        if case .image(let t) = self { return t }
        return nil
    }
}

/// How codes are chosen for each pool item.
public enum CIMLESelection: String, CaseIterable, Codable {
    /// Draw `candidates` full codes and keep the nearest final output.
    case flat
    /// Choose level by level against the target downsampled to that level, with
    /// `levelCandidates[l]` draws at level l (more at the cheap coarse levels).
    case hierarchical
}

/// A cIMLE model and its training recipe; stored in checkpoints.
public struct CIMLEConfig: Codable, Equatable {
    public var task: CIMLETask
    public var inputNc: Int
    public var outputNc = 3
    /// Resolution levels, coarse to fine (super-resolution: log2(scale) + 1).
    public var levels: Int
    /// Feature width per level, coarse to fine.
    public var widths: [Int]
    /// Noise channels concatenated at the input of every level.
    public var noiseChannels: Int
    /// Residual blocks at the coarsest level.
    public var resBlocks = 2
    /// Super-resolution factor (a power of two).
    public var scale = 4
    /// Super-resolution: project every output onto the images whose bicubic downscale is
    /// exactly the input (a linear, differentiable last step).
    public var consistency = true
    /// Distance = training loss: l1Weight * multi-scale pixel L1 + lpipsWeight * LPIPS.
    public var l1Weight: Float = 1
    public var lpipsWeight: Float = 0.1
    public var selection = CIMLESelection.hierarchical
    /// Flat selection: codes drawn per pool item.
    public var candidates = 20
    /// Hierarchical selection: codes drawn per level, coarse to fine.
    public var levelCandidates: [Int] = []
    /// Pool items per round, optimiser visits per pool item per round, Adam.
    public var poolSize = 128
    public var visits = 25
    public var lr: Float = 1e-4
    public var beta1: Float = 0.9

    public init(task: CIMLETask, inputNc: Int, levels: Int, widths: [Int], noiseChannels: Int) {
        self.task = task; self.inputNc = inputNc; self.levels = levels; self.widths = widths; self.noiseChannels = noiseChannels
    }

    public func validate() throws {
        func bad(_ flag: String, _ s: String) -> TranslateError { .invalidFlag(flag: flag, reason: s) }
        if levels < 1 || widths.count != levels { throw bad("--widths", "\(widths.count) widths for \(levels) levels") }
        if widths.contains(where: { $0 < 1 }) { throw bad("--widths", "widths must be positive, got \(widths)") }
        if noiseChannels < 0 || resBlocks < 0 { throw bad("--noise-channels", "noise channels and residual blocks must not be negative") }
        if task == .superResolution && (scale < 2 || scale & (scale - 1) != 0 || 1 << (levels - 1) != scale) {
            throw bad("--scale", "must be a power of two with levels = log2(scale) + 1 (scale \(scale), levels \(levels))")
        }
        if candidates < 1 { throw bad("--candidates", "must be at least 1, got \(candidates)") }
        if poolSize < 1 { throw bad("--pool-size", "must be at least 1, got \(poolSize)") }
        if visits < 1 { throw bad("--visits", "must be at least 1, got \(visits)") }
        if !(lpipsWeight >= 0) { throw bad("--lpips-weight", "must not be negative, got \(lpipsWeight)") }
        if !(l1Weight >= 0) { throw bad("--l1-weight", "must not be negative, got \(l1Weight)") }
        if selection == .hierarchical && levelCandidates.count != levels {
            throw bad("--level-candidates", "hierarchical selection needs one candidate count per level (\(levels)), got \(levelCandidates)")
        }
        if levelCandidates.contains(where: { $0 < 1 }) { throw bad("--level-candidates", "candidate counts must be at least 1") }
        if outputNc != 3 && lpipsWeight > 0 {
            throw bad("--lpips-weight", "must be 0 for a model with \(outputNc) output channels: LPIPS compares RGB images")
        }
    }
}

/// A multi-level generator with noise injected at every level: level l takes the condition at
/// its resolution (the low-resolution image upsampled, or the label map downsampled), the
/// upsampled features of level l-1 and `noiseChannels` noise maps, and has its own RGB head.
/// A code is one noise tensor per level.
public final class CascadeGenerator: Module {
    public let config: CIMLEConfig
    let levelBlocks: [Sequential]
    let residual: [Sequential]
    let heads: [Conv2d]

    override public var children: [(String, Module)] {
        levelBlocks.enumerated().map { ("levels.\($0.offset)", $0.element) }
            + residual.enumerated().map { ("res.\($0.offset)", $0.element) }
            + heads.enumerated().map { ("heads.\($0.offset)", $0.element) }
    }

    public init(_ c: CIMLEConfig, rng: inout RNG) throws {
        try c.validate()
        config = c
        var blocks: [Sequential] = []
        for l in 0..<c.levels {
            let inC = c.inputNc + (l > 0 ? c.widths[l - 1] : 0) + c.noiseChannels
            blocks.append(Sequential(Conv2d(inC, c.widths[l], kernelSize: 3, padding: 1, rng: &rng), LeakyReLU(negativeSlope: 0.2),
                                     Conv2d(c.widths[l], c.widths[l], kernelSize: 3, padding: 1, rng: &rng), LeakyReLU(negativeSlope: 0.2)))
        }
        levelBlocks = blocks
        residual = (0..<c.resBlocks).map { _ in
            Sequential(Conv2d(c.widths[0], c.widths[0], kernelSize: 3, padding: 1, rng: &rng), LeakyReLU(negativeSlope: 0.2),
                       Conv2d(c.widths[0], c.widths[0], kernelSize: 3, padding: 1, rng: &rng))
        }
        heads = c.widths.map { Conv2d($0, c.outputNc, kernelSize: 1, rng: &rng) }
        super.init()
    }

    /// Spatial size of each level for an input of height x width.
    public func levelSizes(height: Int, width: Int) throws -> [(h: Int, w: Int)] {
        let L = config.levels
        if config.task.upsamples { return (0..<L).map { (height << $0, width << $0) } }
        let m = 1 << (L - 1)
        guard height % m == 0, width % m == 0 else {
            throw NetworkError.invalidOption("a cIMLE generator with \(L) levels needs sides divisible by \(m), got \(width)x\(height)")
        }
        return (0..<L).map { (height / (m >> $0), width / (m >> $0)) }
    }

    /// The condition at every level, coarse to fine (no gradient).
    public func conditions(_ x: Tensor) throws -> [Tensor] {
        guard x.shape.count == 4, x.shape[1] == config.inputNc else {
            throw NetworkError.channelMismatch(network: "cIMLE generator", expected: config.inputNc, found: x.shape.count == 4 ? x.shape[1] : -1, shape: x.shape)
        }
        return try withNoGrad {
            var out = [x]
            for _ in 1..<max(config.levels, 1) {
                if config.task.upsamples { out.append(try upsampleBilinear(out.last!, scaleFactor: 2)) } else {
                    out.insert(try avgPool2d(out.first!, kernelSize: 2), at: 0)
                }
            }
            return out
        }
    }

    /// Shapes of a code for `batch` inputs of height x width.
    public func codeShapes(batch: Int, height: Int, width: Int) throws -> [[Int]] {
        try levelSizes(height: height, width: width).map { [batch, config.noiseChannels, $0.h, $0.w] }
    }

    /// A random code: standard normal noise at every level.
    public func randomCode(batch: Int, height: Int, width: Int, rng: inout RNG) throws -> [Tensor] {
        try codeShapes(batch: batch, height: height, width: width).map { Tensor.randn($0, rng: &rng) }
    }

    /// Runs levels `from...to` (from > 0 continues from `previous`, level from-1's features).
    /// Returns the last level's features and each run level's RGB output.
    public func run(conditions conds: [Tensor], code: [Tensor], from: Int = 0, to: Int? = nil,
                    previous: Tensor? = nil) throws -> (features: Tensor, outputs: [Tensor]) {
        let last = to ?? config.levels - 1
        var feat = previous
        var outs: [Tensor] = []
        for l in from...last {
            var parts = [conds[l]]
            if l > 0 {
                guard let f = feat else { throw NetworkError.invalidOption("cIMLE: level \(l) needs the features of level \(l - 1)") }
                parts.append(try upsampleNearest(f, scaleFactor: 2))
            }
            if config.noiseChannels > 0 { parts.append(code[l]) }
            var h = try levelBlocks[l](try cat(parts, dim: 1))
            if l == 0 { for r in residual { h = try h + (try r(h)) } }
            feat = h
            let rgb = try heads[l](h)
            outs.append(config.task == .superResolution ? try conds[l] + rgb : tanh(rgb))
        }
        return (feat!, outs)
    }

    /// All levels' outputs for inputs `x` and a code.
    public func outputs(_ x: Tensor, code: [Tensor]) throws -> [Tensor] {
        try run(conditions: try conditions(x), code: code).outputs
    }
}

/// Exact projection onto the images whose (PIL-bicubic, real-valued) downscale by `scale` is a
/// given low-resolution image: y + D^+ (x - D y), with D separable, D^+ = D^T (D D^T)^-1.
public struct ConsistencyProjection {
    public let lowH: Int, lowW: Int, scale: Int
    /// The bicubic downscale along each axis, and its least-norm right inverse
    /// D^T (D D^T)^-1, both banded: any image size costs memory and time in proportion to
    /// its pixels.
    let dh: BandedAxis, dw: BandedAxis
    let ph: BandedRightInverse, pw: BandedRightInverse

    public init(lowHeight: Int, lowWidth: Int, scale: Int) throws {
        lowH = lowHeight; lowW = lowWidth; self.scale = scale
        dh = resampleBand(inSize: lowHeight * scale, outSize: lowHeight)
        dw = resampleBand(inSize: lowWidth * scale, outSize: lowWidth)
        ph = try BandedRightInverse(dh)
        pw = try BandedRightInverse(dw)
    }

    /// The real-valued bicubic downscale of y.
    public func downscale(_ y: Tensor) throws -> Tensor { try separableApply(y, rows: dh, cols: dw) }

    /// y moved by the least change that makes its downscale exactly x.
    public func callAsFunction(_ y: Tensor, lowRes x: Tensor) throws -> Tensor {
        let r = try x - (try downscale(y))
        return try y + (try separableApply(r, rows: ph, cols: pw))
    }
}

/// Conditional IMLE (Li & Malik): for each pool item the code whose output is nearest to the
/// target is found among random draws (without gradients), then the generator is trained to
/// bring that output closer with the code fixed. Distance and training loss are the same:
/// l1Weight * pixel L1 averaged over the levels' outputs (each against the target downsampled
/// to it) + lpipsWeight * LPIPS of the final output (skipped below 32 pixels).
public final class CIMLE {
    public let config: CIMLEConfig
    public let netG: CascadeGenerator
    public let lpips: LPIPS?
    public let optimizer: Adam
    var projections: [String: ConsistencyProjection] = [:]
    public static let lossNames = ["distance", "l1", "lpips"]

    public init(config: CIMLEConfig, lpips: LPIPS?, rng: inout RNG) throws {
        self.config = config
        netG = try CascadeGenerator(config, rng: &rng)
        // Without the network (sampling only) the distance is the pixel part.
        self.lpips = config.lpipsWeight > 0 ? lpips : nil
        optimizer = Adam(netG.namedParameters(), lr: config.lr, betas: (config.beta1, 0.999))
    }

    /// The generator's outputs at every level; the final super-resolution output is made
    /// consistent with the input when `consistency` is on.
    public func forward(_ x: Tensor, code: [Tensor]) throws -> [Tensor] {
        var outs = try netG.outputs(x, code: code)
        if config.task == .superResolution && config.consistency {
            outs[outs.count - 1] = try forwardProjection(outs[outs.count - 1], x: x)
        }
        return outs
    }

    /// The target at every level's size, coarse to fine (2x2 averages).
    public func pyramid(_ y: Tensor) throws -> [Tensor] {
        try withNoGrad {
            var out = [y]
            for _ in 1..<max(config.levels, 1) { out.insert(try avgPool2d(out[0], kernelSize: 2), at: 0) }
            return out
        }
    }

    /// Per-sample distances of `outputs` (m items) to `target` (1 item, broadcast, or m).
    func distances(_ outputs: Tensor, _ target: Tensor, perceptual: Bool) throws -> [Double] {
        let m = outputs.shape[0], per = outputs.count / m
        let tb = target.shape[0] == 1 ? 0 : per
        var d = (0..<m).map { i -> Double in
            var s: Float = 0
            for k in 0..<per { s += abs(outputs.data[i * per + k] - target.data[i * tb + k]) }
            return Double(config.l1Weight) * Double(s) / Double(per)
        }
        if perceptual, let net = lpips, outputs.shape[2] >= 32, outputs.shape[3] >= 32 {
            let t = target.shape[0] == m ? target : try cat(Array(repeating: target, count: m), dim: 0)
            let lp = try withNoGrad { try net.distance(outputs, t) }
            for i in 0..<m { d[i] += Double(config.lpipsWeight) * Double(lp.data[i]) }
        }
        return d
    }

    /// Chooses a code for one input `x` and target `y` (batch 1), as configured.
    public func select(_ x: Tensor, _ y: Tensor, rng: inout RNG) throws -> [Tensor] {
        let (h, w) = (x.shape[2], x.shape[3])
        netG.eval()
        defer { netG.train() }
        return try withNoGrad {
            switch config.selection {
            case .flat:
                let m = config.candidates
                let code = try netG.randomCode(batch: m, height: h, width: w, rng: &rng)
                let out = try forward(try cat(Array(repeating: x, count: m), dim: 0), code: code)
                let d = try distances(out.last!, y, perceptual: true)
                let best = d.indices.min { d[$0] < d[$1] }!
                return try code.map { try narrow($0, dim: 0, start: best, length: 1) }
            case .hierarchical:
                let conds = try netG.conditions(x)
                let targets = try pyramid(y)
                let shapes = try netG.codeShapes(batch: 1, height: h, width: w)
                var chosen: [Tensor] = []
                var feat: Tensor?
                for l in 0..<config.levels {
                    let m = config.levelCandidates[l]
                    var s = shapes[l]; s[0] = m
                    let cand = Tensor.randn(s, rng: &rng)
                    // Levels below are fixed: repeat their features m times.
                    let prev = try feat.map { f in try cat(Array(repeating: f, count: m), dim: 0) }
                    let condsM = try conds.map { try cat(Array(repeating: $0, count: m), dim: 0) }
                    // Only level l's noise is read when continuing from level l-1's features.
                    var code = Array(repeating: Tensor(zeros: [1]), count: config.levels)
                    code[l] = cand
                    let r = try netG.run(conditions: condsM, code: code, from: l, to: l, previous: prev)
                    var out = r.outputs[0]
                    if l == config.levels - 1 && config.task == .superResolution && config.consistency {
                        out = try forwardProjection(out, x: try cat(Array(repeating: x, count: m), dim: 0))
                    }
                    let d = try distances(out, targets[l], perceptual: true)
                    let best = d.indices.min { d[$0] < d[$1] }!
                    chosen.append(try narrow(cand, dim: 0, start: best, length: 1))
                    feat = try narrow(r.features, dim: 0, start: best, length: 1)
                }
                return chosen
            }
        }
    }

    /// Projects super-resolution outputs `y` onto consistency with their inputs `x` (the
    /// projection matrices are built once per input size).
    func forwardProjection(_ y: Tensor, x: Tensor) throws -> Tensor {
        let key = "\(x.shape[2])x\(x.shape[3])"
        let p = try projections[key] ?? ConsistencyProjection(lowHeight: x.shape[2], lowWidth: x.shape[3], scale: config.scale)
        projections[key] = p
        return try p(y, lowRes: x)
    }

    /// The training loss for a batch with fixed codes: (total, [total, l1, lpips]).
    public func loss(_ x: Tensor, code: [Tensor], target y: Tensor) throws -> (Tensor, [Float]) {
        let outs = try forward(x, code: code)
        let targets = try pyramid(y)
        var l1: Tensor?
        for (o, t) in zip(outs, targets) { let v = try l1Loss(o, t); l1 = try l1.map { try $0 + v } ?? v }
        let l1Mean = l1! / Float(outs.count)
        var total = l1Mean * config.l1Weight
        var lp: Float = 0
        if let net = lpips, y.shape[2] >= 32, y.shape[3] >= 32 {
            let d = mean(try net.distance(outs.last!, y))
            lp = d.data[0]
            total = try total + d * config.lpipsWeight
        }
        return (total, [total.data[0], l1Mean.data[0], lp])
    }

    /// One Adam step on (input, chosen code, target) batches.
    public func trainStep(_ x: Tensor, code: [Tensor], target y: Tensor) throws -> [Float] {
        netG.train()
        optimizer.zeroGrad()
        let (total, parts) = try loss(x, code: code, target: y)
        try total.backward()
        optimizer.step()
        return parts
    }

    /// One pool item: an input, its target and its chosen code (batch 1 each).
    public struct PoolItem {
        public var x: Tensor, y: Tensor
        public var code: [Tensor] = []
        public init(x: Tensor, y: Tensor) { self.x = x; self.y = y }
    }

    /// Chooses the code of every pool item; `progress(done)` after each.
    public func selectCodes(_ pool: inout [PoolItem], rng: inout RNG, progress: ((Int) -> Void)? = nil) throws {
        for i in pool.indices {
            pool[i].code = try select(pool[i].x, pool[i].y, rng: &rng)
            progress?(i + 1)
        }
    }

    /// `selectCodes` split over `communicator`'s ranks: rank r selects the codes of items r,
    /// r + N, ..., each with its own generator from (one draw of `rng`, item), and one
    /// all-reduce (a sum in which the other ranks contribute zeros: exact) gives every rank
    /// all codes. The codes do not depend on the number of ranks (N > 1); they differ from
    /// one process's, whose items share one generator in sequence.
    public func selectCodes(_ pool: inout [PoolItem], rng: inout RNG, over communicator: Communicator,
                            progress: ((Int) -> Void)? = nil) throws {
        let round = rng.next()
        let mine = Set(Distribution.workPositions(count: pool.count, rank: communicator.rank, size: communicator.size))
        var done = 0
        for i in pool.indices {
            if mine.contains(i) {
                var r = RNG(seed: round ^ (UInt64(i) &* 0x9E37_79B9_7F4A_7C15))
                pool[i].code = try select(pool[i].x, pool[i].y, rng: &r)
                done += 1
                progress?(done)
            } else {
                pool[i].code = try netG.codeShapes(batch: 1, height: pool[i].x.shape[2], width: pool[i].x.shape[3]).map { try Tensor(shape: $0, data: [Float](repeating: 0, count: $0.reduce(1, *))) }
            }
        }
        var flat = pool.flatMap { $0.code.flatMap(\.data) }
        flat.withUnsafeMutableBufferPointer { communicator.allReduceSum($0) }
        var at = 0
        for i in pool.indices {
            for c in pool[i].code {
                c.data = Array(flat[at..<at + c.count])
                at += c.count
            }
        }
    }

    /// The optimiser batches of one round: `visits` passes over the pool in random order,
    /// cut into batches of `batchSize` pool indices (about visits * N / batchSize steps).
    public func roundBatches(poolCount n: Int, batchSize: Int, rng: inout RNG) -> [[Int]] {
        var order: [Int] = []
        for _ in 0..<config.visits {
            var p = Array(0..<n)
            for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, rng.nextInt(i + 1)) }
            order += p
        }
        return stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
    }

    /// One step on the pool items `indices` (same sizes), with their chosen codes.
    public func trainStep(pool: [PoolItem], indices: [Int]) throws -> [Float] {
        let x = try cat(indices.map { pool[$0].x }, dim: 0), y = try cat(indices.map { pool[$0].y }, dim: 0)
        let code = try (0..<config.levels).map { l in try cat(indices.map { pool[$0].code[l] }, dim: 0) }
        return try trainStep(x, code: code, target: y)
    }

    /// `count` samples for one input (batch 1): random codes, `batch` at a time.
    public func samples(_ x: Tensor, count: Int, rng: inout RNG, batch: Int = 4, tile: Int? = nil) throws -> [Tensor] {
        netG.eval()
        var out: [Tensor] = []
        let (h, w) = (x.shape[2], x.shape[3])
        let side = tile ?? automaticTile
        let tiled = config.task.upsamples && max(h, w) > side
        try withNoGrad {
            while out.count < count {
                // Large super-resolution inputs: one sample at a time, in tiles (a batch of
                // full-size codes would not fit); otherwise `batch` samples per pass.
                let b = tiled ? 1 : min(batch, count - out.count)
                let code = try netG.randomCode(batch: b, height: h, width: w, rng: &rng)
                if tiled {
                    out.append(try tiledForward(x, code: code, tile: side))
                } else {
                    let y = try forward(try cat(Array(repeating: x, count: b), dim: 0), code: code).last!
                    for k in 0..<b { out.append(try narrow(y, dim: 0, start: k, length: 1)) }
                }
            }
        }
        return out
    }

    /// Input tiles of this side (super-resolution) keep the activations of a large photo
    /// within a few hundred MB; smaller inputs run whole.
    public var automaticTile: Int { 128 }

    /// How far (in input pixels) an output pixel sees: the two 3x3 convolutions of every
    /// level, the residual blocks, the conditions' bilinear upsampling and the nearest
    /// upsampling of features, from the coarsest level up; rounded up, plus one.
    public var receptiveRadius: Int {
        var r = 0.0  // in pixels of the current level
        for l in 0..<config.levels {
            if l > 0 { r = r * 2 + 1 }
            r += 2 + (l == 0 ? 2 * Double(config.resBlocks) : 0) + 1
        }
        let perInput = config.task.upsamples ? r / Double(1 << (config.levels - 1)) : r
        return Int(perInput.rounded(.up)) + 1
    }

    /// The super-resolution output of `x` (one input) and `code`, generated in tiles of
    /// `tile` x `tile` input pixels, each with a margin of `receptiveRadius` that is computed
    /// and dropped, then made consistent with the whole input in one projection. Equal to
    /// `forward(x, code).last` up to rounding; memory depends on the tile, not the image.
    public func tiledForward(_ x: Tensor, code: [Tensor], tile: Int, margin: Int? = nil) throws -> Tensor {
        guard config.task.upsamples else { throw NetworkError.invalidOption("tiled generation is for super-resolution models") }
        guard x.shape[0] == 1, tile >= 8 else { throw NetworkError.invalidOption("tiled generation takes one input and tiles of at least 8 pixels") }
        let (h, w) = (x.shape[2], x.shape[3]), s = 1 << (config.levels - 1), m = margin ?? receptiveRadius
        var out = [Float](repeating: 0, count: config.outputNc * h * s * w * s)
        let ow = w * s
        var y0 = 0
        while y0 < h {
            let th = min(tile, h - y0)
            var x0 = 0
            while x0 < w {
                let tw = min(tile, w - x0)
                // The tile and its margins, clipped to the image.
                let (a0, a1) = (max(0, y0 - m), min(h, y0 + th + m)), (b0, b1) = (max(0, x0 - m), min(w, x0 + tw + m))
                let xt = try narrow(try narrow(x, dim: 2, start: a0, length: a1 - a0), dim: 3, start: b0, length: b1 - b0)
                let ct = try code.enumerated().map { l, c -> Tensor in
                    let f = 1 << l
                    return try narrow(try narrow(c, dim: 2, start: a0 * f, length: (a1 - a0) * f), dim: 3, start: b0 * f, length: (b1 - b0) * f)
                }
                let yt = try netG.outputs(xt, code: ct).last!
                let (yh, yw) = ((a1 - a0) * s, (b1 - b0) * s)
                yt.data.withUnsafeBufferPointer { src in
                    for c in 0..<config.outputNc {
                        for r in 0..<(th * s) {
                            let sr = (y0 - a0) * s + r, dr = y0 * s + r
                            for q in 0..<(tw * s) {
                                out[(c * h * s + dr) * ow + x0 * s + q] = src[(c * yh + sr) * yw + (x0 - b0) * s + q]
                            }
                        }
                    }
                }
                x0 += tile
            }
            y0 += tile
        }
        let y = try Tensor(shape: [1, config.outputNc, h * s, w * s], data: out)
        return config.consistency ? try forwardProjection(y, x: x) : y
    }
}
