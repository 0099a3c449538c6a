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

/// The colorization task: a colour photo's L in (1 channel), its ab out (2 channels), in CIE
/// Lab as the reference's colorization model; outputs are converted back to RGB with the
/// input's L, at the input's size.
public struct ColorizationTask: TaskDefinition {
    public init() {}
    public var title: String { "colorization (L in, ab out)" }
    public var items: String { "photos" }
    public func fixedChannels(_ o: DataOptions) -> (input: Int, output: Int)? { (Colorization.inputNc, Colorization.outputNc) }

    public func prepare(_ o: inout DataOptions) {
        o.mode = .single
        o.inputNc = Colorization.inputNc
        o.outputNc = Colorization.outputNc
    }

    public func validate(_ o: DataOptions) throws {
        guard o.mode == .single, o.inputNc == Colorization.inputNc, o.outputNc == Colorization.outputNc else {
            throw DatasetError.invalidOptions("colorization reads colour photos (single mode) as L (1 channel) in and ab (2 channels) out; got mode \(o.mode.rawValue), --input-nc \(o.inputNc), --output-nc \(o.outputNc)")
        }
    }

    public func trainingLayout(root: URL, phase: String, options o: DataOptions) throws -> DatasetLayout {
        try Colorization.layout(root: root, phase: phase)
    }

    /// The photo as RGB (converted into L and ab by `tensors`); a gray photo has no colour to
    /// learn (its ab are 0), which is worth saying.
    func images(_ ds: ImageDataset, _ index: Int) throws -> (Image, Image?, String, String?) {
        let (a, _, pa, pb) = try ds.directedSides(index)
        if a.channels == 1 {
            ds.conversions.record([ConversionNote(kind: .grayExpanded, text: "gray photo: no colour to learn from (its ab are 0); it is still used", path: pa)])
        }
        return (a.converted(toChannels: 3), nil, pa, pb)
    }

    func tensors(_ input: Image, _ target: Image?, _ inPath: String, _ tgtPath: String?, _ ow: Int, _ oh: Int) -> Sample {
        let (l, ab) = Colorization.split(input)
        return Sample(input: l, target: ab, inputPath: inPath, targetPath: inPath, originalWidth: ow, originalHeight: oh)
    }

    public func sample(_ ds: ImageDataset, _ index: Int, rng: inout RNG) throws -> Sample {
        var (input, _, inPath, tgtPath) = try images(ds, index)
        let (ow, oh) = (input.width, input.height)
        input = try ds.transform(input, try ds.params(width: ow, height: oh, path: inPath, rng: &rng))
        return tensors(input, nil, inPath, tgtPath, ow, oh)
    }

    public func load(_ ds: ImageDataset, _ index: Int) throws -> Sample {
        let (input, _, inPath, tgtPath) = try images(ds, index)
        return tensors(input, nil, inPath, tgtPath, input.width, input.height)
    }

    /// The colour photos of the split: the input is their L, the target their ab.
    public func heldOut(root: URL, phase: String, model o: DataOptions, mode: DatasetMode, direction: Direction,
                        maxItems: Int?) throws -> (options: DataOptions, layout: DatasetLayout) {
        (fileOptions(model: o, inputNc: Colorization.inputNc).with(maxItems: maxItems), try Colorization.layout(root: root, phase: phase))
    }

    /// Gray or colour photos: their L is the input (and kept in the output).
    public func fileOptions(model o: DataOptions, inputNc: Int) -> DataOptions {
        var d = DataOptions(mode: .single, preprocess: .none, flip: false, inputNc: Colorization.inputNc, outputNc: Colorization.outputNc)
        d.task = .colorization
        return d
    }

    public func input(image: Image, path: String, model o: DataOptions) throws -> Tensor { Colorization.split(image).l }

    /// L resampled as PIL's antialiased bicubic resize, on the real values.
    public func networkInput(_ x: Tensor, side: Int?, model o: DataOptions) throws -> Tensor {
        guard let s = side, x.shape[2] != s || x.shape[3] != s else { return x }
        return try withNoGrad {
            try separableApply(x, rows: resampleBand(inSize: x.shape[2], outSize: s), cols: resampleBand(inSize: x.shape[3], outSize: s))
        }
    }

    /// The ab of item `index` at `width` x `height` (bilinear), joined with the input's L.
    public func outputImage(_ y: Tensor, index: Int, input: Tensor, width: Int, height: Int, model o: DataOptions) throws -> Image {
        var ab = try narrow(y, dim: 0, start: index, length: 1)
        if ab.shape[2] != height || ab.shape[3] != width { ab = try withNoGrad { try resizeBilinear(ab, height: height, width: width) } }
        let l = input.shape[0] > index ? try narrow(input, dim: 0, start: index, length: 1) : input
        return try Colorization.merge(l: l, ab: ab)
    }

    /// ab (an output or target) in colour with `lightness`; L itself in gray.
    public func display(_ t: Tensor, isInput: Bool, lightness: Tensor?, index: Int, options o: DataOptions) throws -> Image {
        guard !isInput, t.shape.count == 4, t.shape[1] == Colorization.outputNc else { return try Image(tensor: t, index: index) }
        guard let l = lightness else { throw DatasetError.invalidOptions("internal: colorization output shown without its L") }
        return try outputImage(t, index: index, input: l, width: t.shape[3], height: t.shape[2], model: o)
    }

    public func fixedSizeReason(model o: DataOptions) -> String? { "colorization keeps each photo's size (its L is the input)" }
}

extension DataOptions {
    /// These options with `maxItems`.
    func with(maxItems m: Int?) -> DataOptions { var o = self; o.maxItems = m; return o }
}
