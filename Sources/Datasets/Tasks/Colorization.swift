import Foundation
import ImageIO
import Tensors

/// What a model is conditioned on and what it produces, with the data preparation and the
/// output conversion that go with it. Methods (pix2pix, cIMLE, ...) train on any task whose
/// channels they take.
/// - translation: an image in, an image out (the pairs of an aligned or paired dataset).
/// - colorization: the lightness L of a colour photo in (1 channel), its colour ab out
///   (2 channels), in CIE Lab as the reference's colorization model; outputs are converted
///   back to RGB with the input's L.
public enum ImageTask: String, CaseIterable, Codable, Sendable {
    case translation, colorization
}

/// The colorization task: photos become (L, ab) pairs; network outputs become RGB images.
///
/// Normalisation as the reference's colorization dataset: L / 50 - 1 in [-1, 1], ab / 110.
/// The photo is resized, cropped and flipped as RGB first (`DataOptions`), then converted.
public enum Colorization {
    public static let inputNc = 1
    public static let outputNc = 2

    /// L as [1, 1, H, W] and ab as [1, 2, H, W] of an image (gray images have ab = 0).
    public static func split(_ image: Image) -> (l: Tensor, ab: Tensor) {
        let rgb = image.converted(toChannels: 3)
        let hw = rgb.width * rgb.height
        let lab = LabColor.rgbToLab(rgb.pixels.map { Float($0) / 255 })
        var l = [Float](repeating: 0, count: hw), ab = [Float](repeating: 0, count: 2 * hw)
        for i in 0..<hw {
            l[i] = lab[3 * i] / 50 - 1
            ab[i] = lab[3 * i + 1] / 110
            ab[hw + i] = lab[3 * i + 2] / 110
        }
        let lt = Tensor(zeros: [1, 1, rgb.height, rgb.width]), abt = Tensor(zeros: [1, 2, rgb.height, rgb.width])
        lt.data = l
        abt.data = ab
        return (lt, abt)
    }

    /// The RGB image of item `index` of L [N, 1, H, W] and ab [N, 2, H, W] (normalised as
    /// `split`); L is clamped to [0, 100] before the conversion.
    public static func merge(l: Tensor, ab: Tensor, index: Int = 0) throws -> Image {
        guard l.rank == 4, ab.rank == 4, l.shape[1] == 1, ab.shape[1] == 2, l.shape[2...] == ab.shape[2...],
              index < l.shape[0], index < ab.shape[0] else {
            throw DatasetError.invalidOptions("colorization: L \(l.shape) and ab \(ab.shape) do not make an image")
        }
        let h = l.shape[2], w = l.shape[3], hw = h * w
        var lab = [Float](repeating: 0, count: 3 * hw)
        let lb = index * hw, ab0 = index * 2 * hw
        for i in 0..<hw {
            lab[3 * i] = min(max((l.data[lb + i] + 1) * 50, 0), 100)
            lab[3 * i + 1] = ab.data[ab0 + i] * 110
            lab[3 * i + 2] = ab.data[ab0 + hw + i] * 110
        }
        let rgb = LabColor.labToRgb(lab)
        if let bad = rgb.firstIndex(where: { $0.isNaN }) {
            throw DatasetError.invalidOptions("colorization: the network's output is NaN at pixel \(bad / 3)")
        }
        return try Image(width: w, height: h, channels: 3, pixels: rgb.map { UInt8((min(max($0, 0), 1) * 255).rounded()) })
    }

    /// The gray image of L (item `index`), for pages.
    public static func lightness(_ l: Tensor, index: Int = 0) throws -> Image { try Image(tensor: l, index: index) }

    /// Where the colour photos of a colorization dataset are: `root/<phase>/` when it exists;
    /// else `root/<phase>A/` and `root/<phase>B/` (an unpaired set: both domains are photos);
    /// else `root` itself (searched recursively).
    public static func layout(root: URL, phase: String) throws -> DatasetLayout {
        let fm = FileManager.default
        func isDir(_ u: URL) -> Bool { var d: ObjCBool = false; return fm.fileExists(atPath: u.path, isDirectory: &d) && d.boolValue }
        guard isDir(root) else { throw DatasetError.missingRoot(path: root.path) }
        let split = root.appendingPathComponent(phase)
        if isDir(split) { return DatasetLayout(mode: .single, folder: split, detected: true) }
        let a = root.appendingPathComponent(phase + "A"), b = root.appendingPathComponent(phase + "B")
        if isDir(a) || isDir(b) {
            var l = DatasetLayout(mode: .single, folder: isDir(a) ? a : b, detected: true)
            if isDir(a) && isDir(b) { l.others = [b] }
            return l
        }
        return DatasetLayout(mode: .single, folder: root, detected: false)
    }
}
