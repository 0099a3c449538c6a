import Foundation
import Perceptual
import Tensors
import ImageIO

/// A square matrix of distances between `count` items, row-major.
public struct DistanceMatrix {
    public let count: Int
    public var values: [Float]
    public init(count: Int, values: [Float]) {
        precondition(values.count == count * count, "a distance matrix needs count^2 values")
        self.count = count; self.values = values
    }
    public subscript(i: Int, j: Int) -> Float { values[i * count + j] }

    /// Pixel L1 (0-1 scale) between every two of the same-size images.
    public static func l1(_ images: [Image]) throws -> DistanceMatrix {
        let n = images.count
        var v = [Float](repeating: 0, count: n * n)
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) {
            let d = Float(try ImageMetrics.l1(images[i], images[j]))
            v[i * n + j] = d; v[j * n + i] = d
        } }
        return DistanceMatrix(count: n, values: v)
    }

    /// The mean distance of consecutive items (0-1, 1-2, ...): BicycleGAN's diversity
    /// protocol (20 samples, 19 pairs). Nil for fewer than two items.
    public var consecutiveMean: Double? {
        guard count >= 2 else { return nil }
        return (0..<(count - 1)).map { Double(self[$0, $0 + 1]) }.reduce(0, +) / Double(count - 1)
    }

    /// The closest pair of distinct items.
    public var closestPair: (i: Int, j: Int, distance: Float)? {
        var best: (Int, Int, Float)?
        for i in 0..<count { for j in (i + 1)..<max(i + 1, count) where best == nil || self[i, j] < best!.2 {
            best = (i, j, self[i, j])
        } }
        return best
    }

    /// All distances above the diagonal.
    public var upperTriangle: [Float] {
        var out: [Float] = []
        for i in 0..<count { for j in (i + 1)..<max(i + 1, count) { out.append(self[i, j]) } }
        return out
    }
}

/// The birthday-paradox test of Arora, Risteski & Zhang (2018): if batches of s samples hold a
/// near-duplicate pair about half the time, the distribution's support is about s^2. The
/// original asks humans to judge duplicates; here a pair is a duplicate when its distance is
/// below a threshold calibrated on real images (an automated variant).
public enum BirthdayTest {
    public struct Curve: Codable, Equatable {
        /// Batch sizes tried and the fraction of batches that held a duplicate.
        public var sizes: [Int]
        public var fractions: [Double]
        /// The smallest batch size whose duplicate fraction is at least one half, if any.
        public var collisionSize: Int? {
            zip(sizes, fractions).first { $0.1 >= 0.5 }?.0
        }
        /// The implied support size s^2 (nil when no size reached one half).
        public var supportEstimate: Int? { collisionSize.map { $0 * $0 } }
    }

    /// The batch sizes worth trying for `n` items: 2...10, then a sparser ladder up to n.
    public static func sizes(upTo n: Int) -> [Int] {
        let ladder = [2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200]
        return ladder.filter { $0 <= n }
    }

    /// Fractions of `trials` random batches (drawn without replacement from the matrix's
    /// items) that contain a pair closer than `threshold`.
    public static func run(_ d: DistanceMatrix, threshold: Float, sizes: [Int], trials: Int = 200, rng: inout RNG) -> Curve {
        var fractions: [Double] = []
        var index = Array(0..<d.count)
        for s in sizes {
            var hits = 0
            for _ in 0..<trials {
                // Partial Fisher-Yates: the first s entries are a uniform random batch.
                for k in 0..<s {
                    let r = k + rng.nextInt(d.count - k)
                    index.swapAt(k, r)
                }
                var dup = false
                outer: for a in 0..<s { for b in (a + 1)..<max(a + 1, s) where d[index[a], index[b]] < threshold { dup = true; break outer } }
                if dup { hits += 1 }
            }
            fractions.append(Double(hits) / Double(trials))
        }
        return Curve(sizes: sizes, fractions: fractions)
    }

    /// Averages the curves of many inputs (conditional models: one curve per input).
    public static func average(_ curves: [Curve]) -> Curve? {
        guard let first = curves.first else { return nil }
        let sizes = first.sizes.filter { s in curves.allSatisfy { $0.sizes.contains(s) } }
        let fr = sizes.map { s in
            curves.map { c in c.fractions[c.sizes.firstIndex(of: s)!] }.reduce(0, +) / Double(curves.count)
        }
        return Curve(sizes: sizes, fractions: fr)
    }
}

public enum SampleStatistics {
    /// The per-pixel standard deviation across same-size samples (averaged over channels),
    /// on the 0-1 scale, and as a gray image where 255 means `fullScale`.
    public static func stdImage(_ samples: [Image], fullScale: Double = 0.25) throws -> (mean: Double, image: Image) {
        guard let first = samples.first else { throw MetricsError.mismatch("no samples") }
        let n = first.width * first.height, C = first.channels
        var out = [UInt8](repeating: 0, count: n)
        var total = 0.0
        for s in samples { try ImageMetrics.check(first, s) }
        let k = Double(samples.count)
        for p in 0..<n {
            var acc = 0.0
            for c in 0..<C {
                var s1 = 0.0, s2 = 0.0
                for img in samples { s1 += Double(img.pixels[p * C + c]) }
                let m = s1 / k
                for img in samples { let d = Double(img.pixels[p * C + c]) - m; s2 += d * d }
                acc += (s2 / k).squareRoot() / 255
            }
            let sd = acc / Double(C)
            total += sd
            out[p] = UInt8(min(255, (sd / fullScale * 255).rounded()))
        }
        return (total / Double(n), try Image(width: first.width, height: first.height, channels: 1, pixels: out))
    }

    /// Super-resolution diversity where it can exist: the mean over pixels (and channels, 0-1
    /// scale) of the standard deviation between samples of their high-frequency band, each
    /// sample minus its bicubic down- and up-scaling by `scale` (what a x`scale` input does
    /// not determine).
    public static func highFrequencyStd(_ samples: [Image], scale: Int) throws -> Double {
        guard let first = samples.first else { throw MetricsError.mismatch("no samples") }
        for s in samples { try ImageMetrics.check(first, s) }
        let bands = samples.map { highBand($0, scale: scale) }
        let k = Double(samples.count), count = bands[0].count
        var total = 0.0
        for i in 0..<count {
            var s1 = 0.0
            for b in bands { s1 += b[i] }
            let m = s1 / k
            var s2 = 0.0
            for b in bands { let d = b[i] - m; s2 += d * d }
            total += (s2 / k).squareRoot()
        }
        return total / Double(count)
    }

    /// An image's high-frequency band on the 0-1 scale: the image minus its bicubic
    /// downscaling by `scale` upscaled back (interleaved like `pixels`).
    public static func highBand(_ img: Image, scale: Int) -> [Double] {
        let low = lowBand(img, scale: scale)
        return zip(img.pixels, low.pixels).map { (Double($0.0) - Double($0.1)) / 255 }
    }

    /// The image downscaled by `scale` (bicubic) and upscaled back to its size.
    static func lowBand(_ img: Image, scale: Int) -> Image {
        let w = max(1, img.width / scale), h = max(1, img.height / scale)
        return img.resized(width: w, height: h, filter: .bicubic).resized(width: img.width, height: img.height, filter: .bicubic)
    }

    /// Best-of-k: for each k, the mean over inputs of the best score among the first k
    /// samples (`lowerIsBetter` picks the minimum). `scores[i]` holds input i's samples.
    public static func bestOfK(_ scores: [[Double]], ks: [Int], lowerIsBetter: Bool) -> [(k: Int, value: Double)] {
        ks.compactMap { k in
            let usable = scores.filter { $0.count >= k }
            guard !usable.isEmpty else { return nil }
            let v = usable.map { s in lowerIsBetter ? s.prefix(k).min()! : s.prefix(k).max()! }
            return (k, mean(v))
        }
    }

    public static func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }

    public static func median(_ v: [Double]) -> Double {
        guard !v.isEmpty else { return .nan }
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    public static func quantile(_ v: [Double], _ q: Double) -> Double {
        guard !v.isEmpty else { return .nan }
        let s = v.sorted()
        let pos = q * Double(s.count - 1), lo = Int(pos.rounded(.down)), hi = min(lo + 1, s.count - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
    }
}

/// Small changes a person would not call a different picture, used to calibrate the
/// duplicate threshold of the birthday test on real images: a one-pixel shift (edge
/// replicated), a brightness change of 2 % and Gaussian noise of 2/255.
public enum NearDuplicate {
    /// A near-copy at super-resolution scale: the image's own low band (what a x`scale` input
    /// fixes, as every SR sample of that input shares it) with the detail of a near-copy
    /// (`perturb`): near-copy - lowBand(near-copy) + lowBand(image). Super-resolution samples
    /// differ only in detail, so their duplicate threshold is calibrated on differences of
    /// detail, not on the photo near-copy's brightness and shift of the whole image.
    public static func perturbDetail(_ img: Image, scale: Int, rng: inout RNG) throws -> Image {
        let p = try perturb(img, rng: &rng)
        let lowP = SampleStatistics.lowBand(p, scale: scale), lowX = SampleStatistics.lowBand(img, scale: scale)
        var px = [UInt8](repeating: 0, count: img.pixels.count)
        for i in px.indices {
            let v = Double(p.pixels[i]) - Double(lowP.pixels[i]) + Double(lowX.pixels[i])
            px[i] = UInt8(min(255, max(0, v.rounded())))
        }
        return try Image(width: img.width, height: img.height, channels: img.channels, pixels: px)
    }

    public static func perturb(_ img: Image, rng: inout RNG) throws -> Image {
        let W = img.width, H = img.height, C = img.channels
        let dx = rng.next() % 2 == 0 ? 1 : -1, dy = rng.next() % 2 == 0 ? 1 : -1
        let gain = rng.next() % 2 == 0 ? 1.02 : 0.98
        var px = [UInt8](repeating: 0, count: img.pixels.count)
        for y in 0..<H { for x in 0..<W {
            let sy = min(max(y + dy, 0), H - 1), sx = min(max(x + dx, 0), W - 1)
            for c in 0..<C {
                let v = Double(img.pixels[(sy * W + sx) * C + c]) * gain + Double(rng.nextNormal()) * 2
                px[(y * W + x) * C + c] = UInt8(min(255, max(0, v.rounded())))
            }
        } }
        return try Image(width: W, height: H, channels: C, pixels: px)
    }
}
