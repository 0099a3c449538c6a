import Foundation
import Tensors

/// CIE Lab (D65 white, 2° observer) from and to sRGB, computed as scikit-image's
/// `skimage.color.rgb2lab` and `lab2rgb` do (same constants, thresholds and clipping; Double
/// inside). `LabTests` checks both against a scikit-image fixture (tools/make_lab_fixture.py)
/// within 1e-4.
///
/// Arrays are interleaved per pixel: r, g, b in [0, 1] and L, a, b (L in [0, 100]; a and b
/// within about [-110, 110] for sRGB colours). Their count must be a multiple of 3.
public enum LabColor {
    /// The D65 2° reference white (X, Y, Z), as scikit-image's `xyz_tristimulus_values`.
    static let white = (x: 0.95047, y: 1.0, z: 1.08883)
    /// scikit-image's `xyz_from_rgb` (row-major: X, Y, Z rows from linear r, g, b).
    static let xyzFromRGB: [Double] = [0.412453, 0.357580, 0.180423,
                                       0.212671, 0.715160, 0.072169,
                                       0.019334, 0.119193, 0.950227]
    /// Its inverse (scikit-image's `rgb_from_xyz = linalg.inv(xyz_from_rgb)`), by cofactors.
    static let rgbFromXYZ: [Double] = {
        let m = xyzFromRGB
        let (a, b, c, d, e, f, g, h, i) = (m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8])
        let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
        return [e * i - f * h, c * h - b * i, b * f - c * e,
                f * g - d * i, a * i - c * g, c * d - a * f,
                d * h - e * g, b * g - a * h, a * e - b * d].map { $0 / det }
    }()

    /// Interleaved sRGB in [0, 1] to interleaved L, a, b (`skimage.color.rgb2lab`).
    public static func rgbToLab(_ rgb: [Float]) -> [Float] {
        precondition(rgb.count % 3 == 0, "LabColor.rgbToLab: \(rgb.count) values is not a whole number of pixels")
        var out = [Float](repeating: 0, count: rgb.count)
        for i in stride(from: 0, to: rgb.count, by: 3) {
            let (l, a, b) = lab(r: Double(rgb[i]), g: Double(rgb[i + 1]), b: Double(rgb[i + 2]))
            out[i] = Float(l); out[i + 1] = Float(a); out[i + 2] = Float(b)
        }
        return out
    }

    /// Interleaved L, a, b to interleaved sRGB in [0, 1] (`skimage.color.lab2rgb`): Lab values
    /// outside the sRGB gamut are converted as scikit-image does (a negative Z is clipped to 0,
    /// the result to [0, 1]), silently.
    public static func labToRgb(_ lab: [Float]) -> [Float] {
        precondition(lab.count % 3 == 0, "LabColor.labToRgb: \(lab.count) values is not a whole number of pixels")
        var out = [Float](repeating: 0, count: lab.count)
        for i in stride(from: 0, to: lab.count, by: 3) {
            let (r, g, b) = rgb(l: Double(lab[i]), a: Double(lab[i + 1]), b: Double(lab[i + 2]))
            out[i] = Float(r); out[i + 1] = Float(g); out[i + 2] = Float(b)
        }
        return out
    }

    /// One pixel: sRGB -> linear (threshold 0.04045) -> XYZ / white -> f (threshold 0.008856,
    /// below it 7.787 t + 16/116, as scikit-image) -> L, a, b.
    @inline(__always)
    static func lab(r: Double, g: Double, b: Double) -> (Double, Double, Double) {
        func linear(_ c: Double) -> Double { c > 0.04045 ? pow((c + 0.055) / 1.055, 2.4) : c / 12.92 }
        func f(_ t: Double) -> Double { t > 0.008856 ? cbrt(t) : 7.787 * t + 16.0 / 116.0 }
        let (r, g, b) = (linear(r), linear(g), linear(b))
        let m = xyzFromRGB
        let fx = f((m[0] * r + m[1] * g + m[2] * b) / white.x)
        let fy = f((m[3] * r + m[4] * g + m[5] * b) / white.y)
        let fz = f((m[6] * r + m[7] * g + m[8] * b) / white.z)
        return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))
    }

    /// One pixel: L, a, b -> f values (negative fz clipped to 0) -> f^-1 (threshold 0.2068966)
    /// -> XYZ * white -> linear sRGB -> companded (threshold 0.0031308) -> clipped to [0, 1].
    @inline(__always)
    static func rgb(l: Double, a: Double, b: Double) -> (Double, Double, Double) {
        func fInverse(_ t: Double) -> Double { t > 0.2068966 ? t * t * t : (t - 16.0 / 116.0) / 7.787 }
        func srgb(_ c: Double) -> Double {
            let v = c > 0.0031308 ? 1.055 * pow(c, 1 / 2.4) - 0.055 : 12.92 * c
            return min(max(v, 0), 1)
        }
        let fy = (l + 16) / 116
        let fx = a / 500 + fy
        let fz = max(fy - b / 200, 0)
        let x = fInverse(fx) * white.x, y = fInverse(fy) * white.y, z = fInverse(fz) * white.z
        let m = rgbFromXYZ
        return (srgb(m[0] * x + m[1] * y + m[2] * z),
                srgb(m[3] * x + m[4] * y + m[5] * z),
                srgb(m[6] * x + m[7] * y + m[8] * z))
    }

    /// The colorization normalisation of the pix2pix reference (its `ColorizationDataset` and
    /// `ColorizationModel.lab2rgb`): L / 50 - 1 (so [0, 100] -> [-1, 1]) and a / 110, b / 110
    /// (sRGB colours give [-0.79, 0.90] for a and [-0.99, 0.86] for b).
    public static let lScale = 50.0, abScale = 110.0
}

// MARK: - Colorization tensors

extension Image {
    /// The image in Lab, normalised as the pix2pix reference's colorization dataset:
    /// `l` is `[1, 1, H, W]` with L / 50 - 1 in [-1, 1], `ab` is `[1, 2, H, W]` (a then b
    /// planes) with a / 110, b / 110 (within [-1, 1]). Pixels are read as `x / 255`; a gray
    /// image is taken as r = g = b (its ab are then within 1e-4 of 0, not exactly 0, as in
    /// scikit-image, because the D65 white is not exactly the sRGB matrix's white).
    /// The layout is `tensor()`'s: NCHW, row-major planes.
    public func labTensors() -> (l: Tensor, ab: Tensor) {
        let hw = width * height
        var l = [Float](repeating: 0, count: hw), ab = [Float](repeating: 0, count: 2 * hw)
        pixels.withUnsafeBufferPointer { p in
            for i in 0..<hw {
                let r: Double, g: Double, b: Double
                if channels == 1 {
                    r = Double(p[i]) / 255; g = r; b = r
                } else {
                    r = Double(p[3 * i]) / 255; g = Double(p[3 * i + 1]) / 255; b = Double(p[3 * i + 2]) / 255
                }
                let (lv, av, bv) = LabColor.lab(r: r, g: g, b: b)
                l[i] = Float(lv / LabColor.lScale - 1)
                ab[i] = Float(av / LabColor.abScale)
                ab[hw + i] = Float(bv / LabColor.abScale)
            }
        }
        let lt = Tensor(zeros: [1, 1, height, width]), abt = Tensor(zeros: [1, 2, height, width])
        lt.data = l
        abt.data = ab
        return (lt, abt)
    }

    /// The RGB image of item `index` of `l` `[N, 1, H, W]` and `ab` `[M, 2, H, W]`, normalised
    /// as `labTensors()`: L = (l + 1) * 50, a, b = ab * 110, converted as `LabColor.labToRgb`
    /// (out-of-range values are not clamped first, as in the reference; the colours are
    /// clipped to [0, 1]), then `x * 255` rounded to nearest as `Image(tensor:)`. Throws on
    /// other shapes, an index out of range and non-finite values.
    public init(l: Tensor, ab: Tensor, index: Int = 0) throws {
        guard l.rank == 4, ab.rank == 4, l.shape[1] == 1, ab.shape[1] == 2,
              l.shape[2] == ab.shape[2], l.shape[3] == ab.shape[3], l.shape[2] >= 1, l.shape[3] >= 1 else {
            throw ImageIOError.invalidArgument(
                "Lab tensors must be L [N, 1, H, W] and ab [N, 2, H, W] of one size, got \(l.shape) and \(ab.shape)")
        }
        guard index >= 0, index < l.shape[0], index < ab.shape[0] else {
            throw ImageIOError.invalidArgument("image index \(index) is out of range for Lab tensors \(l.shape) and \(ab.shape)")
        }
        let h = l.shape[2], w = l.shape[3], hw = h * w
        let l0 = index * hw, ab0 = index * 2 * hw
        var px = [UInt8](repeating: 0, count: 3 * hw)
        var bad: Int?
        l.data.withUnsafeBufferPointer { lp in
            ab.data.withUnsafeBufferPointer { abp in
                for i in 0..<hw {
                    let lv = lp[l0 + i], av = abp[ab0 + i], bv = abp[ab0 + hw + i]
                    guard lv.isFinite, av.isFinite, bv.isFinite else { bad = bad ?? i; continue }
                    let (r, g, b) = LabColor.rgb(l: (Double(lv) + 1) * LabColor.lScale,
                                                 a: Double(av) * LabColor.abScale, b: Double(bv) * LabColor.abScale)
                    px[3 * i] = UInt8((r * 255).rounded())
                    px[3 * i + 1] = UInt8((g * 255).rounded())
                    px[3 * i + 2] = UInt8((b * 255).rounded())
                }
            }
        }
        if let bad {
            throw ImageIOError.invalidArgument(
                "Lab tensors \(l.shape) and \(ab.shape), item \(index): non-finite value at pixel (\(bad % w), \(bad / w))")
        }
        self.init(unchecked: w, h, 3, px)
    }
}
