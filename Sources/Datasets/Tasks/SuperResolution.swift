import Foundation
import ImageIO
import Tensors

/// The super-resolution task: pairs are cut from single high-resolution images, the
/// low-resolution side made by PIL-exact bicubic downscaling by `scale`.
public enum SuperResolution {
    /// A training pair: a random `patch` x `patch` crop (images smaller than the patch are
    /// enlarged first) under one of the 8 flips/rotations, and its downscale; as tensors
    /// (low resolution, high resolution). With `minDetail > 0`, a crop whose `detail` is
    /// below it is drawn again, up to `detailTries` crops in all, keeping the most detailed
    /// (flat sky and defocused backgrounds teach nothing about upscaling); with 0 the first
    /// crop is taken and the random stream is the same as without the filter.
    public static func trainingPair(_ hr: Image, patch p: Int, scale: Int, minDetail: Float = 0, rng: inout RNG) throws -> (x: Tensor, y: Tensor) {
        var img = hr.converted(toChannels: 3)
        if img.width < p || img.height < p {
            let f = Double(p) / Double(min(img.width, img.height))
            img = img.resized(width: max(p, Int((Double(img.width) * f).rounded(.up))), height: max(p, Int((Double(img.height) * f).rounded(.up))))
        }
        var best: (patch: Image, low: Image, detail: Float)?
        for _ in 0..<(minDetail > 0 ? detailTries : 1) {
            let x0 = rng.nextInt(img.width - p + 1), y0 = rng.nextInt(img.height - p + 1)
            var patch = try img.cropped(x: x0, y: y0, width: p, height: p)
            let t = rng.nextInt(8)
            if t & 1 != 0 { patch = patch.flippedHorizontally() }
            if t & 2 != 0 { patch = patch.flippedVertically() }
            if t & 4 != 0 { patch = patch.transposed() }
            let low = patch.resized(width: p / scale, height: p / scale, filter: .bicubic)
            guard minDetail > 0 else { return (low.tensor(), patch.tensor()) }
            let d = detail(patch, low: low)
            if best == nil || d > best!.detail { best = (patch, low, d) }
            if d >= minDetail { break }
        }
        return (best!.low.tensor(), best!.patch.tensor())
    }

    /// Crops drawn per training pair at most when a minimum detail is set.
    public static let detailTries = 10

    /// What an upscaler has to supply: the mean absolute difference (in [0, 1] units, over
    /// pixels and channels) between a high-resolution image and the bicubic upscale of its
    /// bicubic downscale `low`. About 0.03 for a median T91 patch of 64x64 at x4, 0.015 for
    /// a DSLR flower photo's (shallow depth of field), under 0.005 for flat regions.
    public static func detail(_ hr: Image, low: Image) -> Float {
        let up = low.resized(width: hr.width, height: hr.height, filter: .bicubic)
        var sum = 0
        for i in 0..<hr.pixels.count { sum += abs(Int(hr.pixels[i]) - Int(up.pixels[i])) }
        return Float(sum) / Float(max(1, hr.pixels.count) * 255)
    }

    /// An evaluation pair: the image cropped to a multiple of `scale` (top left) and its downscale.
    public static func evaluationPair(_ img: Image, scale s: Int) throws -> (lowRes: Image, highRes: Image) {
        let w = img.width / s * s, h = img.height / s * s
        let hr = try img.converted(toChannels: 3).cropped(x: 0, y: 0, width: w, height: h)
        return (hr.resized(width: w / s, height: h / s, filter: .bicubic), hr)
    }

    /// A centred square crop of side at most `side` (a multiple of `scale`) and its
    /// downscale, for the training page.
    public static func centredPair(_ img: Image, side maxSide: Int, scale s: Int) throws -> (lowRes: Image, highRes: Image) {
        let hr = img.converted(toChannels: 3)
        let side = min(maxSide, hr.width, hr.height) / s * s
        let crop = try hr.cropped(x: (hr.width - side) / 2, y: (hr.height - side) / 2, width: side, height: side)
        return (crop.resized(width: side / s, height: side / s, filter: .bicubic), crop)
    }
}
