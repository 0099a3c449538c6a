import Foundation
import Perceptual
import ImageIO

/// Full-reference image metrics on 8-bit images (the values people quote).
/// L1 and MSE are on the 0-1 scale; PSNR uses a peak of 255 and is +infinity for identical
/// images; SSIM follows Wang et al. (2004): 11x11 Gaussian window with sigma 1.5,
/// K1 = 0.01, K2 = 0.03, statistics over the window-valid area, averaged over channels.
public enum ImageMetrics {
    static func check(_ a: Image, _ b: Image) throws {
        guard a.width == b.width, a.height == b.height, a.channels == b.channels else {
            throw MetricsError.mismatch("images differ in size: \(a.width)x\(a.height)x\(a.channels) vs \(b.width)x\(b.height)x\(b.channels)")
        }
    }

    /// Mean absolute difference, 0-1 scale.
    public static func l1(_ a: Image, _ b: Image) throws -> Double {
        try check(a, b)
        var s = 0
        for i in 0..<a.pixels.count { s += Swift.abs(Int(a.pixels[i]) - Int(b.pixels[i])) }
        return Double(s) / Double(a.pixels.count) / 255
    }

    /// Mean squared difference, 0-1 scale.
    public static func mse(_ a: Image, _ b: Image) throws -> Double {
        try check(a, b)
        var s = 0
        for i in 0..<a.pixels.count { let d = Int(a.pixels[i]) - Int(b.pixels[i]); s += d * d }
        return Double(s) / Double(a.pixels.count) / (255 * 255)
    }

    /// PSNR in dB from an MSE on the 0-1 scale (+infinity when the MSE is 0).
    public static func psnr(mse: Double) -> Double { mse == 0 ? .infinity : 10 * Foundation.log10(1 / mse) }

    public static func psnr(_ a: Image, _ b: Image) throws -> Double { psnr(mse: try mse(a, b)) }

    /// ITU-R BT.601 luma of an RGB image (16..235, not rounded); gray images are used as they are.
    public static func lumaY(_ a: Image) -> [Double] {
        if a.channels == 1 { return a.pixels.map(Double.init) }
        var y = [Double](repeating: 0, count: a.width * a.height)
        for i in 0..<y.count {
            let r = Double(a.pixels[3 * i]), g = Double(a.pixels[3 * i + 1]), b = Double(a.pixels[3 * i + 2])
            y[i] = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
        }
        return y
    }

    /// PSNR on the Y channel with `border` pixels cropped from each side (the super-resolution
    /// convention, border = scale).
    public static func psnrY(_ a: Image, _ b: Image, border: Int) throws -> Double {
        try check(a, b)
        guard a.width > 2 * border, a.height > 2 * border else {
            throw MetricsError.tooSmall("a \(a.width)x\(a.height) image has nothing left after cropping a \(border)-pixel border")
        }
        let ya = lumaY(a), yb = lumaY(b)
        var s = 0.0, n = 0
        for y in border..<(a.height - border) { for x in border..<(a.width - border) {
            let d = ya[y * a.width + x] - yb[y * a.width + x]; s += d * d; n += 1
        } }
        return psnr(mse: s / Double(n) / (255 * 255))
    }

    /// The normalised 1-D Gaussian of SSIM (11 taps, sigma 1.5).
    static let gaussian: [Double] = {
        let w = (-5...5).map { Foundation.exp(-Double($0 * $0) / (2 * 1.5 * 1.5)) }
        let s = w.reduce(0, +)
        return w.map { $0 / s }
    }()

    /// 'Valid' separable Gaussian filtering of a width x height plane.
    static func filter(_ p: [Double], _ width: Int, _ height: Int) -> [Double] {
        let k = gaussian.count, ow = width - k + 1, oh = height - k + 1
        var rows = [Double](repeating: 0, count: ow * height)
        for y in 0..<height { for x in 0..<ow {
            var s = 0.0
            for t in 0..<k { s += gaussian[t] * p[y * width + x + t] }
            rows[y * ow + x] = s
        } }
        var out = [Double](repeating: 0, count: ow * oh)
        for y in 0..<oh { for x in 0..<ow {
            var s = 0.0
            for t in 0..<k { s += gaussian[t] * rows[(y + t) * ow + x] }
            out[y * ow + x] = s
        } }
        return out
    }

    /// SSIM (data range 255), the mean of the SSIM map per channel, averaged over channels.
    public static func ssim(_ a: Image, _ b: Image) throws -> Double {
        try check(a, b)
        let k = gaussian.count
        guard a.width >= k, a.height >= k else {
            throw MetricsError.tooSmall("SSIM needs images of at least \(k)x\(k) pixels, got \(a.width)x\(a.height)")
        }
        let c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255)
        let n = a.width * a.height, C = a.channels
        var total = 0.0
        for c in 0..<C {
            var x = [Double](repeating: 0, count: n), y = x, xx = x, yy = x, xy = x
            for i in 0..<n {
                let u = Double(a.pixels[i * C + c]), v = Double(b.pixels[i * C + c])
                x[i] = u; y[i] = v; xx[i] = u * u; yy[i] = v * v; xy[i] = u * v
            }
            let mx = filter(x, a.width, a.height), my = filter(y, a.width, a.height)
            let sxx = filter(xx, a.width, a.height), syy = filter(yy, a.width, a.height), sxy = filter(xy, a.width, a.height)
            var s = 0.0
            for i in 0..<mx.count {
                let vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i], cov = sxy[i] - mx[i] * my[i]
                s += ((2 * mx[i] * my[i] + c1) * (2 * cov + c2)) / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2))
            }
            total += s / Double(mx.count)
        }
        return total / Double(C)
    }
}
