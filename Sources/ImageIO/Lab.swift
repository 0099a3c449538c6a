import Foundation

/// CIE Lab (D65 white, 2° observer) from and to sRGB, as scikit-image's `rgb2lab` and
/// `lab2rgb` compute it (checked against them within 1e-4 by `LabTests`, fixture from
/// `tools/make_lab_fixture.py`). Arrays are interleaved: r, g, b in [0, 1] / L, a, b.
public enum LabColor {
    /// The D65 reference white, X and Z (Y = 1), as scikit-image.
    static let white = (x: 0.95047, y: 1.0, z: 1.08883)
    /// scikit-image's `xyz_from_rgb`, and its inverse (computed, as scikit-image inverts it).
    static let xyzFromRGB: [Double] = [0.412453, 0.357580, 0.180423, 0.212671, 0.715160, 0.072169, 0.019334, 0.119193, 0.950227]
    static let rgbFromXYZ: [Double] = {
        let m = xyzFromRGB
        let (a, b, c, d, e, f, g, h, i) = (m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8])
        let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
        return [e * i - f * h, c * h - b * i, b * f - c * e,
                f * g - d * i, a * i - c * g, c * d - a * f,
                d * h - e * g, b * g - a * h, a * e - b * d].map { $0 / det }
    }()

    /// sRGB -> linear -> XYZ -> Lab, per pixel (Double inside).
    public static func rgbToLab(_ rgb: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: rgb.count)
        var i = 0
        while i + 2 < rgb.count {
            func lin(_ c: Float) -> Double {
                let v = Double(c)
                return v > 0.04045 ? pow((v + 0.055) / 1.055, 2.4) : v / 12.92
            }
            let r = lin(rgb[i]), g = lin(rgb[i + 1]), b = lin(rgb[i + 2])
            let m = xyzFromRGB
            let x = (m[0] * r + m[1] * g + m[2] * b) / white.x
            let y = (m[3] * r + m[4] * g + m[5] * b) / white.y
            let z = (m[6] * r + m[7] * g + m[8] * b) / white.z
            func f(_ t: Double) -> Double { t > 0.008856 ? cbrt(t) : 7.787 * t + 16.0 / 116.0 }
            let fx = f(x), fy = f(y), fz = f(z)
            out[i] = Float(116 * fy - 16)
            out[i + 1] = Float(500 * (fx - fy))
            out[i + 2] = Float(200 * (fy - fz))
            i += 3
        }
        return out
    }

    /// Lab -> XYZ (negative Z clipped to 0) -> linear -> sRGB, clipped to [0, 1].
    public static func labToRgb(_ lab: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: lab.count)
        var i = 0
        while i + 2 < lab.count {
            let l = Double(lab[i]), a = Double(lab[i + 1]), bb = Double(lab[i + 2])
            let fy = (l + 16) / 116
            let fx = a / 500 + fy
            var fz = fy - bb / 200
            if fz < 0 { fz = 0 }
            func finv(_ t: Double) -> Double { t > 0.2068966 ? t * t * t : (t - 16.0 / 116.0) / 7.787 }
            let x = finv(fx) * white.x, y = finv(fy) * white.y, z = finv(fz) * white.z
            let m = rgbFromXYZ
            let r = m[0] * x + m[1] * y + m[2] * z
            let g = m[3] * x + m[4] * y + m[5] * z
            let b = m[6] * x + m[7] * y + m[8] * z
            func gamma(_ c: Double) -> Double { c > 0.0031308 ? 1.055 * pow(c, 1 / 2.4) - 0.055 : 12.92 * c }
            out[i] = Float(min(max(gamma(r), 0), 1))
            out[i + 1] = Float(min(max(gamma(g), 0), 1))
            out[i + 2] = Float(min(max(gamma(b), 0), 1))
            i += 3
        }
        return out
    }
}
