import Foundation
import Tensors
import ImageIO

/// How label maps are stored: PNGs of class ids (CamVid), or colour-coded images quantised to
/// a palette (the facades B side, JPEG-compressed).
public enum LabelFormat: String, CaseIterable, Codable, Sendable {
    case ids, palette
}

/// Label maps as class ids, one-hot tensors and colour images.
public enum LayoutCodec {
    /// Class ids (row-major) of a label image.
    public static func ids(_ img: Image, format: LabelFormat, numClasses: Int, palette: [[Int]], path: String) throws -> [Int] {
        let n = img.width * img.height
        switch format {
        case .ids:
            guard img.channels == 1 else {
                throw DatasetError.layout(path: path, reason: "a class-id label map must be a single-channel image (got \(img.channels) channels); use --label-format palette for colour-coded labels")
            }
            var out = [Int](repeating: 0, count: n)
            for i in 0..<n {
                let v = Int(img.pixels[i])
                guard v < numClasses else {
                    throw DatasetError.layout(path: path, reason: "pixel \(i % img.width),\(i / img.width) has class \(v), but --num-classes is \(numClasses)")
                }
                out[i] = v
            }
            return out
        case .palette:
            guard palette.count == numClasses else { throw DatasetError.layout(path: path, reason: "no palette of \(numClasses) colours") }
            let rgb = img.converted(toChannels: 3)
            return (0..<n).map { i in nearest(Int(rgb.pixels[3 * i]), Int(rgb.pixels[3 * i + 1]), Int(rgb.pixels[3 * i + 2]), palette) }
        }
    }

    static func nearest(_ r: Int, _ g: Int, _ b: Int, _ palette: [[Int]]) -> Int {
        var best = 0, bd = Int.max
        for (k, c) in palette.enumerated() {
            let d = (r - c[0]) * (r - c[0]) + (g - c[1]) * (g - c[1]) + (b - c[2]) * (b - c[2])
            if d < bd { bd = d; best = k }
        }
        return best
    }

    /// Resizes class ids with nearest-neighbour sampling (PIL's nearest).
    public static func resize(_ ids: [Int], width: Int, height: Int, toWidth w: Int, toHeight h: Int) throws -> [Int] {
        if width == w && height == h { return ids }
        let img = try Image(width: width, height: height, channels: 1, pixels: ids.map { UInt8(min($0, 255)) })
        return img.resized(width: w, height: h, filter: .nearest).pixels.map(Int.init)
    }

    /// A [1, K, H, W] one-hot tensor.
    public static func oneHot(_ ids: [Int], width: Int, height: Int, numClasses k: Int) throws -> Tensor {
        guard ids.count == width * height else {
            throw DatasetError.layoutOption(flag: "--width/--height", reason: "a label map of \(ids.count) pixels is not \(width) x \(height)")
        }
        var d = [Float](repeating: 0, count: k * width * height)
        for (i, c) in ids.enumerated() {
            guard c >= 0 && c < k else { throw DatasetError.layoutOption(flag: "--num-classes", reason: "class \(c) at pixel \(i) is not below \(k)") }
            d[c * width * height + i] = 1
        }
        return try Tensor(shape: [1, k, height, width], data: d)
    }

    /// Colours for display: the fitted palette, or a fixed distinct set.
    public static func colors(_ palette: [[Int]], numClasses k: Int) -> [[Int]] {
        if palette.count == k { return palette }
        let base: [[Int]] = [[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222], [128, 128, 0],
                             [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0], [0, 128, 192], [0, 0, 0]]
        return (0..<k).map { i in i < base.count ? base[i] : [(i * 67) % 256, (i * 131) % 256, (i * 199) % 256] }
    }

    public static func colorize(_ ids: [Int], width: Int, height: Int, palette: [[Int]], numClasses k: Int) throws -> Image {
        let c = colors(palette, numClasses: k)
        var px = [UInt8](repeating: 0, count: ids.count * 3)
        for (i, v) in ids.enumerated() { for j in 0..<3 { px[3 * i + j] = UInt8(c[v][j]) } }
        return try Image(width: width, height: height, channels: 3, pixels: px)
    }

    /// k-means (k-means++ start, 15 Lloyd steps) on pixels of colour label images: the palette
    /// for `--label-format palette`, ordered by frequency.
    public static func fitPalette(_ images: [Image], numClasses k: Int, rng: inout RNG) throws -> [[Int]] {
        var pts: [[Double]] = []
        for img in images {
            let rgb = img.converted(toChannels: 3)
            let n = rgb.width * rgb.height
            for _ in 0..<min(n, 4000) {
                let i = rng.nextInt(n)
                pts.append([Double(rgb.pixels[3 * i]), Double(rgb.pixels[3 * i + 1]), Double(rgb.pixels[3 * i + 2])])
            }
        }
        guard pts.count >= k else { throw DatasetError.layoutOption(flag: "--num-classes", reason: "too few label pixels to fit \(k) colours") }
        func d2(_ a: [Double], _ b: [Double]) -> Double { (0..<3).map { (a[$0] - b[$0]) * (a[$0] - b[$0]) }.reduce(0, +) }
        var centers = [pts[rng.nextInt(pts.count)]]
        while centers.count < k {
            let w = pts.map { p in centers.map { d2(p, $0) }.min()! }
            let total = w.reduce(0, +)
            var r = rng.nextDouble() * total, pick = 0
            for (i, v) in w.enumerated() { r -= v; if r <= 0 { pick = i; break } }
            centers.append(pts[pick])
        }
        var counts = [Int](repeating: 0, count: k)
        for _ in 0..<15 {
            var sums = [[Double]](repeating: [0, 0, 0], count: k)
            counts = [Int](repeating: 0, count: k)
            for p in pts {
                var best = 0, bd = Double.infinity
                for (j, c) in centers.enumerated() { let v = d2(p, c); if v < bd { bd = v; best = j } }
                counts[best] += 1
                for t in 0..<3 { sums[best][t] += p[t] }
            }
            for j in 0..<k where counts[j] > 0 { centers[j] = sums[j].map { $0 / Double(counts[j]) } }
        }
        let order = (0..<k).sorted { counts[$0] > counts[$1] }
        return order.map { centers[$0].map { Int($0.rounded()) } }
    }
}
