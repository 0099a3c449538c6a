import Foundation
import ImageIO
import Tensors

/// The colorization task: photos become (L, ab) pairs; network outputs become RGB images.
///
/// Normalisation as the reference's colorization dataset: L / 50 - 1 in [-1, 1], ab / 110.
/// The photo is resized, cropped and flipped as RGB first (`DataOptions`), then converted.
public enum Colorization {
    public static let inputNc = 1
    public static let outputNc = 2

    /// L as [1, 1, H, W] and ab as [1, 2, H, W] of an image (`Image.labTensors`; a gray
    /// image has ab within 1e-4 of 0).
    public static func split(_ image: Image) -> (l: Tensor, ab: Tensor) { image.labTensors() }

    /// The RGB image of item `index` of L [N, 1, H, W] and ab [N, 2, H, W] (`Image(l:ab:)`);
    /// errors (wrong shapes, a NaN output) become dataset errors naming the task.
    public static func merge(l: Tensor, ab: Tensor, index: Int = 0) throws -> Image {
        do { return try Image(l: l, ab: ab, index: index) } catch let e as ImageIOError {
            throw DatasetError.invalidOptions("colorization: \(e)")
        }
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
