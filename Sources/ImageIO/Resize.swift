import Foundation
import Tensors

/// Resampling filters, as PIL's `Image.NEAREST`, `Image.BILINEAR`, `Image.BICUBIC`.
public enum ResizeFilter: String, CaseIterable {
    case nearest, bilinear, bicubic
}

extension Image {
    /// The image resampled to `width x height` exactly as PIL's `Image.resize` computes it for
    /// 8-bit images (libImaging/Resample.c): separable, horizontal pass first, each pass
    /// rounding to 8 bits; the filter support is scaled by the reduction factor when
    /// downsampling (antialiasing); coefficients in 22-bit fixed point; bicubic a = -0.5.
    /// Nearest follows PIL's affine scaling (source = floor((x + 0.5) * in / out),
    /// accumulated the way PIL accumulates it).
    public func resized(width w: Int, height h: Int, filter: ResizeFilter = .bicubic) -> Image {
        precondition(w >= 1 && h >= 1, "resized: size must be positive, got \(w) x \(h)")
        if w == width && h == height { return self }
        switch filter {
        case .nearest:
            return resizedNearest(width: w, height: h)
        case .bilinear, .bicubic:
            let f: PILFilter = filter == .bilinear ? .bilinear : .bicubic
            var out = self
            if w != width { out = out.resampledHorizontally(to: w, filter: f) }
            if h != height { out = out.resampledVertically(to: h, filter: f) }
            return out
        }
    }

    private func resizedNearest(width w: Int, height h: Int) -> Image {
        // PIL: a[0] = in / out, xo = a[0] * 0.5, then xo += a[0] per pixel; COORD truncates.
        func table(_ inSize: Int, _ outSize: Int) -> [Int] {
            let a = Double(inSize) / Double(outSize)
            var xo = a * 0.5
            var t = [Int](repeating: 0, count: outSize)
            for i in 0..<outSize {
                t[i] = min(max(xo < 0 ? 0 : Int(xo), 0), inSize - 1)
                xo += a
            }
            return t
        }
        let xs = table(width, w), ys = table(height, h)
        let c = channels
        var out = [UInt8](repeating: 0, count: w * h * c)
        pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                for y in 0..<h {
                    let srow = ys[y] * width * c, drow = y * w * c
                    for x in 0..<w {
                        let s = srow + xs[x] * c, d = drow + x * c
                        for k in 0..<c { o[d + k] = p[s + k] }
                    }
                }
            }
        }
        return Image(unchecked: w, h, c, out)
    }

    private func resampledHorizontally(to w: Int, filter: PILFilter) -> Image {
        let k = ResampleCoefficients(inSize: width, outSize: w, filter: filter)
        let c = channels
        var out = [UInt8](repeating: 0, count: w * height * c)
        pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                k.weights.withUnsafeBufferPointer { kk in
                    for y in 0..<height {
                        let srow = y * width * c, drow = y * w * c
                        for xx in 0..<w {
                            let xmin = k.start[xx], n = k.count[xx], kb = xx * k.ksize
                            for ch in 0..<c {
                                var ss = ResampleCoefficients.half
                                for x in 0..<n { ss += Int(p[srow + (xmin + x) * c + ch]) * Int(kk[kb + x]) }
                                o[drow + xx * c + ch] = ResampleCoefficients.clip8(ss)
                            }
                        }
                    }
                }
            }
        }
        return Image(unchecked: w, height, c, out)
    }

    private func resampledVertically(to h: Int, filter: PILFilter) -> Image {
        let k = ResampleCoefficients(inSize: height, outSize: h, filter: filter)
        let c = channels
        let rowLen = width * c
        var out = [UInt8](repeating: 0, count: rowLen * h)
        pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                k.weights.withUnsafeBufferPointer { kk in
                    for yy in 0..<h {
                        let ymin = k.start[yy], n = k.count[yy], kb = yy * k.ksize
                        for i in 0..<rowLen {
                            var ss = ResampleCoefficients.half
                            for y in 0..<n { ss += Int(p[(ymin + y) * rowLen + i]) * Int(kk[kb + y]) }
                            o[yy * rowLen + i] = ResampleCoefficients.clip8(ss)
                        }
                    }
                }
            }
        }
        return Image(unchecked: width, h, c, out)
    }
}

enum PILFilter {
    case bilinear, bicubic

    var support: Double { self == .bilinear ? 1 : 2 }

    func callAsFunction(_ x: Double) -> Double {
        let x = abs(x)
        switch self {
        case .bilinear:
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

/// PIL's `precompute_coeffs` + `normalize_coeffs_8bpc` for one axis.
struct ResampleCoefficients {
    static let precisionBits = 32 - 8 - 2
    static let half = 1 << (precisionBits - 1)

    let ksize: Int
    var start: [Int]     // first source index of each output
    var count: [Int]     // number of source samples of each output
    var weights: [Int32] // [outSize, ksize], fixed point

    init(inSize: Int, outSize: Int, filter: PILFilter) {
        let scale = Double(inSize) / Double(outSize)
        let filterscale = max(scale, 1)
        let support = filter.support * filterscale
        ksize = Int(support.rounded(.up)) * 2 + 1
        start = [Int](repeating: 0, count: outSize)
        count = [Int](repeating: 0, count: outSize)
        weights = [Int32](repeating: 0, count: outSize * ksize)
        var k = [Double](repeating: 0, count: ksize)
        let one = Double(1 << ResampleCoefficients.precisionBits)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let ss = 1 / filterscale
            let xmin = max(Int(center - support + 0.5), 0)       // C casts truncate toward zero
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var ww = 0.0
            for x in 0..<max(xmax, 0) {
                let w = filter((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for x in 0..<max(xmax, 0) {
                let w = ww != 0 ? k[x] / ww : k[x]
                weights[xx * ksize + x] = Int32(w < 0 ? -0.5 + w * one : 0.5 + w * one)
            }
            start[xx] = xmin
            count[xx] = max(xmax, 0)
        }
    }

    @inline(__always)
    static func clip8(_ ss: Int) -> UInt8 {
        let v = ss >> precisionBits
        return v <= 0 ? 0 : v >= 255 ? 255 : UInt8(v)
    }
}

/// The real-valued matrix (outSize x inSize, row-major) of PIL's antialiased resampling along
/// one axis: row i holds the normalised filter weights output i gives its inputs. The same
/// weights `resized` uses, before PIL's fixed-point rounding; a linear, differentiable
/// stand-in for `resized` on tensors.
public func resampleMatrix(inSize: Int, outSize: Int, filter: ResizeFilter = .bicubic) -> [Float] {
    let band = resampleBand(inSize: inSize, outSize: outSize, filter: filter)
    var m = [Float](repeating: 0, count: outSize * inSize)
    for o in 0..<outSize { for k in 0..<band.count[o] { m[o * inSize + band.start[o] + k] = band.weights[band.offset[o] + k] } }
    return m
}

/// The same weights as `resampleMatrix`, kept as a band (a few taps per output): memory in
/// proportion to the side, for images of any width.
public func resampleBand(inSize: Int, outSize: Int, filter: ResizeFilter = .bicubic) -> BandedAxis {
    let f: PILFilter = filter == .bilinear ? .bilinear : .bicubic
    let scale = Double(inSize) / Double(outSize)
    let filterscale = max(scale, 1)
    let support = f.support * filterscale
    var start: [Int] = [], count: [Int] = [], offset: [Int] = [], weights: [Float] = []
    for xx in 0..<outSize {
        let center = (Double(xx) + 0.5) * scale
        let xmin = max(Int(center - support + 0.5), 0)
        let xmax = min(Int(center + support + 0.5), inSize)
        var w = [Double](repeating: 0, count: max(xmax - xmin, 0))
        for x in xmin..<max(xmin, xmax) { w[x - xmin] = f((Double(x) - center + 0.5) / filterscale) }
        let s = w.reduce(0, +)
        start.append(xmin); count.append(w.count); offset.append(weights.count)
        weights += w.map { Float(s != 0 ? $0 / s : $0) }
    }
    return BandedAxis(inSize: inSize, outSize: outSize, start: start, count: count, offset: offset, weights: weights)
}
